package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func (b *bench) auditctl(args ...string) (string, error) {
	out, err := exec.Command(b.cfg.Auditctl, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("auditctl %s: %v: %s", strings.Join(args, " "), err, lastLine(string(out)))
	}
	return string(out), nil
}

func (b *bench) auditState() (AuditState, error) {
	s, err := b.auditctl("-s")
	if err != nil {
		return AuditState{}, err
	}
	l, err := b.auditctl("-l")
	if err != nil {
		return AuditState{}, err
	}
	return AuditState{Status: ParseAuditStatus(s), Rules: strings.TrimSpace(l)}, nil
}

// checkAudit compares the audit state with the one found at the start.
// What differs is put back where the bench knows how (its own rules, the
// settable numbers); if it still differs, the bench must stop.
func (b *bench) checkAudit() error {
	now, err := b.auditState()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAuditState, err)
	}
	d := now.Diff(*b.auditBefore)
	if len(d) == 0 {
		return nil
	}
	b.logf("AUDIT STATE DIFFERS: %s; restoring", strings.Join(d, "; "))
	b.restoreAudit()
	if now, err = b.auditState(); err != nil {
		return fmt.Errorf("%w: %v", ErrAuditState, err)
	}
	if d2 := now.Diff(*b.auditBefore); len(d2) > 0 {
		return fmt.Errorf("%w: found %s, now %s (differs: %s)", ErrAuditState, b.auditBefore, now, strings.Join(d2, "; "))
	}
	return fmt.Errorf("%w by the tracer (the bench put it back: %s)", ErrAuditState, strings.Join(d, "; "))
}

// restoreAudit removes the bench's own rules and puts the settable numbers
// back. It does not touch rules of other keys, nor the audit pid (a daemon
// that is not ours is not ours to unregister).
func (b *bench) restoreAudit() {
	b.deleteOwnRules()
	before := b.auditBefore.Status
	for _, s := range []struct{ key, flag string }{
		{"backlog_limit", "-b"}, {"backlog_wait_time", "--backlog_wait_time"},
		{"rate_limit", "-r"}, {"failure", "-f"}, {"enabled", "-e"},
	} {
		if v := before[s.key]; v != "" && v != "2" {
			b.auditctl(s.flag, v)
		}
	}
}

// deleteOwnRules removes every rule that carries AuditKey, one by one (never
// `auditctl -D`, which removes everybody's), and the keyless exclusions of
// lean mode (auperf-audit, audit-bare) that were not loaded when the bench
// started.
func (b *bench) deleteOwnRules() {
	l, err := b.auditctl("-l")
	if err != nil {
		return
	}
	found := map[string]bool{}
	if b.auditBefore != nil {
		for line := range strings.SplitSeq(b.auditBefore.Rules, "\n") {
			found[strings.TrimSpace(line)] = true
		}
	}
	for line := range strings.SplitSeq(l, "\n") {
		line = strings.TrimSpace(line)
		exclusion := line == "-a never,exclude -F msgtype=PROCTITLE" || line == "-a never,exclude -F msgtype=EOE"
		if exclusion && found[line] || !exclusion && (!strings.Contains(line, "key="+AuditKey) || !strings.HasPrefix(line, "-a ")) {
			continue
		}
		args := strings.Fields("-d " + strings.TrimPrefix(line, "-a "))
		b.auditctl(args...)
	}
}

// auditdConf is Debian's default auditd.conf with the paths of one bench
// run, and the space/size actions that could suspend logging or rotate
// records away turned off.
const auditdConf = `local_events = yes
write_logs = yes
log_file = %s
log_group = root
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 8
num_logs = 5
priority_boost = 4
name_format = NONE
max_log_file_action = IGNORE
space_left = 75
space_left_action = IGNORE
admin_space_left = 50
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = SYSLOG
use_libwrap = no
distribute_network = no
q_depth = 2000
overflow_action = SYSLOG
max_restarts = 10
plugin_dir = %s
end_of_event_timeout = 2
`

func (b *bench) auditRule() []string {
	return []string{"always,exit", "-F", "arch=b64", "-S", strings.Join(Syscalls, ","), "-F", "exe=" + b.workloadExe(), "-k", AuditKey}
}

// workloadExe is the workload's path as the kernel reports exe.
func (b *bench) workloadExe() string {
	exe, err := filepath.EvalSymlinks(b.cfg.Workload)
	if err != nil {
		return b.cfg.Workload
	}
	return exe
}

func statusInt(s AuditState, key string) int64 {
	v, _ := strconv.ParseInt(strings.Fields(s.Status[key] + " x")[0], 10, 64)
	return v
}

