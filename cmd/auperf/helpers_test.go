// Helpers of the command's tests: building the binary, running it, reading
// its events and matching them with the workload's truth, guarding audit.

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// buildAuperf builds this command into dir (or takes the prebuilt one of
// $AUPERF_BIN, as in a vmtest guest without a Go toolchain).
func buildAuperf(t *testing.T, dir string) string {
	t.Helper()
	if bin := os.Getenv(workload.BinEnv); bin != "" {
		return filepath.Join(bin, "auperf")
	}
	bin := filepath.Join(dir, "auperf")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build auperf: %v\n%s", err, out)
	}
	return bin
}

// checkGolden compares got with the golden file, or (-update) rewrites it.
// It reports whether they were compared and equal.
func checkGolden(t *testing.T, golden, got string) bool {
	t.Helper()
	if *update {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return false
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update if intended):\n got:\n%s\nwant:\n%s", golden, got, want)
		return false
	}
	return true
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// outEvent is one line of auperf's JSON output, as the tests read it.
type outEvent = workload.Event

func readEvents(t *testing.T, path string) []outEvent {
	t.Helper()
	out, _ := readOwn(t, path)
	return out
}

// readOwn reads the events and auperf's own events (auperf_stats,
// auperf_lost) of a JSON output.
func readOwn(t *testing.T, path string) (events, own []outEvent) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events, own, err = workload.ReadEvents(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return events, own
}

// memoryCall reports whether c is a call of the default events (in its
// arch's names), and so one that auperf run must report.
func memoryCall(c workload.Call) bool { return workload.MemoryCall(c) }

// matchTruth pairs every truth call that keep selects with one event of
// got (each used once) and checks pid, tid (perf), arch, number, return
// value, errno and every argument that the source can know (audit: a0..a3,
// later ones null unless a record gave them), and which source reported
// it (workload.Match). It returns how many calls it matched per source.
func matchTruth(t *testing.T, truth []workload.Call, got []outEvent, keep func(workload.Call) bool, sourceOf func(workload.Call) string) map[string]int {
	t.Helper()
	m, err := workload.Match(truth, got, keep, sourceOf)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range m.Missing {
		if i == 10 {
			break
		}
		t.Errorf("%s %s %s (source %s) not reported exactly: truth %+v", c.Label, c.Arch, c.Name, sourceOf(c), c)
	}
	if len(m.Missing) > 0 {
		t.Errorf("%d truth calls not reported", len(m.Missing))
	}
	for i, e := range m.Extra {
		if i == 10 {
			break
		}
		t.Errorf("a call reported again: %s %s (source %s) of pid %d", e.Arch, e.Name, e.Source, e.PID)
	}
	t.Logf("matched per source: %v (of %d events)", m.PerSource, len(got))
	return m.PerSource
}

// auditState is what auditctl says of the audit settings auperf may
// change (enabled, pid, backlog_limit, backlog_wait_time, rate_limit) and
// the rule list.
func auditState(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("auditctl"); err != nil {
		ktest.Skip(t, "auditctl not installed (package auditd)")
	}
	s, err := exec.Command("auditctl", "-s").Output()
	if err != nil {
		t.Fatalf("auditctl -s: %v", err)
	}
	var fields []string
	for _, l := range strings.Split(string(s), "\n") {
		k, _, _ := strings.Cut(l, " ")
		switch k {
		case "enabled", "pid", "backlog_limit", "backlog_wait_time", "rate_limit":
			fields = append(fields, l)
		}
	}
	if len(fields) != 5 {
		t.Fatalf("auditctl -s: want 5 fields, got %q", s)
	}
	l, err := exec.Command("auditctl", "-l").Output()
	if err != nil {
		t.Fatalf("auditctl -l: %v", err)
	}
	return strings.Join(fields, "\n") + "\n" + string(l)
}

// guardAudit checks, when t ends, that the audit state is as it was.
func guardAudit(t *testing.T) {
	t.Helper()
	before := auditState(t)
	t.Cleanup(func() {
		if after := auditState(t); after != before {
			t.Errorf("audit state changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// runAuperf runs the built auperf and returns its exit status and stderr.
func runAuperf(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stdout = os.Stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("auperf %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// startCmd starts cmd with its stderr kept, kills it when the test ends if
// it still runs, and returns what its Wait returns and its stderr.
func startCmd(t *testing.T, cmd *exec.Cmd) (<-chan error, *strings.Builder) {
	t.Helper()
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Still running (the test failed half way): a stop that
		// restores the host, and only then SIGKILL.
		if cmd.ProcessState == nil && cmd.Process.Signal(syscall.SIGTERM) == nil {
			select {
			case <-exited:
				return
			case <-time.After(20 * time.Second):
			}
		}
		cmd.Process.Kill()
	})
	return exited, stderr
}
