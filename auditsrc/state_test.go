// Kernel tests of restoring: every way a source stops (SIGTERM under load,
// SIGKILL then the next start, a failed attach) leaves audit as found.

package auditsrc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/host"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/internal/ktest"
)

// SIGTERM while a workload hammers the rules: the helper drains, deletes
// its rules, hands the pid back and restores the status (guardState).
func TestIntegrationStateAfterSIGTERMUnderLoad(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	bin := workloadCopy(t, "auperf-wl-term")
	h := startHelper(t, t.TempDir(), "-F exe="+bin)
	wl := exec.Command(bin, "-loop", "100000", "-summary", filepath.Join(t.TempDir(), "sum.json"))
	if err := wl.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out, err := h.wait(t)
	t.Logf("helper: %s", out)
	if err != nil {
		t.Errorf("helper after SIGTERM: %v", err)
	}
	if err := wl.Wait(); err != nil {
		t.Errorf("workload: %v", err)
	}
}

// SIGKILL leaves rules, enabled=1 and the backlog settings behind; the next
// start removes the stale rules and restores what the killed run found.
func TestIntegrationStateAfterSIGKILLAndRestart(t *testing.T) {
	ktest.Require(t)
	before := guardState(t)
	stateDir := t.TempDir()
	bin := workloadCopy(t, "auperf-wl-kill")
	h := startHelper(t, stateDir, "-F exe="+bin)
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	h.wait(t)
	left, err := ReadState()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("left behind by the killed source:\n%s", left)
	if left.Equal(before) {
		t.Fatal("the killed source left nothing behind: the restart below would prove nothing")
	}
	if _, err := os.Stat(filepath.Join(stateDir, "audit-"+testKey+".json")); err != nil {
		t.Errorf("no saved state: %v", err)
	}
	lean := noOtherReader(host.Paths{})
	if n := exclusionsLoaded(t); lean && n != 2 {
		t.Errorf("the killed source (lean, nobody else reading audit) left %d exclusions, want 2", n)
	}
	// Restarted without lean records: the killed run's exclusions, which
	// carry no key, must go by the state file alone.
	r := startSource(t, Config{StateDir: stateDir, RuleFields: []string{"-F exe=" + bin}, Lean: LeanOff})
	if n := exclusionsLoaded(t); n != 0 {
		t.Errorf("after a restart with lean off, %d exclusions of the killed run are still loaded", n)
	}
	truth := runWorkload(t, bin, "-once")
	waitFor(5*time.Second, func() bool { return r.col.count() >= len(truth) })
	r.stop(t)
	if r.col.count() < len(truth) {
		t.Errorf("restarted source saw %d events, want at least %d", r.col.count(), len(truth))
	}
}

