package auditsrc

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

var _ event.Source = (*Source)(nil)

// ErrLocked is returned when audit is locked (enabled=2) and auperf's
// rules are not already loaded: nothing can be added until a reboot.
var ErrLocked = errors.New("audit is locked (enabled=2, auditctl -e 2) and auperf's rules are not loaded: rules cannot be added until reboot; load them before locking (see `auperf events` for the rules)")

// Source reads syscall events from the kernel audit subsystem.
type Source struct {
	cfg Config

	never  []string // "-a never,exit ..." per arch: our own pid
	always []string // "-a always,exit ..." rules

	want    [4][]bool // per decode.Arch: syscall numbers we trace
	mmapFd  [4]int32  // per arch: the mmap whose fd is argument 4 (-1: none)
	oldMmap int32     // i386's mmap (old_mmap: one pointer to its arguments; -1: none)

	all       bool        // every syscall (decoding a log without --events)
	rest      filter.Spec // what the rules could not express
	needMatch bool
	self      int32

	warnings []string
	ready    chan struct{}

	mu      sync.Mutex
	sess    *session      // set by Attach
	closed  bool          // Close was called: the source must not Run
	session atomic.Uint32 // the command's audit session (StartCommand)

	c counters
}

type counters struct {
	records, emitted, filtered, notOurs, lostKernel, lostBacklog, lostGap, lostIncomplete,
	enobufs, late, lean, leanEnded atomic.Uint64
}

// New validates cfg and reads the kernel's audit state (without changing
// it) so that a source that cannot work is refused before anything is
// attached: unknown syscalls, no permission, audit locked without our rules.
func New(cfg Config) (*Source, error) {
	cfg.fill()
	s := &Source{cfg: cfg, self: int32(os.Getpid()), ready: make(chan struct{})}
	s.initMmap()
	native := decode.NativeArch()
	for _, ev := range slices.Concat(cfg.Events, cfg.B32Events) {
		if _, ok := decode.SyscallNumber(native, ev); !ok {
			return nil, fmt.Errorf("unknown syscall %q for %s", ev, native)
		}
	}
	if err := s.buildRules(); err != nil {
		return nil, err
	}

	st, err := ReadState()
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("audit source needs root (CAP_AUDIT_CONTROL): %w", err)
		}
		return nil, err
	}
	if st.Enabled == 2 && !s.rulesLoaded(st.Rules) {
		return nil, ErrLocked
	}
	s.warnings = stateWarnings(st, cfg)
	return s, nil
}

// stateWarnings says what a user must know about the audit state found.
func stateWarnings(st State, cfg Config) []string {
	var w []string
	if st.Enabled == 0 && !cfg.Filter.Tree {
		// (A traced command is forked after we enable audit: it is seen.)
		w = append(w, "audit was disabled: processes started before audit was first enabled on this boot are never audited, so the audit source cannot see them; boot with audit=1 on the kernel command line to see every process")
	}
	if st.RateLimit != 0 {
		w = append(w, fmt.Sprintf("audit rate_limit is %d records/s: the kernel drops records beyond it (reported as lost)", st.RateLimit))
	}
	if st.PID != 0 && processAlive(int(st.PID)) && cfg.Mode != ModeUnicast {
		w = append(w, fmt.Sprintf("audit daemon pid %d owns audit: reading by multicast alongside it (its log will also hold auperf's events)", st.PID))
		if cfg.Backpressure == BackpressureDrop || cfg.BacklogLimit != 0 {
			w = append(w, fmt.Sprintf("audit backlog_limit (%d) and backlog_wait_time (%d) left as they are: they govern the queue of audit daemon pid %d, not auperf's", st.BacklogLimit, st.BacklogWaitTime, st.PID))
		}
	}
	if st.Enabled == 2 {
		w = append(w, "audit is locked (enabled=2): using the auperf rules already loaded, with their filters")
	}
	return w
}

// Warnings are things the user should know about this host's audit state
// (audit off at boot, rate limit, another daemon); `run` prints them.
func (s *Source) Warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.warnings)
}

// Rules are the auditctl-style rules the source adds, in order.
func (s *Source) Rules() []string { return append(slices.Clone(s.never), s.always...) }

// Ready is closed once the rules are in and records flow: what a process
// does from then on is seen.
func (s *Source) Ready() <-chan struct{} { return s.ready }

func (s *Source) Name() string { return event.SourceAudit }

// Stats returns the source's counters. lost_kernel_records counts records
// (the kernel's unit); lost_backlog (the events among them, as the daemon),
// lost_sequence_gap and lost_incomplete count events.
func (s *Source) Stats() []event.Counter {
	src := event.SourceAudit
	return []event.Counter{
		{Source: src, Name: "received_records", Value: s.c.records.Load()},
		{Source: src, Name: "emitted", Value: s.c.emitted.Load()},
		{Source: src, Name: "filtered", Value: s.c.filtered.Load()},
		{Source: src, Name: "other_syscalls", Value: s.c.notOurs.Load()},
		{Source: src, Name: "lost_kernel_records", Value: s.c.lostKernel.Load()},
		{Source: src, Name: "lost_backlog", Value: s.c.lostBacklog.Load()},
		{Source: src, Name: "lost_sequence_gap", Value: s.c.lostGap.Load()},
		{Source: src, Name: "lost_incomplete", Value: s.c.lostIncomplete.Load()},
		{Source: src, Name: "enobufs", Value: s.c.enobufs.Load()},
		{Source: src, Name: "late_records", Value: s.c.late.Load()},
		{Source: src, Name: "lean_records", Value: s.c.lean.Load()},
		{Source: src, Name: "lean_ended_for_reader", Value: s.c.leanEnded.Load()},
	}
}

