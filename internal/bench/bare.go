package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/rule"
	"golang.org/x/sys/unix"
)

// The audit-bare row measures what the kernel's audit records cost the
// workload when the reader costs nothing: a reader that becomes the audit
// daemon, loads the auditd row's rule plus the two exclusions auperf's
// lean mode loads (PROCTITLE, EOE), and discards every record after
// counting it. auperf-audit cannot be faster than this row (it asks the
// kernel for the same records); the gap between the two is what auperf's
// reading, decoding and writing cost the workload.
//
// The reader runs as a child process (the bench's own binary with
// BareReaderArg), so that its CPU and RSS are measured like every tracer's.

// BareReaderArg is the first argument that makes the bench binary run the
// bare audit reader (see BareReaderMain).
const BareReaderArg = "bare-audit-reader"

// exitNotAvailable is the bare reader's exit status when the host cannot
// run it (audit locked, another daemon): the row is skipped, not failed.
const exitNotAvailable = 3

// bareCounts is what the bare reader writes when it stops.
type bareCounts struct {
	Records  uint64 `json:"records"`  // every record read
	Captured uint64 `json:"captured"` // SYSCALL records carrying AuditKey
	Lost     uint64 `json:"lost"`     // the kernel's lost counter across the run
}

// runAuditBare runs the workload under the bare audit reader.
func (b *bench) runAuditBare(ctx context.Context, run *Run, base, summary string) (string, error) {
	if b.auditBefore != nil {
		st, err := b.auditState()
		if err != nil {
			return "", err
		}
		if pid := statusInt(st, "pid"); pid != 0 {
			return "", notAvailable{fmt.Sprintf("an audit daemon (pid %d) is running: the bare reader must be the daemon", pid)}
		}
	}
	ready, counts := base+".ready", base+".counts.json"
	os.Remove(ready)
	os.Remove(counts)
	defer os.Remove(ready)
	defer os.Remove(counts)
	args := []string{b.cfg.Self, BareReaderArg, "-exe", b.workloadExe(), "-ready", ready, "-counts", counts, "-backlog", strconv.Itoa(b.bareBacklog())}
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmdline := shellJoin(args)
	p, err := startTracer(cmd, false)
	if err != nil {
		return cmdline, err
	}
	stop := p.stopOnce(run, func(err error) error {
		if p.cmd.ProcessState != nil && p.cmd.ProcessState.ExitCode() == exitNotAvailable {
			return notAvailable{lastLine(stderr.String())}
		}
		if err != nil {
			return fmt.Errorf("bare reader: %v: %s", err, lastLine(stderr.String()))
		}
		return nil
	})
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case <-p.exited:
			return cmdline, stop()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return cmdline, fmt.Errorf("bare reader not ready within 10s: %s", lastLine(stderr.String()))
		}
	}
	_, werr := b.runWorkload(ctx, summary)
	if err := stop(); err != nil {
		return cmdline, err
	}
	if werr != nil {
		return cmdline, werr
	}
	if _, err := readSummary(run, summary); err != nil {
		return cmdline, err
	}
	data, err := os.ReadFile(counts)
	if err != nil {
		return cmdline, fmt.Errorf("bare reader counts: %w", err)
	}
	var c bareCounts
	if err := json.Unmarshal(data, &c); err != nil {
		return cmdline, fmt.Errorf("bare reader counts: %w", err)
	}
	run.Count = Count{Captured: c.Captured, Lost: c.Lost}
	return cmdline, nil
}

// bareBacklog is the backlog_limit of the bare reader: the auditd row's,
// or auperf's default as the daemon when that is left as found.
func (b *bench) bareBacklog() int {
	if b.cfg.AuditdBacklog > 0 {
		return b.cfg.AuditdBacklog
	}
	return 8192
}

// BareReaderMain runs the bare audit reader (args after BareReaderArg) until
// SIGTERM or SIGINT and returns the exit status.
func BareReaderMain(args []string) int {
	fs := flag.NewFlagSet(BareReaderArg, flag.ContinueOnError)
	exe := fs.String("exe", "", "audit the syscalls of this executable (required)")
	ready := fs.String("ready", "", "create this file once the rules are loaded (required)")
	counts := fs.String("counts", "", "write the counts here as JSON on exit (required)")
	backlog := fs.Uint("backlog", 8192, "audit backlog_limit while reading")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *exe == "" || *ready == "" || *counts == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, BareReaderArg+": -exe, -ready and -counts are required")
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	c, err := bareRead(ctx, *exe, uint32(*backlog), func() error { return os.WriteFile(*ready, nil, 0o600) })
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", BareReaderArg, err)
		var na notAvailable
		if errors.As(err, &na) {
			return exitNotAvailable
		}
		return 1
	}
	data, _ := json.Marshal(c)
	if err := os.WriteFile(*counts, data, 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", BareReaderArg, err)
		return 1
	}
	return 0
}

