// Kernel tests of the command tree: its whole tree seen, nothing else, and
// a stop that comes while the session is set up.

package auditsrc

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// `-- COMMAND`: the command's whole tree (children and grandchildren that
// live a few milliseconds) is traced through its audit session, and a
// process outside it, even a child of the same parent, is not.
func TestIntegrationTreeSession(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	bin := workloadCopy(t, "auperf-wl-tree")
	dir := t.TempDir()
	spec := filter.Spec{PIDs: []int{os.Getpid()}, Tree: true}
	spec.Init()
	r := startSource(t, Config{Filter: spec, StartsCommand: true})

	one, many, outside := filepath.Join(dir, "one.json"), filepath.Join(dir, "many.json"), filepath.Join(dir, "outside.json")
	cmd := exec.Command("/bin/sh", "-c", `"$0" -once -out "$1"; "$0" -exec-short auperf-short -rounds 3 -out "$2"`, bin, one, many)
	cmd.Stderr = os.Stderr
	if err := r.src.StartCommand(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("command: %v", err)
	}
	if w := r.src.Warnings(); len(w) > 0 {
		t.Logf("warnings: %q", w)
	}
	ses := r.src.session.Load()
	if ses == 0 {
		t.Fatal("no audit session for the command")
	}
	// A sibling outside the command's session.
	if out, err := exec.Command(bin, "-once", "-out", outside).CombinedOutput(); err != nil {
		t.Fatalf("outside workload: %v\n%s", err, out)
	}
	var truth []workload.Call
	for _, f := range []string{one, many} {
		c, err := workload.ReadTruth(f)
		if err != nil {
			t.Fatal(err)
		}
		truth = append(truth, c...)
	}
	outTruth, err := workload.ReadTruth(outside)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(10*time.Second, func() bool { return r.col.count() >= len(truth) })
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	events := r.col.snapshot()
	if len(truth) != 4 {
		t.Fatalf("truth has %d calls, want 4 (1 + 3 short-lived copies)", len(truth))
	}
	byPid := map[int32][]*event.Event{}
	for i := range events {
		ev := &events[i]
		if ev.SessionID != ses {
			t.Errorf("event outside session %d: %s ses=%d", ses, describe(ev), ev.SessionID)
		}
		byPid[ev.ProcessID] = append(byPid[ev.ProcessID], ev)
	}
	for _, c := range truth {
		found := false
		for _, ev := range byPid[int32(c.PID)] {
			if ev.EventName == "msync" && ev.ReturnValue == c.Ret && ev.Args[0].Value == c.Args[0] {
				found = true
				if ev.ProcessName != c.Comm || ev.ExecutablePath != c.Exe {
					t.Errorf("pid %d: %q %q, want %q %q", c.PID, ev.ProcessName, ev.ExecutablePath, c.Comm, c.Exe)
				}
			}
		}
		if !found {
			t.Errorf("msync of %s pid %d not captured", c.Comm, c.PID)
		}
		if !spec.Procs.Contains(c.PID) {
			t.Errorf("pid %d not in the user-space tree", c.PID)
		}
	}
	if len(byPid[int32(outTruth[0].PID)]) != 0 {
		t.Errorf("process outside the tree captured: %d events", len(byPid[int32(outTruth[0].PID)]))
	}
	t.Logf("session %d: %d events from %d processes; truth %d calls", ses, len(events), len(byPid), len(truth))
}

// A stop (SIGINT right at start) that comes while StartCommand sets up the
// rules: the host-wide fallback must not add rules after the stop removed
// ours, or they outlive the run.
func TestIntegrationStopBeforeWiden(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	bin := workloadCopy(t, "auperf-wl-widen")
	spec := filter.Spec{PIDs: []int{os.Getpid()}, Tree: true}
	spec.Init()
	src, err := New(Config{Key: testKey, StateDir: t.TempDir(), Filter: spec, StartsCommand: true,
		RuleFields: []string{"-F exe=" + bin}})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Attach(); err != nil {
		t.Fatal(err)
	}
	ss := src.sess
	if err := ss.removeRules(); err != nil { // what Run does when its ctx is done
		t.Fatal(err)
	}
	if err := ss.narrowToSession(1); err == nil {
		t.Error("rules narrowed after the stop")
	}
	ss.widen() // StartCommand's fallback
	t.Logf("warnings: %q", src.Warnings())
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Rules {
		if hasKey(r, testKey) {
			t.Errorf("rule left after the source closed: %s", ruleString(r))
		}
	}
}