// buildRules makes the rule lines and the set of wanted syscalls, and
// decides which filters the rules carry.
func (s *Source) buildRules() error {
	f := s.cfg.Filter
	s.rest = f

	var pidOpts, uidOpts []string
	switch {
	case s.cfg.Session != 0:
		// The tree is the audit session: the rules say it all.
		s.rest.PIDs, s.rest.Tree = nil, false
	case len(f.PIDs) > 0 && !f.Tree:
		for _, p := range f.PIDs {
			pidOpts = append(pidOpts, "-F pid="+strconv.Itoa(p))
		}
	}
	for _, u := range f.UIDs {
		uidOpts = append(uidOpts, "-F uid="+strconv.FormatUint(uint64(u), 10))
	}
	// Conditions in one rule are ANDed; alternatives need one rule each.
	// Keep the product small: what does not fit is matched in user space.
	const maxCombos = 32
	if len(pidOpts)*max(len(uidOpts), 1) > maxCombos {
		uidOpts = nil
	}
	if len(pidOpts) > maxCombos {
		pidOpts = nil
	}
	if pidOpts != nil {
		s.rest.PIDs = nil
	}
	if uidOpts != nil {
		s.rest.UIDs = nil
	}
	common := ""
	if f.Failed {
		common += " -F success=0"
		s.rest.Failed = false
	}
	for _, rf := range s.cfg.RuleFields {
		common += " " + rf
	}
	s.needMatch = !s.rest.Empty()
	if len(pidOpts) == 0 {
		pidOpts = []string{""}
	}
	if len(uidOpts) == 0 {
		uidOpts = []string{""}
	}

	perArch, err := s.fillWanted()
	if err != nil {
		return err
	}
	for _, a := range s.cfg.Archs {
		nrs := perArch[a]
		if len(nrs) == 0 {
			continue
		}
		head := "-F arch=" + a.AuditRuleArch() + " -S " + strings.Join(nrs, ",")
		s.never = append(s.never, fmt.Sprintf("-a never,exit %s -F pid=%d -k %s", head, s.self, s.cfg.Key))
		for _, p := range pidOpts {
			for _, u := range uidOpts {
				line := "-a always,exit " + head
				for _, part := range []string{p, u} {
					if part != "" {
						line += " " + part
					}
				}
				s.always = append(s.always, line+common+" -k "+s.cfg.Key)
			}
		}
	}
	if len(s.always) == 0 {
		return errors.New("audit rules: no syscall of the selected events exists in the selected archs")
	}
	// Check that every rule builds before touching the kernel.
	_, err = s.wireRules()
	return err
}

// fillWanted marks the syscall numbers of the selected events in every
// selected arch and returns them per arch, in event order.
func (s *Source) fillWanted() (map[decode.Arch][]string, error) {
	perArch := map[decode.Arch][]string{}
	for _, a := range s.cfg.Archs {
		if int(a) >= len(s.want) || a == decode.ArchUnknown {
			return nil, fmt.Errorf("audit rules: unsupported arch %v", a)
		}
		events := s.cfg.Events
		if a == decode.ArchI386 && a != decode.NativeArch() && s.cfg.B32Events != nil {
			events = s.cfg.B32Events
		}
		for _, ev := range events {
			for _, name := range namesFor(a, ev) {
				nr, ok := decode.SyscallNumber(a, name)
				if !ok {
					continue
				}
				for len(s.want[a]) <= nr {
					s.want[a] = append(s.want[a], false)
				}
				if !s.want[a][nr] {
					s.want[a][nr] = true
					perArch[a] = append(perArch[a], strconv.Itoa(nr))
				}
			}
		}
	}
	return perArch, nil
}