// A failure to read the audit state once the lock is taken changes
// nothing: no status is "restored" from a state that was never read (a
// zero one would disable audit and zero the backlog settings), and a
// crashed run's saved state is kept for the next start.
func TestIntegrationAttachReadStateFailure(t *testing.T) {
	ktest.Require(t)
	before := guardState(t)
	stateDir := t.TempDir()
	src, err := New(Config{Key: testKey, StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	// What a crashed run (another pid) found: the current state.
	saved, err := json.Marshal(savedState{PID: 1, State: before})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(stateDir, "audit-"+testKey+".json")
	if err := os.WriteFile(path, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected read failure")
	readStateOf = func(*conn) (State, error) { return State{}, injected }
	t.Cleanup(func() { readStateOf = readState })

	if err := src.Attach(); !errors.Is(err, injected) {
		t.Errorf("Attach: %v, want the read failure", err)
	}
	after, err := ReadState()
	if err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) {
		t.Errorf("audit state after a failed Attach:\n%s\nwant:\n%s", after, before)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, saved) {
		t.Errorf("saved state of the crashed run: %q, want it kept: %q", b, saved)
	}
}

// A rule the kernel rejects half way through Attach (after audit was
// enabled, the pid taken, the backlog set and the never rules added):
// Attach fails and everything is as it was, the saved state cleared.
func TestIntegrationAttachRuleRejected(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	stateDir := t.TempDir()
	src, err := New(Config{Key: testKey, StateDir: stateDir, RuleFields: []string{"-F path=relative"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Attach(); err == nil {
		src.Close()
		t.Fatal("the kernel took a relative path rule")
	} else {
		t.Logf("Attach: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(stateDir, "audit-"+testKey+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("saved state after the failed Attach, all undone: %q, %v; want no file", b, err)
	}
}

// While another source holds the state lock (a live auperf with the same
// key), a second one refuses to attach and neither applies the saved
// state nor touches audit.
func TestIntegrationAttachWhileLocked(t *testing.T) {
	ktest.Require(t)
	before := guardState(t)
	stateDir := t.TempDir()
	held, err := lockState(stateDir, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer held.unlock()
	other := before
	other.BacklogLimit, other.Enabled = before.BacklogLimit+1, 1
	if err := held.write(other, nil); err != nil { // what the live one found
		t.Fatal(err)
	}
	path := filepath.Join(stateDir, "audit-"+testKey+".json")
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(Config{Key: testKey, StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Attach(); err == nil || !strings.Contains(err.Error(), "another auperf") {
		src.Close()
		t.Fatalf("Attach next to a live source: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, saved) {
		t.Errorf("saved state changed: %q, want %q", b, saved)
	}
}

// TestIntegrationCloseAfterRun: Close after Run has returned changes
// nothing and closes nothing: the fds Run closed may belong to files
// opened since.
func TestIntegrationCloseAfterRun(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	r := startSource(t, Config{Events: []string{"msync"}, RuleFields: []string{"-F exe=/nonexistent"}})
	r.stop(t)
	// Take the lowest free fds, those Run just closed.
	var files []*os.File
	for range 8 {
		f, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	if err := r.src.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
	for _, f := range files {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Errorf("fd %d, opened after Run returned, closed by Close: %v", f.Fd(), err)
		}
	}
}

// TestIntegrationNoKernelLogSpam: a start and stop with audit off (as
// this host boots) prints none of auperf's audit records to the kernel
// log: the changes are undone while auperf is still the daemon.
func TestIntegrationNoKernelLogSpam(t *testing.T) {
	ktest.Require(t)
	before := guardState(t)
	if before.Enabled != 0 || before.PID != 0 {
		ktest.Skip(t, "needs audit off and no audit daemon, as found at boot without audit=1")
	}
	// A raw non-blocking fd: os.File's Fd() would make reads block.
	kmsg, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		ktest.Skip(t, "no /dev/kmsg: "+err.Error())
	}
	defer unix.Close(kmsg)
	if _, err := unix.Seek(kmsg, 0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	r := startSource(t, Config{Events: []string{"msync"}, RuleFields: []string{"-F exe=/nonexistent"}})
	r.stop(t)
	self := strconv.Itoa(os.Getpid())
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(kmsg, buf)
		if err == unix.EPIPE {
			continue // overwritten records
		}
		if err != nil || n <= 0 {
			break
		}
		line := string(buf[:n])
		if strings.Contains(line, "audit: type=") && (strings.Contains(line, "pid="+self+" ") || strings.Contains(line, "old="+self+" ")) {
			t.Errorf("printed to the kernel log: %s", strings.TrimSpace(line))
		}
	}
}

// TestIntegrationKeepsOthersChanges: a status change someone else makes
// while the source runs stays: to a field the source did not change
// (rate_limit) and to one it did (backlog_limit, set to 8192 as the
// daemon). What the source changed and nobody touched (enabled) goes
// back.
func TestIntegrationKeepsOthersChanges(t *testing.T) {
	ktest.Require(t)
	before := guardState(t)
	if before.Enabled != 0 || before.PID != 0 || before.BacklogLimit >= DefaultBacklogLimit || before.RateLimit != 0 {
		ktest.Skip(t, "needs audit off, no daemon, a backlog_limit below 8192 and no rate limit, as at boot")
	}
	c, err := openConn(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // before guardState's check: put back what "the admin" changed
		if err := restoreStatus(c, before, nil); err != nil {
			t.Error(err)
		}
		c.Close()
	})
	r := startSource(t, Config{Events: []string{"msync"}, RuleFields: []string{"-F exe=/nonexistent"}})
	admin := libaudit.AuditStatus{Mask: libaudit.AuditStatusRateLimit | libaudit.AuditStatusBacklogLimit, RateLimit: 54321, BacklogLimit: 9000}
	if err := setStatus(c, admin); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	after, err := readState(c)
	if err != nil {
		t.Fatal(err)
	}
	if after.RateLimit != 54321 || after.BacklogLimit != 9000 {
		t.Errorf("the admin's rate_limit 54321 and backlog_limit 9000 became %d and %d", after.RateLimit, after.BacklogLimit)
	}
	if after.Enabled != before.Enabled || after.BacklogWaitTime != before.BacklogWaitTime {
		t.Errorf("enabled %d, backlog_wait_time %d; want %d and %d as found", after.Enabled, after.BacklogWaitTime, before.Enabled, before.BacklogWaitTime)
	}
}

// TestIntegrationStateFileGone: a clean stop leaves no state file, and no
// state directory when the source made it; a lock taken on a state file
// that was unlinked meanwhile is not kept (the source locks the new one).
func TestIntegrationStateFileGone(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	dir := filepath.Join(t.TempDir(), "run-auperf")
	r := startSource(t, Config{Events: []string{"msync"}, RuleFields: []string{"-F exe=/nonexistent"}, StateDir: dir})
	if _, err := os.Stat(filepath.Join(dir, "audit-"+testKey+".json")); err != nil {
		t.Errorf("no state file while running: %v", err)
	}
	r.stop(t)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory after a clean stop: %v; want it gone", err)
	}

	// An unlinked file's lock does not count.
	dir = t.TempDir()
	a, err := lockState(dir, testKey)
	if err != nil {
		t.Fatal(err)
	}
	a.cleared = true
	path := a.path
	old, err := os.Open(path) // a racer that opened the file before the unlink
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	a.unlock()
	if same, _ := samePath(old, path); same {
		t.Fatal("the file was not unlinked")
	}
	b, err := lockState(dir, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer b.unlock()
	if err := unix.Flock(int(old.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("lock on the unlinked file: %v", err)
	}
	if same, _ := samePath(old, path); same {
		t.Error("the unlinked file is the live one")
	}
	if _, err := lockState(dir, testKey); err == nil {
		t.Error("a second source locked the state file the first holds")
	}
}
