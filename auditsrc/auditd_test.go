// Kernel tests next to a real auditd: multicast reading, its rules and
// backlog left alone.

package auditsrc

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/ktest"
)

var recordLogs = flag.Bool("record", false, "record testdata/audit logs with the real auditd (root)")

// auditd is a real auditd started by a test with a private configuration
// and log, never left running.
type auditd struct {
	before State // status before auditd: enabled is put back on stop
	cmd    *exec.Cmd
	dir    string
	log    string
}

// auditdConfig writes a private auditd configuration (log_format, its log
// in the directory) and returns the directory and the log's path.
func auditdConfig(t *testing.T, format string) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	os.Chmod(dir, 0o750)
	if err := os.Mkdir(filepath.Join(dir, "plugins.d"), 0o750); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "audit.log")
	conf := fmt.Sprintf(`local_events = yes
write_logs = yes
log_file = %s
log_group = root
log_format = %s
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 64
num_logs = 1
priority_boost = 0
name_format = NONE
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
use_libwrap = no
tcp_listen_queue = 5
tcp_max_per_addr = 1
tcp_client_max_idle = 0
transport = TCP
distribute_network = no
q_depth = 2000
overflow_action = IGNORE
max_restarts = 0
plugin_dir = %s
end_of_event_timeout = 2
`, log, format, filepath.Join(dir, "plugins.d"))
	if err := os.WriteFile(filepath.Join(dir, "auditd.conf"), []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	return dir, log
}

// startAuditd starts Debian's auditd in the foreground (-n) with a
// configuration in a temporary directory. It enables audit if it was off
// (-s enable, which disables it again on exit) and otherwise leaves the
// flag alone.
func startAuditd(t *testing.T, format string) *auditd {
	t.Helper()
	path, err := exec.LookPath("auditd")
	if err != nil {
		ktest.Skip(t, "auditd not installed")
	}
	st, err := ReadState()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != 0 && processAlive(int(st.PID)) {
		ktest.Skip(t, fmt.Sprintf("an audit daemon (pid %d) is already running", st.PID))
	}
	dir, log := auditdConfig(t, format)
	a := &auditd{before: st, dir: dir, log: log}
	enable := "nochange"
	if st.Enabled == 0 {
		enable = "enable"
	}
	a.cmd = exec.Command(path, "-n", "-c", dir, "-s", enable)
	var stderr bytes.Buffer
	a.cmd.Stderr = &stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stop(t) })
	if !waitFor(10*time.Second, func() bool {
		st, err := ReadState()
		return err == nil && int(st.PID) == a.cmd.Process.Pid
	}) {
		t.Fatalf("auditd did not take the audit pid; stderr: %s", stderr.String())
	}
	return a
}

// stop stops auditd by its pid and waits for it.
func (a *auditd) stop(t *testing.T) {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Errorf("auditd (pid %d) ignored SIGTERM: killing it", a.cmd.Process.Pid)
		a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
	// auditd -s enable does not always disable audit again on exit.
	c, err := openConn(0)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	if err := restoreStatus(c, a.before, nil); err != nil {
		t.Error(err)
	}
}

