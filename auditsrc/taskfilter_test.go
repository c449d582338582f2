package auditsrc

import (
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/ktest"
)

// TestTaskFilterRule: never on the task list, sessionid != S, our key.
func TestTaskFilterRule(t *testing.T) {
	r, err := taskFilterRule(4242, "auperf-x")
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleString(r); !strings.Contains(got, "key=auperf-x") {
		t.Errorf("rule %s", got)
	}
	le := binary.NativeEndian
	if list, action := le.Uint32(r[0:]), le.Uint32(r[4:]); list != 1 || action != 0 {
		t.Errorf("list %d action %d, want the task list (1) and never (0)", list, action)
	}
	n := int(le.Uint32(r[offFieldCount:]))
	found := false
	for i := range n {
		if le.Uint32(r[offFields+4*i:]) == fieldSessionID {
			found = true
			if v, op := le.Uint32(r[offValues+4*i:]), le.Uint32(r[offFieldFlags+4*i:]); v != 4242 || op != opNotEqual {
				t.Errorf("sessionid field: value %d op %#x", v, op)
			}
		}
	}
	if !found || !hasKey(r, "auperf-x") {
		t.Errorf("sessionid field %v, key %v", found, hasKey(r, "auperf-x"))
	}
}

// TestIntegrationTaskFilter: with -- COMMAND and no other audit reader, a
// process forked outside the command's session while the source runs has
// no audit context: a rule that names it (by exe) logs nothing for it.
// With the filter off, the same rule logs its calls. The command itself
// is audited either way, and the task rule goes with the others.
func TestIntegrationTaskFilter(t *testing.T) {
	ktest.Require(t)
	for _, tf := range []Lean{LeanAuto, LeanOff} {
		t.Run(tf.String(), func(t *testing.T) {
			guardState(t)
			if !noOtherReader(Config{}.Paths) {
				ktest.Skip(t, "another process reads audit: the task filter is not loaded")
			}
			bin := workloadCopy(t, "auperf-wl-task")
			// (Another copy of the binary: the command's runtime makes
			// the same call.)
			other := workloadCopy(t, "auperf-wl-outside")
			// The process outside the session is forked by a shell
			// started now, before the command's session exists: the
			// test process's own threads may be in that session (a
			// thread the Go runtime started from the session's thread
			// inherits it), and a child forked from one of them would
			// be the command's kin.
			launcher := exec.Command("sh", "-c", `read go; "$0" -once -out /dev/null`, other)
			launch, err := launcher.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := launcher.Start(); err != nil {
				t.Fatal(err)
			}
			defer launcher.Wait()
			defer launch.Close()
			spec := filter.Spec{PIDs: []int{os.Getpid()}, Tree: true}
			spec.Init()
			r := startSource(t, Config{Events: []string{"msync"}, Filter: spec, StartsCommand: true, TaskFilter: tf, StatusInterval: 100 * time.Millisecond})
			out := t.TempDir() + "/in.json"
			cmd := exec.Command(bin, "-once", "-out", out, "-start-delay", "1s")
			if err := r.src.StartCommand(cmd); err != nil {
				t.Fatal(err)
			}
			ses := r.src.session.Load()
			listed := auditctl(t, "-l")
			hasTask := strings.Contains(listed, "never,task")
			if hasTask != (tf == LeanAuto) {
				t.Fatalf("task filter %s: rules while the command runs:\n%s", tf, listed)
			}
			if tf == LeanAuto && !strings.Contains(strings.Join(r.src.Warnings(), "\n"), "no audit context") {
				t.Errorf("no warning about the task filter: %q", r.src.Warnings())
			}
			// A process outside the session, named by a rule of its
			// own on its msync: a record of it reaches the source (an
			// event of its set, of a pid outside the traced tree) and
			// is counted filtered; nothing else can be (the source's
			// own rule changes log other syscalls).
			theirs := "-a always,exit -F arch=b64 -S msync -F exe=" + other + " -k " + testKey + "-outside"
			addRules(t, []string{theirs})
			before := counterValue(r.src, "filtered")
			launch.Write([]byte("go\n"))
			launch.Close()
			if err := launcher.Wait(); err != nil {
				t.Fatalf("outside: %v", err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("command: %v", err)
			}
			waitFor(3*time.Second, func() bool { return r.col.count() >= 1 && counterValue(r.src, "filtered") > before })
			time.Sleep(300 * time.Millisecond)
			outside := counterValue(r.src, "filtered") - before
			r.stop(t)
			if tf == LeanAuto && outside != 0 || tf == LeanOff && outside != 1 {
				t.Errorf("task filter %s: %d records of the process outside session %d", tf, outside, ses)
			}
			if n := r.col.count(); n != 1 {
				t.Errorf("the command's msync: %d events, want 1", n)
			}
			t.Logf("session %d: outside process records %d", ses, outside)
		})
	}
}

// counterValue is the source's counter name.
func counterValue(s *Source, name string) uint64 {
	for _, c := range s.Stats() {
		if c.Name == name {
			return c.Value
		}
	}
	return 0
}
