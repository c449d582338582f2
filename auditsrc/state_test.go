package auditsrc

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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
		t.Log("the killed source left nothing behind (unexpected but harmless)")
	}
	if _, err := os.Stat(filepath.Join(stateDir, "audit-"+testKey+".json")); err != nil {
		t.Errorf("no saved state: %v", err)
	}
	r := startSource(t, Config{StateDir: stateDir, RuleFields: []string{"-F exe=" + bin}})
	truth := runWorkload(t, bin, "-once")
	waitFor(5*time.Second, func() bool { return r.col.count() >= len(truth) })
	r.stop(t)
	if r.col.count() < len(truth) {
		t.Errorf("restarted source saw %d events, want at least %d", r.col.count(), len(truth))
	}
}