// auditctl runs auditctl with args.
func auditctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("auditctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("auditctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// addRules adds rule lines ("-a ...") with auditctl and deletes them when
// t ends.
func addRules(t *testing.T, lines []string) {
	t.Helper()
	for _, l := range lines {
		auditctl(t, strings.Fields(l)...)
	}
	t.Cleanup(func() {
		for _, l := range lines {
			exec.Command("auditctl", deleteArgs(l)...).Run() // gone already, or deleted now
		}
	})
}

// deleteArgs turns auditctl's "-a ..." rule line into its "-d ..." one.
func deleteArgs(rule string) []string {
	f := strings.Fields(rule)
	f[0] = "-d"
	return f
}

// With a real auditd owning audit, auperf reads by multicast next to it,
// adds and removes only its own rules, leaves auditd's rule intact, and
// both see the events.
func TestIntegrationAuditdMulticast(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	a := startAuditd(t, "RAW")
	bin := workloadCopy(t, "auperf-wl-auditd")
	theirs := "-a always,exit -F arch=b64 -S msync -F exe=" + bin + " -k " + testKey + "-auditd"
	addRules(t, []string{theirs})
	listed := func() string { return auditctl(t, "-l") }
	before := listed()

	r := startSource(t, Config{RuleFields: []string{"-F exe=" + bin}})
	if w := strings.Join(r.src.Warnings(), "\n"); !strings.Contains(w, "multicast") {
		t.Errorf("no multicast warning: %q", w)
	}
	during := listed()
	if !strings.Contains(during, testKey+"-auditd") || !strings.Contains(during, "key="+testKey+"\n") && !strings.Contains(during, "-k "+testKey+"\n") {
		t.Errorf("rules while running:\n%s", during)
	}
	st, _ := ReadState()
	if int(st.PID) != a.cmd.Process.Pid {
		t.Errorf("audit pid %d while auperf runs, want auditd's %d", st.PID, a.cmd.Process.Pid)
	}
	truth := runWorkload(t, bin, "-threads", "2")
	waitFor(10*time.Second, func() bool { return r.col.count() >= len(traced(truth)) })
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	if after := listed(); after != before {
		t.Errorf("rules after auperf stopped:\n%s\nwant (auditd's only):\n%s", after, before)
	}
	st, _ = ReadState()
	if int(st.PID) != a.cmd.Process.Pid {
		t.Errorf("audit pid %d after auperf stopped, want auditd's %d", st.PID, a.cmd.Process.Pid)
	}
	ours := r.col.snapshot()
	t.Logf("auperf (multicast): %d events, lost %v, stats %v", len(ours), r.col.lost, r.src.Stats())
	checkTruth(t, truth, ours, int32(os.Getpid()))

	// auditd's log holds the same events (its rule's msync ones and ours).
	a.stop(t)
	f, err := os.Open(a.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var theirEvents []event.Event
	keys := map[string]int{}
	if _, err := DecodeLog(f, LogConfig{Events: decode.DefaultEvents}, func(ev *event.Event) {
		if int(ev.ProcessID) == truth[0].PID {
			cp := *ev
			cp.Args = slices.Clone(ev.Args)
			theirEvents = append(theirEvents, cp)
		}
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(a.log)
	for _, k := range []string{testKey + "-auditd", testKey} {
		keys[k] = strings.Count(string(b), `key="`+k+`"`)
	}
	t.Logf("auditd's log: %d workload events, records by key %v", len(theirEvents), keys)
	if keys[testKey+"-auditd"] == 0 || keys[testKey] == 0 {
		t.Errorf("auditd's log lacks events of its rule or of ours: %v", keys)
	}
	checkTruth(t, truth, theirEvents, int32(os.Getpid()))
}

// Reading by multicast next to auditd, auperf is not the one draining the
// kernel's backlog: backlog_limit and backlog_wait_time govern auditd's
// queue only, so they stay as auditd's admin set them whatever the
// backpressure choice (drop would make auditd's log lose records, wait
// would make audited processes stall for auditd).
func TestIntegrationAuditdMulticastKeepsBacklog(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	startAuditd(t, "RAW")
	bin := workloadCopy(t, "auperf-wl-backlog")
	for _, tc := range []struct {
		wait string
		cfg  Config
	}{
		{"0", Config{Backpressure: BackpressureWait}},
		{"60000", Config{Backpressure: BackpressureDrop, BacklogLimit: 4096}},
	} {
		auditctl(t, "-b", "321", "--backlog_wait_time", tc.wait)
		want, err := ReadState()
		if err != nil {
			t.Fatal(err)
		}
		cfg := tc.cfg
		cfg.RuleFields = []string{"-F exe=" + bin}
		r := startSource(t, cfg)
		got, err := ReadState()
		if err != nil {
			t.Fatal(err)
		}
		r.stop(t)
		if got.BacklogLimit != want.BacklogLimit || got.BacklogWaitTime != want.BacklogWaitTime || got.Enabled != want.Enabled {
			t.Errorf("%s backpressure, backlog_limit %d: while auperf read by multicast: %s\nwant auditd's: %s",
				cfg.Backpressure, cfg.BacklogLimit, got, want)
		}
	}
}

// An auditd that starts while the source is the audit daemon: the kernel
// refuses it (auditd exits), the source says so once, naming the process,
// keeps tracing, and restores the host when it stops.
func TestIntegrationAuditdStartsWhileDaemon(t *testing.T) {
	ktest.Require(t)
	path, err := exec.LookPath("auditd")
	if err != nil {
		ktest.Skip(t, "auditd not installed")
	}
	before := guardState(t)
	if before.PID != 0 && processAlive(int(before.PID)) {
		ktest.Skip(t, fmt.Sprintf("an audit daemon (pid %d) is already running", before.PID))
	}
	bin := workloadCopy(t, "auperf-wl-replace")
	warned := make(chan string, 8)
	r := startSource(t, Config{RuleFields: []string{"-F exe=" + bin}, Mode: ModeUnicast,
		StatusInterval: 100 * time.Millisecond, Warn: func(l string) { warned <- l }})
	if st, _ := ReadState(); int(st.PID) != os.Getpid() {
		t.Fatalf("audit pid %d, want the source's %d", st.PID, os.Getpid())
	}

	dir, _ := auditdConfig(t, "RAW")
	cmd := exec.Command(path, "-n", "-c", dir, "-s", "nochange")
	out, err := cmd.CombinedOutput() // refused: auditd exits at once
	if err == nil {
		t.Fatalf("auditd started while the source was the daemon:\n%s", out)
	}
	t.Logf("auditd: %v: %s", err, bytes.TrimSpace(out))
	select {
	case l := <-warned:
		want := fmt.Sprintf("process %d", cmd.Process.Pid)
		if !strings.Contains(l, want) || !strings.Contains(l, "refused") {
			t.Errorf("warning %q does not name %s as refused", l, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no warning that auditd was refused")
	}
	if st, _ := ReadState(); int(st.PID) != os.Getpid() {
		t.Fatalf("audit pid %d after auditd tried, want the source's %d", st.PID, os.Getpid())
	}
	// Still tracing, call for call.
	truth := runWorkload(t, bin, "-threads", "2")
	waitFor(10*time.Second, func() bool { return r.col.count() >= len(traced(truth)) })
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	checkTruth(t, truth, r.col.snapshot(), int32(os.Getpid()))
	if len(r.col.lost) != 0 {
		t.Errorf("lost: %v", r.col.lost)
	}
	select {
	case l := <-warned:
		t.Errorf("a second warning: %q", l)
	default:
	}
}