// bareRules are the wire rules of the bare reader: the auditd row's rule
// for exe, and the lean-mode exclusions.
func bareRules(exe string) (watch []byte, exclusions [][]byte, err error) {
	field := func(lhs, rhs string) rule.FilterSpec {
		return rule.FilterSpec{Type: rule.ValueFilterType, LHS: lhs, Comparator: "=", RHS: rhs}
	}
	build := func(r *rule.SyscallRule) ([]byte, error) {
		wf, err := rule.Build(r)
		if err != nil {
			return nil, fmt.Errorf("audit rule %+v: %w", r, err)
		}
		return []byte(wf), nil
	}
	if watch, err = build(&rule.SyscallRule{
		Type: rule.AppendSyscallRuleType, List: "exit", Action: "always",
		Filters:  []rule.FilterSpec{field("arch", "b64"), field("exe", exe)},
		Syscalls: Syscalls, Keys: []string{AuditKey},
	}); err != nil {
		return nil, nil, err
	}
	for _, t := range []string{"PROCTITLE", "EOE"} {
		r, err := build(&rule.SyscallRule{
			Type: rule.AppendSyscallRuleType, List: "exclude", Action: "never",
			Filters: []rule.FilterSpec{field("msgtype", t)},
		})
		if err != nil {
			return nil, nil, err
		}
		exclusions = append(exclusions, r)
	}
	return watch, exclusions, nil
}

// bareRead is the bare reader: it takes the audit pid, enables audit and
// sets backlog_limit where needed, loads its rules, calls ready, reads until
// ctx ends, and then puts back everything it changed (rules, settings,
// pid), in the order that logs nothing to the kernel log.
func bareRead(ctx context.Context, exe string, backlog uint32, ready func() error) (counts bareCounts, err error) {
	watch, exclusions, err := bareRules(exe)
	if err != nil {
		return counts, err
	}
	ctl, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return counts, err
	}
	defer ctl.Close()
	orig, err := ctl.GetStatus()
	if err != nil {
		return counts, fmt.Errorf("audit status: %w", err)
	}
	switch {
	case orig.Enabled == 2:
		return counts, notAvailable{"audit is locked (enabled 2): no rules can be added"}
	case orig.PID != 0:
		return counts, notAvailable{fmt.Sprintf("an audit daemon (pid %d) is running", orig.PID)}
	}

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return counts, fmt.Errorf("audit socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return counts, fmt.Errorf("bind audit socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)

	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The pid is set from the reading socket: kauditd sends to the port
	// that registered.
	if err := bareSetPID(fd, uint32(os.Getpid())); err != nil {
		return counts, err
	}
	defer func() {
		keep(bareSetPID(fd, 0))
		err = errors.Join(append([]error{err}, errs...)...)
	}()
	if st, err := ctl.GetStatus(); err != nil || st.PID != uint32(os.Getpid()) {
		return counts, fmt.Errorf("did not become the audit daemon (status %+v, %v)", st, err)
	}
	// Restored while still the daemon, then the backlog is read empty:
	// kauditd prints to the kernel log what it cannot send to a daemon.
	defer func() {
		if orig.Enabled == 0 {
			keep(ctl.SetEnabled(false, libaudit.WaitForReply))
		}
		if backlog != orig.BacklogLimit {
			keep(ctl.SetBacklogLimit(orig.BacklogLimit, libaudit.WaitForReply))
		}
		bareDrain(fd, ctl, &counts, time.Second)
	}()
	if orig.Enabled == 0 {
		if err := ctl.SetEnabled(true, libaudit.WaitForReply); err != nil {
			return counts, fmt.Errorf("enable audit: %w", err)
		}
	}
	if backlog != orig.BacklogLimit {
		if err := ctl.SetBacklogLimit(backlog, libaudit.WaitForReply); err != nil {
			return counts, fmt.Errorf("backlog_limit: %w", err)
		}
	}
	loaded, err := ctl.GetRules()
	if err != nil {
		return counts, fmt.Errorf("list audit rules: %w", err)
	}
	var added [][]byte
	defer func() {
		for _, r := range slices.Backward(added) {
			keep(ctl.DeleteRule(r))
		}
	}()
	for _, r := range append([][]byte{watch}, exclusions...) {
		if slices.ContainsFunc(loaded, func(o []byte) bool { return bytes.Equal(o, r) }) {
			if bytes.Equal(r, watch) {
				return counts, fmt.Errorf("a rule with key %s is already loaded (another bench?)", AuditKey)
			}
			continue // somebody's identical exclusion: neither added nor deleted
		}
		if err := ctl.AddRule(r); err != nil {
			return counts, fmt.Errorf("add audit rule: %w", err)
		}
		added = append(added, r)
	}
	if err := ready(); err != nil {
		return counts, err
	}

	bareLoop(ctx, fd, &counts)
	// No new records, then what the kernel still holds.
	if err := ctl.DeleteRule(watch); err != nil {
		return counts, fmt.Errorf("delete audit rule: %w", err)
	}
	added = slices.DeleteFunc(added, func(r []byte) bool { return bytes.Equal(r, watch) })
	bareDrain(fd, ctl, &counts, 5*time.Second)
	if end, err := ctl.GetStatus(); err == nil {
		counts.Lost = uint64(end.Lost - orig.Lost) // 32-bit counter: wrap-safe
	}
	return counts, nil
}