// runAuditd runs the workload under a private auditd with the same rule.
// The audit state is checked by the caller after the run.
func (b *bench) runAuditd(ctx context.Context, run *Run, base, summary string) (cmdline string, err error) {
	st, err := b.auditState()
	if err != nil {
		return "", err
	}
	if pid := statusInt(st, "pid"); pid != 0 {
		return "", notAvailable{fmt.Sprintf("an audit daemon (pid %d) is running: the bench starts its own auditd only when the slot is free", pid)}
	}
	if st.Status["enabled"] == "2" {
		return "", notAvailable{"audit is locked (enabled 2): no rules can be added"}
	}
	dir := base + ".auditd"
	os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "plugins.d"), 0o750); err != nil {
		return "", err
	}
	if !b.cfg.Keep {
		defer os.RemoveAll(dir)
	}
	logFile := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(filepath.Join(dir, "auditd.conf"), fmt.Appendf(nil, auditdConf, logFile, filepath.Join(dir, "plugins.d")), 0o640); err != nil {
		return "", err
	}

	// Audit must be enabled before the workload forks (a task forked while
	// audit is off is never audited); auditd -s nochange leaves it to us.
	if st.Status["enabled"] == "0" {
		if _, err := b.auditctl("-e", "1"); err != nil {
			return "", err
		}
		defer b.auditctl("-e", "0")
	}
	// Debian's shipped rules (/etc/audit/rules.d/audit.rules) raise the
	// backlog to 8192 when auditd starts; so does auperf's audit source
	// while it is the daemon. The row does the same, for the run only.
	if bl := b.cfg.AuditdBacklog; bl > 0 && st.Status["backlog_limit"] != strconv.Itoa(bl) {
		if _, err := b.auditctl("-b", strconv.Itoa(bl)); err != nil {
			return "", err
		}
		defer b.auditctl("-b", st.Status["backlog_limit"])
	}
	args := []string{b.cfg.Auditd, "-n", "-s", "nochange", "-c", dir}
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	p, err := startTracer(cmd, false)
	if err != nil {
		return shellJoin(args), err
	}
	stop := p.stopOnce(run, func(err error) error {
		if err != nil && !strings.Contains(err.Error(), "terminated") {
			return fmt.Errorf("auditd: %v: %s", err, lastLine(stderr.String()))
		}
		return nil
	})
	defer stop()
	if err := b.waitAuditPid(p, 10*time.Second); err != nil {
		return shellJoin(args), fmt.Errorf("auditd: %v: %s", err, lastLine(stderr.String()))
	}
	rule := b.auditRule()
	cmdline = shellJoin(args) + "; auditctl -a " + shellJoin(rule)
	if _, err := b.auditctl(append([]string{"-a"}, rule...)...); err != nil {
		return cmdline, err
	}
	ruleAdded := true
	defer func() {
		if ruleAdded {
			b.auditctl(append([]string{"-d"}, rule...)...)
		}
	}()
	before, err := b.auditState()
	if err != nil {
		return cmdline, err
	}
	_, werr := b.runWorkload(ctx, summary)
	// Let auditd read what the kernel still queues (at most backlog_limit
	// records: a full backlog makes the workload wait, with the default
	// backlog_wait_time), then stop it.
	time.Sleep(300 * time.Millisecond)
	after, err := b.auditState()
	if err != nil {
		return cmdline, err
	}
	if _, err := b.auditctl(append([]string{"-d"}, rule...)...); err != nil {
		return cmdline, err
	}
	ruleAdded = false
	// The kernel drops a daemon that does not keep up (kauditd retry queue
	// overflow) and another process may then register: records of that
	// time went elsewhere, so the run does not measure auditd.
	if pid := statusInt(after, "pid"); pid != int64(p.cmd.Process.Pid) {
		stop()
		return cmdline, fmt.Errorf("auditd (pid %d) was no longer the audit daemon at the end of the run (kernel audit pid %d; see dmesg)", p.cmd.Process.Pid, pid)
	}
	if err := stop(); err != nil {
		return cmdline, err
	}
	if werr != nil {
		return cmdline, werr
	}
	s, err := readSummary(run, summary)
	if err != nil {
		return cmdline, err
	}
	run.Count, err = b.countFile(logFile, func(r io.Reader) (Count, error) { return CountAuditLog(r, AuditKey, s.PID) })
	run.Count.Lost = uint64(max(0, statusInt(after, "lost")-statusInt(before, "lost")))
	return cmdline, err
}

// waitAuditPid waits until the kernel's audit pid is auditd's: from then
// on records go to it.
func (b *bench) waitAuditPid(p *tracerProc, limit time.Duration) error {
	want := int64(p.cmd.Process.Pid)
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited at start")
		default:
		}
		if st, err := b.auditState(); err == nil && statusInt(st, "pid") == want {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("did not register as the audit daemon within %v", limit)
}