func (s *Source) wireRules() ([][]byte, error) {
	var extra [][2]uint32
	if s.cfg.Session != 0 {
		extra = append(extra, [2]uint32{fieldSessionID, s.cfg.Session})
	}
	var out [][]byte
	for _, l := range s.never {
		r, err := buildRule(l)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	for _, l := range s.always {
		r, err := buildRule(l, extra...)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// rulesLoaded reports whether every always rule of ours is in rules.
func (s *Source) rulesLoaded(rules [][]byte) bool {
	n := 0
	for _, r := range rules {
		if hasKey(r, s.cfg.Key) {
			n++
		}
	}
	return n > 0
}

func (s *Source) wanted(a decode.Arch, nr int32) bool {
	if s.all {
		return true
	}
	w := s.want[a&3]
	return nr >= 0 && int(nr) < len(w) && w[nr]
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// session is what Run changed and must undo.
type session struct {
	s         *Source
	ctl       *conn
	reader    *conn
	orig      State // what to restore
	left      State // the status as we left it after attach (see restoreStatus)
	unicast   bool
	ownPID    bool       // we are the audit daemon: hand the pid back
	broad     [][]byte   // the always rules Attach added (tree mode narrows them)
	ctlMu     sync.Mutex // ctl is shared by the reader loop and StartCommand
	locked    bool       // audit locked: our rules were there, nothing to add or delete
	enabled   bool       // we set enabled=1
	added     bool
	lostBase  uint32
	saved     *stateFile
	closeOnce sync.Once
	closeErr  error
	lean      bool          // our exclusions are loaded (see Config.Lean)
	excluded  [][]byte      // the exclude rules we added
	pause     time.Duration // sleep after a drain (0: the socket buffer is too small to wait)
}

// Attach takes audit (daemon pid or multicast), sets the status it needs
// and adds the rules, so that a command started afterwards is traced from
// its first call. Run calls it when the caller did not. If Attach fails,
// whatever it changed is already undone.
func (s *Source) Attach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil {
		return errors.New("audit source attached twice")
	}
	ss, err := s.attach()
	if err != nil {
		return err
	}
	s.sess = ss
	close(s.ready)
	return nil
}

// readStateOf is readState; tests make it fail.
var readStateOf = readState

func (s *Source) attach() (ss *session, err error) {
	ss = &session{s: s}
	ss.ctl, err = openConn(0)
	if err != nil {
		return nil, err
	}
	ss.saved, err = lockState(s.cfg.StateDir, s.cfg.Key)
	if err != nil {
		ss.ctl.Close()
		return nil, err
	}
	cur, err := readStateOf(ss.ctl)
	if err != nil {
		// Nothing changed yet, and nothing known to restore: a
		// crashed run's saved state stays for the next start.
		ss.saved.unlock()
		ss.ctl.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ss.close())
		}
	}()
	ss.orig, ss.left = cur, cur
	if saved, ok := ss.saved.read(); ok {
		// A run that crashed left its changes: restore what it found.
		prev := saved.State
		ss.orig.Enabled, ss.orig.RateLimit = prev.Enabled, prev.RateLimit
		ss.orig.BacklogLimit, ss.orig.BacklogWaitTime = prev.BacklogLimit, prev.BacklogWaitTime
		if cur.Enabled == 2 {
			ss.orig.Enabled = 2
		}
		if cur.Enabled != 2 {
			// Its exclusions (keyless: only the file names them).
			ss.excluded = saved.Excluded
			if err := ss.deleteExclusions(); err != nil {
				return ss, fmt.Errorf("remove the exclusions a crashed auperf left: %w", err)
			}
			if cur, err = readStateOf(ss.ctl); err != nil {
				return ss, err
			}
			ss.orig.Rules = cur.Rules
		}
	}
	if cur.Enabled == 2 {
		if !s.rulesLoaded(cur.Rules) {
			return ss, ErrLocked
		}
		ss.locked = true
	} else {
		if _, err := deleteKeyed(ss.ctl, s.cfg.Key); err != nil {
			return ss, fmt.Errorf("remove stale auperf audit rules: %w", err)
		}
		if err := ss.saved.write(ss.orig, nil); err != nil {
			return ss, err
		}
	}
	return ss, ss.attach(cur)
}

// Close undoes what Attach changed (rules, audit pid, status), for a
// source that will not Run: another source failed to attach, or the
// command could not start. Run undoes it itself; do not Close a source
// that runs.
func (s *Source) Close() error {
	s.mu.Lock()
	ss := s.sess
	s.sess, s.closed = nil, true
	s.mu.Unlock()
	if ss == nil {
		return nil
	}
	return ss.close()
}

// close restores what the session changed and releases its sockets,
// once: Close after Run (or Run's own deferred close after Close) must
// not close the same fds again, by then maybe another file's.
func (ss *session) close() error {
	ss.closeOnce.Do(func() {
		ss.ctlMu.Lock()
		ss.closeErr = ss.restore()
		ss.ctlMu.Unlock()
		ss.saved.unlock()
		ss.ctl.Close()
	})
	return ss.closeErr
}

// Run attaches (unless Attach was called), delivers events to h until ctx
// is done, then deletes its rules, drains what the kernel still holds,
// restores the audit status it found and returns.
func (s *Source) Run(ctx context.Context, h event.Handler) (err error) {
	s.mu.Lock()
	attached, closed := s.sess != nil, s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("audit source: Run after Close")
	}
	if !attached {
		if err := s.Attach(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	ss := s.sess
	s.mu.Unlock()
	defer func() {
		if cerr := ss.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	return ss.loop(ctx, h)
}

func (ss *session) attach(cur State) error {
	s := ss.s
	daemonAlive := cur.PID != 0 && processAlive(int(cur.PID))
	switch s.cfg.Mode {
	case ModeUnicast:
		ss.unicast = true
	case ModeMulticast:
		ss.unicast = false
	default:
		ss.unicast = !daemonAlive
	}
	var err error
	if ss.unicast {
		ss.reader, err = openConn(0)
	} else {
		ss.reader, err = openConn(libaudit.NetlinkGroupReadLog)
	}
	if err != nil {
		return err
	}
	if ss.reader.setRcvBuf(s.cfg.RcvBuf) >= minPauseRcvBuf {
		ss.pause = drainPause
	}
	if ss.unicast {
		// The kernel sends to the socket that asked to be the daemon.
		if err := ss.reader.client().SetPID(libaudit.WaitForReply); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("become the audit daemon: another daemon owns audit (pid %d): %w", cur.PID, err)
			}
			return fmt.Errorf("become the audit daemon: %w", err)
		}
		ss.ownPID = true
	}
	if ss.locked {
		return nil
	}
	set := libaudit.AuditStatus{}
	if cur.Enabled == 0 {
		set.Mask |= libaudit.AuditStatusEnabled
		set.Enabled = 1
		ss.enabled = true
	}
	// The backlog is the queue of whoever is the daemon: by multicast it
	// is auditd's (its limit and wait are its admin's), not ours.
	if ss.unicast {
		limit := s.cfg.BacklogLimit
		if limit == 0 && cur.BacklogLimit < DefaultBacklogLimit && cur.BacklogLimit != 0 {
			limit = DefaultBacklogLimit
		}
		if limit != 0 && limit != cur.BacklogLimit {
			set.Mask |= libaudit.AuditStatusBacklogLimit
			set.BacklogLimit = limit
		}
		wait := cur.BacklogWaitTime
		if s.cfg.Backpressure == BackpressureDrop {
			wait = 0
		} else if wait == 0 {
			wait = s.cfg.BacklogWaitTime
		}
		if wait != cur.BacklogWaitTime {
			set.Mask |= libaudit.AuditStatusBacklogWaitTime
			set.BacklogWaitTime = wait
		}
	}
	if set.Mask != 0 {
		if err := setStatus(ss.ctl, set); err != nil {
			return fmt.Errorf("set audit status: %w", err)
		}
		if set.Mask&libaudit.AuditStatusEnabled != 0 {
			ss.left.Enabled = set.Enabled
		}
		if set.Mask&libaudit.AuditStatusBacklogLimit != 0 {
			ss.left.BacklogLimit = set.BacklogLimit
		}
		if set.Mask&libaudit.AuditStatusBacklogWaitTime != 0 {
			ss.left.BacklogWaitTime = set.BacklogWaitTime
		}
	}
	if ss.unicast && s.leanEligible() && noOtherReader() {
		if err := ss.startLean(cur.Rules); err != nil {
			return err
		}
	}
	st, err := getStatus(ss.ctl)
	if err != nil {
		return err
	}
	ss.lostBase = st.Lost
	rules, err := s.wireRules()
	if err != nil {
		return err
	}
	for i, r := range rules {
		if i >= len(s.never) && s.cfg.StartsCommand && s.cfg.Filter.Tree {
			break // StartCommand adds them, narrowed to the command
		}
		ss.added = true
		if err := addRule(ss.ctl, r); err != nil {
			return err
		}
		if i >= len(s.never) {
			ss.broad = append(ss.broad, r)
		}
	}
	return nil
}

// restore undoes attach: our rules, the pid, the status fields.
func (ss *session) restore() error {
	var errs []error
	if ss.added {
		if _, err := deleteKeyed(ss.ctl, ss.s.cfg.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ss.deleteExclusions(); err != nil {
		errs = append(errs, err)
	}
	// The status first, while we are still the daemon: the kernel
	// sends the CONFIG_CHANGE records of these changes (and of the
	// rule deletions) to the daemon, and with no daemon it prints them
	// to the kernel log. Audit switched off before the pid is handed
	// back, the pid change logs nothing at all.
	if !ss.locked {
		if err := restoreStatus(ss.ctl, ss.orig, &ss.left); err != nil {
			errs = append(errs, err)
		}
	}
	if ss.reader != nil {
		if ss.ownPID {
			// kauditd sends asynchronously: let it hand the records
			// of those changes to us before there is no daemon.
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
				if st, err := getStatus(ss.ctl); err != nil || st.Backlog == 0 {
					break
				}
			}
			// Only the daemon's own process may hand the pid back.
			if err := setStatus(ss.ctl, libaudit.AuditStatus{Mask: libaudit.AuditStatusPID, PID: 0}); err != nil {
				errs = append(errs, fmt.Errorf("release the audit pid: %w", err))
			}
		}
		ss.reader.Close()
	}
	if !ss.locked && len(errs) == 0 {
		ss.saved.clear()
	}
	return errors.Join(errs...)
}

// loop reads records until ctx is done, then drains.
func (ss *session) loop(ctx context.Context, h event.Handler) (err error) {
	s := ss.s
	r := newReader(s, h)
	defer func() {
		if err != nil {
			// Deliver what was read, complete or not, and the gaps.
			r.finish()
		}
	}()
	batch := newMsgBatch(recvBatchSize, unix.NLMSG_HDRLEN+libaudit.AuditMessageMaxLength+64)
	lastStatus := time.Now()
	lastFlush := lastStatus

	// readAll drains the socket (up to a bound, so that timers run) and
	// reports whether it read anything.
	readAll := func() (bool, error) {
		now := time.Now() // one clock read per wakeup: arrival times only bound EOE waits
		read := false
		for i := 0; i < drainMax/recvBatchSize; i++ {
			n, err := ss.reader.recvBatch(batch)
			if err == unix.EAGAIN {
				return read, nil
			}
			if err == unix.ENOBUFS {
				// The socket overflowed: records are gone; the
				// serial gaps say how many events.
				s.c.enobufs.Add(1)
				continue
			}
			if err != nil {
				return read, fmt.Errorf("read audit socket: %w", err)
			}
			read = read || n > 0
			for j := range n {
				if m := batch.message(j); m != nil {
					r.message(m, now)
				}
			}
			if n < recvBatchSize {
				return read, nil // drained: no EAGAIN round trip
			}
		}
		return read, nil
	}
	r.unicast = ss.unicast
	r.lean = ss.lean
	r.addRuleMark = []byte(`op=add_rule key="` + s.cfg.Key + `"`)
	r.gapAny = ss.locked
	pollLost := func() {
		ss.ctlMu.Lock()
		st, err := getStatus(ss.ctl)
		ss.ctlMu.Unlock()
		if err != nil {
			return
		}
		d := st.Lost - ss.lostBase // the kernel's counter is 32 bits and wraps
		ss.lostBase = st.Lost
		if d >= 1<<31 {
			d = 0 // reset by someone (AUDIT_STATUS_LOST): not a loss of ours
		}
		r.kernelLost(uint64(d), time.Now())
	}

	for ctx.Err() == nil {
		ready, err := ss.reader.wait(100)
		if err != nil {
			return err
		}
		if ready {
			read, err := readAll()
			if err != nil {
				return err
			}
			if read {
				// Let records pile up before the next read: one
				// wakeup per few hundred records instead of one per
				// record, which on a small host takes CPU from the
				// audited processes and kauditd.
				time.Sleep(ss.pause)
			}
		}
		now := time.Now()
		if now.Sub(lastFlush) >= 250*time.Millisecond {
			r.flushOlder(now.Add(-s.cfg.EOETimeout))
			lastFlush = now
		}
		if now.Sub(lastStatus) >= s.cfg.StatusInterval {
			pollLost()
			lastStatus = now
			if ss.lean && !noOtherReader() {
				// Someone else reads audit now: give them full events.
				if err := ss.endLean(r); err != nil {
					return err
				}
			}
		}
	}

	// Stop: no new events, then take what the kernel still holds.
	if err := ss.removeRules(); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ready, err := ss.reader.wait(300)
		if err != nil {
			return err
		}
		if !ready {
			ss.ctlMu.Lock()
			st, err := getStatus(ss.ctl)
			ss.ctlMu.Unlock()
			if err == nil && st.Backlog > 0 {
				continue
			}
			break
		}
		if _, err := readAll(); err != nil {
			return err
		}
	}
	pollLost()
	r.finish()
	return nil
}

// removeRules deletes our rules when the source stops: no rule may be
// added after it (see widen).
func (ss *session) removeRules() error {
	ss.ctlMu.Lock()
	defer ss.ctlMu.Unlock()
	if ss.added {
		if _, err := deleteKeyed(ss.ctl, ss.s.cfg.Key); err != nil {
			return err
		}
		ss.added = false
	}
	return nil
}

// Reading in batches.
const (
	// recvBatchSize is how many messages one recvmmsg takes.
	recvBatchSize = 64
	// drainMax bounds the messages read in one go, so that the EOE
	// timeout and the lost-counter poll still run under a flood.
	drainMax = 8192
	// drainPause is how long the reader sleeps after reading: the socket
	// buffer (Config.RcvBuf, 16 MiB) holds several thousand records, that
	// is, tens of milliseconds at 600,000 records/s, so the pause costs
	// latency only, never records.
	drainPause = 2 * time.Millisecond
	// minPauseRcvBuf is the socket buffer the pause needs: without
	// SO_RCVBUFFORCE (CAP_NET_ADMIN) the kernel caps it at rmem_max,
	// a few hundred records, and the reader must not wait at all.
	minPauseRcvBuf = 4 << 20
)

// kernelLost takes d more records the kernel counted lost. In multicast
// mode they are reported as they are (records: an upper bound of the
// events lost, the socket may also have dropped some). As the daemon,
// the kernel's loss is exact and is turned into events: when a SYSCALL
// record cannot be queued the kernel drops the whole event
// (audit_log_exit returns), so an event lost is one record lost, and
// every other lost record is an MMAP, PROCTITLE or EOE missing from an
// event that did arrive. Those are known once their group completes, so
// the count is settled EOETimeout later.
func (r *reader) kernelLost(d uint64, now time.Time) {
	r.s.c.lostKernel.Add(d)
	if !r.unicast {
		if d > 0 {
			r.lost(d, "kernel_records")
		}
		return
	}
	r.kernelTotal += d
	r.samples = append(r.samples, lostSample{now, r.kernelTotal})
	r.settle(now.Add(-r.s.cfg.EOETimeout - 500*time.Millisecond))
}

type lostSample struct {
	at    time.Time
	total uint64
}

// settle reports the events lost up to the newest sample taken before t.
func (r *reader) settle(t time.Time) {
	i := -1
	for j, s := range r.samples {
		if s.at.Before(t) {
			i = j
		}
	}
	if i < 0 {
		return
	}
	total := r.samples[i].total
	r.samples = r.samples[i:]
	if n := int64(total) - int64(r.auxMissing) - int64(r.reportedLost); n > 0 {
		r.reportedLost += uint64(n)
		r.s.c.lostBacklog.Add(uint64(n))
		r.lost(uint64(n), "backlog")
	}
}

// reader turns netlink messages into events.
type reader struct {
	s    *Source
	h    event.Handler
	ev   event.Event
	gap  gapTracker
	pend map[uint32]*group
	free []*group
	strs interner
	next uint64 // order of the next new group

	gapOn        bool         // checking serials for gaps
	gapAny       bool         // start with any record (no rule of ours will be added)
	addRuleMark  []byte       // what our rules' CONFIG_CHANGE records say
	unicast      bool         // we are the daemon: kernel loss becomes events
	kernelTotal  uint64       // records the kernel lost since we started
	samples      []lostSample // kernelTotal over time
	auxMissing   uint64       // MMAP/PROCTITLE/EOE records missing from groups with a SYSCALL
	reportedLost uint64       // events reported lost from kernelTotal
	node         []byte       // hostName of the records being read (logs with node=)
	logs         bool         // reading a log: loss is counted, not put in the stream

	// Lean records (see session.startLean): the kernel sends no
	// PROCTITLE and no EOE, so a group is complete once its known
	// records are in. lean holds while our exclusions may be loaded;
	// once they are deleted, the CONFIG_CHANGE of that deletion
	// (leanEnd, set when awaitLeanEnd) separates lean serials from
	// full ones.
	lean         bool
	awaitLeanEnd bool
	leanEndSet   bool
	leanEnd      uint32
	leanEndAt    time.Time
	done         [doneSlots]doneSlot // recently completed serials
}

// doneSlots is how many recently completed serials the reader remembers,
// so that records arriving after their group was completed (the PROCTITLE
// or EOE of a lean-era group, an EOE after the timeout) are not taken for
// the remains of a lost event.
const doneSlots = 8192

type doneSlot struct {
	serial uint32
	ok     bool
}

// leanSerial reports whether the event with this serial was logged with
// our exclusions in place (no PROCTITLE, no EOE).
func (r *reader) leanSerial(serial uint32) bool {
	return r.lean && (!r.leanEndSet || int32(serial-r.leanEnd) < 0)
}

// recentlyDone reports whether the group of serial was completed lately.
func (r *reader) recentlyDone(serial uint32) bool {
	d := r.done[serial%doneSlots]
	return d.ok && d.serial == serial
}

type group struct {
	order   uint64 // arrival order of the group's first record
	serial  uint32
	ts      int64
	arrived time.Time
	hasSys  bool
	hasAux  bool // MMAP, PROCTITLE or EOE: the records of a syscall event
	hasPT   bool // PROCTITLE
	hasEOE  bool
	sys     syscallRecord
	mmap    mmapRecord
	hasMmap bool
}

func newReader(s *Source, h event.Handler) *reader {
	return &reader{s: s, h: h, pend: make(map[uint32]*group), strs: interner{m: make(map[string]string)}}
}

// message handles one netlink message from the kernel.
func (r *reader) message(b []byte, now time.Time) {
	h := (*syscall.NlMsghdr)(unsafe.Pointer(&b[0]))
	typ := h.Type
	// 1000-1099 are commands and replies, except AUDIT_LOGIN, a record
	// with a serial of its own; 1329 is AUDIT_REPLACE (a ping to the
	// daemon), not a record.
	if (typ < 1100 && typ != typeLogin) || typ == 1329 {
		return
	}
	body := b[unix.NLMSG_HDRLEN:]
	for len(body) > 0 && (body[len(body)-1] == 0 || body[len(body)-1] == '\n') {
		body = body[:len(body)-1]
	}
	ts, serial, rest, err := splitStamp(body)
	if err != nil {
		return
	}
	r.s.c.records.Add(1)
	if !r.gapOn && (typ == typeConfigChange && bytes.Contains(rest, r.addRuleMark) || r.gapAny) {
		// Serials are checked for gaps from our first rule's
		// CONFIG_CHANGE on: older records (the kernel's hold queue,
		// events in flight) may have gaps that are nobody's loss of
		// ours. (Not from a time: audit's clock is coarse.)
		r.gapOn = true
	}
	if typ == typeConfigChange && r.awaitLeanEnd && bytes.Contains(rest, []byte("list=5")) &&
		(bytes.Contains(rest, leanEndMark) || bytes.Contains(rest, leanEndMarkOld)) {
		// Our exclusions are gone: events after this one are full.
		r.awaitLeanEnd, r.leanEndSet, r.leanEnd, r.leanEndAt = false, true, serial, now
	}
	if !r.gapOn || r.gap.started && serial == r.gap.last {
		// The next record of the same event (most records): its
		// serial is accounted for.
	} else if d, late := r.gap.add(serial); d > 0 {
		r.s.c.lostGap.Add(d)
		r.lost(d, "sequence_gap")
	} else if late {
		r.s.c.late.Add(1)
	}
	r.record(record{typ: typ, ts: ts, serial: serial, body: rest}, now)
}

// record adds one record to its group; EOE completes the group.
func (r *reader) record(rec record, now time.Time) {
	switch rec.typ {
	case typeSyscall, typeMmap, typeProctitle, typeEOE:
	default:
		return
	}
	g := r.pend[rec.serial]
	if g == nil && rec.typ != typeSyscall && r.recentlyDone(rec.serial) {
		// A record of a group already completed: a lean-era event's
		// PROCTITLE or EOE logged after our exclusions were deleted,
		// or an EOE after the timeout. The event was emitted.
		r.s.c.late.Add(1)
		return
	}
	if g == nil {
		if n := len(r.free); n > 0 {
			g = r.free[n-1]
			r.free = r.free[:n-1]
		} else {
			g = new(group)
		}
		comm, exe, key := g.sys.comm, g.sys.exe, g.sys.key
		*g = group{order: r.next, serial: rec.serial, ts: rec.ts, arrived: now}
		r.next++
		g.sys.comm, g.sys.exe, g.sys.key = comm, exe, key
		r.pend[rec.serial] = g
	}
	switch rec.typ {
	case typeSyscall:
		parseSyscall(&g.sys, rec.body)
		g.hasSys = true
		if r.leanSerial(rec.serial) && !r.expectMmap(g) {
			r.complete(g)
		}
	case typeMmap:
		g.mmap = parseMmap(rec.body)
		g.hasMmap = true
		g.hasAux = true
		if g.hasSys && r.leanSerial(rec.serial) {
			r.complete(g)
		}
	case typeProctitle:
		g.hasAux = true
		g.hasPT = true
		if r.logs && g.hasSys {
			// auditd does not write EOE records; PROCTITLE is the
			// last record of a syscall event.
			r.complete(g)
		}
	case typeEOE:
		g.hasAux = true
		g.hasEOE = true
		r.complete(g)
	}
}

func (r *reader) complete(g *group) {
	r.done[g.serial%doneSlots] = doneSlot{g.serial, true}
	delete(r.pend, g.serial)
	r.emit(g)
	r.free = append(r.free, g)
}

// flushOlder completes groups that arrived before t without their EOE.
func (r *reader) flushOlder(t time.Time) {
	var old []*group
	for _, g := range r.pend {
		if g.arrived.Before(t) {
			old = append(old, g)
		}
	}
	r.completeInOrder(old)
	if r.leanEndSet && t.After(r.leanEndAt) {
		// Every lean-era group has completed or timed out by now
		// (judged lean, above, as they were).
		r.lean, r.leanEndSet = false, false
	}
}

// completeInOrder completes gs in the order their groups began.
func (r *reader) completeInOrder(gs []*group) {
	slices.SortFunc(gs, func(a, b *group) int { return cmp.Compare(a.order, b.order) })
	for _, g := range gs {
		r.complete(g)
	}
}

func (r *reader) finish() {
	r.flushOlder(time.Now().Add(time.Hour))
	if d := r.gap.finish(); d > 0 {
		r.s.c.lostGap.Add(d)
		r.lost(d, "sequence_gap")
	}
	if r.unicast {
		r.samples = append(r.samples, lostSample{time.Time{}, r.kernelTotal})
		r.settle(time.Unix(1<<40, 0))
	}
}

func (r *reader) lost(n uint64, cause string) {
	if r.logs {
		return
	}
	event.NewLost(&r.ev, time.Now().UnixNano(), event.SourceAudit, -1, n, cause)
	r.h(&r.ev)
}

func (r *reader) emit(g *group) {
	s := r.s
	if !g.hasSys {
		if g.hasAux {
			// The event's SYSCALL record was lost.
			s.c.lostIncomplete.Add(1)
			r.lost(1, "incomplete")
		}
		return
	}
	sys := &g.sys
	arch := decode.ArchFromAudit(sys.arch)
	if !r.logs {
		r.auxMissing += uint64(r.missingAux(g, arch))
	}
	if arch == decode.ArchUnknown || !sys.hasNr || !s.wanted(arch, sys.nr) {
		s.c.notOurs.Add(1)
		return
	}
	if sys.has&hasPid != 0 && sys.pid == s.self {
		s.c.filtered.Add(1)
		return
	}
	raw := decode.Raw{Arch: arch, Nr: sys.nr, Known: sys.known, Ret: sys.exit, HasRet: sys.hasExit}
	copy(raw.Args[:4], sys.args[:])
	if g.hasMmap && g.mmap.hasFd && sys.nr == s.mmapFd[arch] {
		raw.Args[4] = uint64(g.mmap.fd)
		raw.Known |= 1 << 4
	}
	ev := &r.ev
	ev.Reset()
	decode.Decode(ev, &raw, nil)
	ev.Timestamp = g.ts
	ev.Source = event.SourceAudit
	if sys.has&hasPid != 0 {
		ev.Known |= event.HasProcess
		ev.ProcessID = sys.pid
	}
	if sys.has&hasPPid != 0 {
		ev.Known |= event.HasParent
		ev.ParentProcessID = sys.ppid
	}
	if sys.has&hasUID != 0 {
		ev.Known |= event.HasUser
		ev.UserID = sys.uid
	}
	if sys.has&hasGID != 0 {
		ev.Known |= event.HasGroup
		ev.GroupID = sys.gid
	}
	if sys.has&hasAUID != 0 {
		ev.Known |= event.HasLoginUser
		ev.LoginUserID = sys.auid
	}
	if sys.has&hasSes != 0 {
		ev.Known |= event.HasSession
		ev.SessionID = sys.ses
	}
	if sys.has&hasComm != 0 {
		ev.ProcessName = r.strs.get(sys.comm)
	}
	if sys.has&hasExe != 0 {
		ev.ExecutablePath = r.strs.get(sys.exe)
	}
	if len(r.node) > 0 {
		ev.HostName = r.strs.get(r.node)
	}
	s.feedTree(sys)
	if s.needMatch && !s.rest.Match(ev) {
		s.c.filtered.Add(1)
		return
	}
	s.c.emitted.Add(1)
	r.h(ev)
}

// missingAux is how many records the kernel always sends with this SYSCALL
// that did not arrive: PROCTITLE and EOE (unless the event is lean), and
// MMAP for an mmap of a file.
func (r *reader) missingAux(g *group, arch decode.Arch) int {
	n := 0
	if !r.leanSerial(g.serial) {
		if !g.hasPT {
			n++
		}
		if !g.hasEOE {
			n++
		}
	}
	if !g.hasMmap && r.mmapRecordFor(&g.sys, arch) {
		n++
	}
	return n
}

// mmapRecordFor reports whether the kernel logs an MMAP record for this
// call: an mmap of a file (ksys_mmap_pgoff logs it before it even looks
// the fd up; x86_64 mmap rejects an unaligned offset, EINVAL, before that).
func (r *reader) mmapRecordFor(sys *syscallRecord, arch decode.Arch) bool {
	return sys.hasNr && sys.nr == r.s.mmapFd[arch] && sys.known&8 != 0 &&
		sys.args[3]&mapAnonymous == 0 && !(arch != decode.ArchI386 && sys.exit == -22)
}

// expectMmap reports whether a lean group with this SYSCALL waits for
// more records: an MMAP, or an unknown set (i386's old mmap passes its
// arguments in memory, so whether an MMAP follows is not known: such a
// group completes by timeout). Calls that are not ours complete at once:
// they are dropped anyway.
func (r *reader) expectMmap(g *group) bool {
	sys := &g.sys
	arch := decode.ArchFromAudit(sys.arch)
	if arch == decode.ArchUnknown || !sys.hasNr || !r.s.wanted(arch, sys.nr) {
		return false
	}
	if arch == decode.ArchI386 && sys.nr == r.s.oldMmap {
		return true
	}
	return r.mmapRecordFor(sys, arch)
}

// leanEndMark is in the CONFIG_CHANGE of a deleted rule (list=5: the
// exclude list); older kernels wrote op="remove rule".
var leanEndMark, leanEndMarkOld = []byte("op=remove_rule"), []byte(`op="remove rule"`)

// initMmap finds, per arch, the mmap whose MMAP record gives argument 4
// (the fd), and i386's old mmap, from the syscall tables.
func (s *Source) initMmap() {
	for i := range s.mmapFd {
		s.mmapFd[i] = -1
	}
	for _, a := range []decode.Arch{decode.ArchX86_64, decode.ArchARM64} {
		if nr, ok := decode.SyscallNumber(a, "mmap"); ok {
			s.mmapFd[a] = int32(nr)
		}
	}
	if nr, ok := decode.SyscallNumber(decode.ArchI386, "mmap2"); ok {
		s.mmapFd[decode.ArchI386] = int32(nr)
	}
	s.oldMmap = -1
	if nr, ok := decode.SyscallNumber(decode.ArchI386, "mmap"); ok {
		s.oldMmap = int32(nr)
	}
}

// mapAnonymous is MAP_ANONYMOUS (the same on x86_64, i386 and arm64).
const mapAnonymous = 0x20

// interner keeps one string per distinct comm/exe so that events do not
// allocate for them.
type interner struct{ m map[string]string }

func (in *interner) get(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if len(in.m) > 4096 {
		clear(in.m)
	}
	s := string(b)
	in.m[s] = s
	return s
}

// gapTracker finds serials that never arrived. The kernel's serial is a
// 32-bit counter that wraps, and records of concurrent events may arrive
// slightly out of order, so a serial counts as missing only when it falls
// out of a window behind the newest one (or at the end).
type gapTracker struct {
	started bool
	base    uint32 // lowest serial not yet accounted for
	max     uint32 // newest serial seen
	last    uint32 // the serial of the last add
	bits    [gapWindow / 64]uint64
}

const gapWindow = 1 << 16

func (g *gapTracker) bit(s uint32) (*uint64, uint64) {
	i := s % gapWindow
	return &g.bits[i/64], 1 << (i % 64)
}

// add records serial s and returns how many serials fell out of the
// window unseen, and whether s came after its slot was accounted for.
func (g *gapTracker) add(s uint32) (missing uint64, late bool) {
	if !g.started {
		g.started, g.base, g.max = true, s, s
	}
	g.last = s
	d := int32(s - g.base)
	if d < 0 {
		return 0, true
	}
	if int32(s-g.max) > 0 {
		g.max = s
	}
	if d >= gapWindow {
		missing = g.advance(s - gapWindow + 1)
	}
	w, m := g.bit(s)
	*w |= m
	for {
		w, m := g.bit(g.base)
		if *w&m == 0 {
			break
		}
		*w &^= m
		g.base++
	}
	return missing, false
}

// advance accounts for every serial before to.
func (g *gapTracker) advance(to uint32) (missing uint64) {
	for int32(to-g.base) > 0 {
		w, m := g.bit(g.base)
		if *w&m == 0 {
			missing++
		}
		*w &^= m
		g.base++
	}
	return missing
}

// finish accounts for everything up to the newest serial.
func (g *gapTracker) finish() uint64 {
	if !g.started {
		return 0
	}
	return g.advance(g.max + 1)
}