// bareSetPID registers (pid != 0) or releases the audit daemon from fd.
func bareSetPID(fd int, pid uint32) error {
	// struct audit_status up to pid: mask, enabled, failure, pid.
	var st [10]uint32
	st[0], st[3] = uint32(libaudit.AuditStatusPID), pid
	msg := make([]byte, unix.NLMSG_HDRLEN+len(st)*4)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], uint16(libaudit.AuditSet))
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST)
	for i, v := range st {
		binary.NativeEndian.PutUint32(msg[unix.NLMSG_HDRLEN+4*i:], v)
	}
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("set audit pid %d: %w", pid, err)
	}
	return nil
}

// bareBatch is one recvmmsg's worth of message buffers.
type bareBatch struct {
	buf  []byte
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
}

const bareSlot = unix.NLMSG_HDRLEN + libaudit.AuditMessageMaxLength

func newBareBatch() *bareBatch {
	const n = 64
	b := &bareBatch{buf: make([]byte, n*bareSlot), msgs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n)}
	for i := range b.msgs {
		b.iovs[i].Base = &b.buf[i*bareSlot]
		b.iovs[i].SetLen(bareSlot)
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
	}
	return b
}

var bareKey = []byte(`key="` + AuditKey + `"`)

// drain reads what the socket holds without waiting and counts it; it
// reports whether it read anything.
func (b *bareBatch) drain(fd int, c *bareCounts) bool {
	read := false
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 || n == 0 {
			return read
		}
		read = true
		for i := range int(n) {
			m := b.buf[i*bareSlot : i*bareSlot+int(b.msgs[i].Len)]
			if len(m) < unix.NLMSG_HDRLEN {
				continue
			}
			c.Records++
			if binary.NativeEndian.Uint16(m[4:]) == 1300 && bytes.Contains(m[unix.NLMSG_HDRLEN:], bareKey) { // AUDIT_SYSCALL
				c.Captured++
			}
		}
		if int(n) < len(b.msgs) {
			return read
		}
	}
}

// barePause is the pause after a drain, auperf's audit source's
// (auditsrc's drainPause): the floor reads the way auperf does.
const barePause = 5 * time.Millisecond

// bareLoop reads like auperf's audit source does (poll, drain with
// recvmmsg, pause barePause after reading) until ctx ends.
func bareLoop(ctx context.Context, fd int, c *bareCounts) {
	b := newBareBatch()
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, 100); n > 0 && b.drain(fd, c) {
			time.Sleep(barePause)
		}
	}
}

// bareDrain reads until the socket is quiet and the kernel's backlog is
// empty, or limit.
func bareDrain(fd int, ctl *libaudit.AuditClient, c *bareCounts, limit time.Duration) {
	b := newBareBatch()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		if b.drain(fd, c) {
			continue
		}
		if st, err := ctl.GetStatus(); err != nil || st.Backlog == 0 {
			b.drain(fd, c)
			return
		}
		time.Sleep(barePause)
	}
}
