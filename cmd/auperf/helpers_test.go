// Helpers of the command's tests: building the binary, running it, reading
// its events and matching them with the workload's truth, guarding audit.

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// buildAuperf builds this command into dir.
func buildAuperf(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "auperf")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build auperf: %v\n%s", err, out)
	}
	return bin
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// outEvent is one line of auperf's JSON output, as the tests read it.
type outEvent struct {
	PID    int    `json:"processId"`
	TID    *int   `json:"threadId"`
	Comm   string `json:"processName"`
	Name   string `json:"eventName"`
	ID     string `json:"eventId"`
	Arch   string `json:"arch"`
	Ret    any    `json:"returnValue"`
	Errno  string `json:"errno"`
	Source string `json:"source"`
	Args   []struct {
		Name    string `json:"name"`
		Value   any    `json:"value"`
		Decoded string `json:"decoded"`
	} `json:"args"`
}

func readEvents(t *testing.T, path string) []outEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []outEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev outEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		if ev.Source != event.SourceAuperf {
			out = append(out, ev)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantEvent is what auperf must write for a truth call: decode's view of
// it, through the same JSON encoder.
func wantEvent(t *testing.T, c workload.Call) outEvent {
	t.Helper()
	arch := decode.ArchX86_64
	if c.Arch == "i386" {
		arch = decode.ArchI386
	}
	var ev event.Event
	decode.Decode(&ev, &decode.Raw{Arch: arch, Nr: int32(c.Nr), Args: c.Args,
		Known: uint8(1<<c.NArgs - 1), Ret: c.Ret, HasRet: true}, nil)
	var w outEvent
	if err := json.Unmarshal(event.AppendJSON(nil, &ev), &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// memoryCall reports whether c is a call of the default events (in its
// arch's names), and so one that auperf run must report.
func memoryCall(c workload.Call) bool {
	for _, e := range decode.DefaultEvents {
		if c.Arch == "x86_64" && c.Name == e || c.Arch == "i386" && slices.Contains(decode.I386Names(e), c.Name) {
			return true
		}
	}
	return false
}

// matchTruth pairs every truth call that keep selects with one event of
// got (each used once) and checks pid, tid (perf), arch, number, return
// value, errno and every argument that the source can know (audit: a0..a3,
// later ones null unless a record gave them), and which source reported
// it. It returns how many calls it matched per source.
func matchTruth(t *testing.T, truth []workload.Call, got []outEvent, keep func(workload.Call) bool, sourceOf func(workload.Call) string) map[string]int {
	t.Helper()
	used := make([]bool, len(got))
	matched := map[string]int{}
	missing := 0
	for _, c := range truth {
		if !keep(c) {
			continue
		}
		w := wantEvent(t, c)
		src := sourceOf(c)
		idx := -1
		for i, g := range got {
			if used[i] || g.PID != c.PID || g.Arch != c.Arch || g.ID != w.ID || g.Source != src ||
				!reflect.DeepEqual(g.Ret, w.Ret) || g.Errno != w.Errno || len(g.Args) != len(w.Args) {
				continue
			}
			if src == event.SourcePerf && (g.TID == nil || *g.TID != c.TID) {
				continue
			}
			ok := true
			for j, a := range w.Args {
				gv := g.Args[j].Value
				if src == event.SourceAudit && j >= 4 && gv == nil {
					continue // audit records a0..a3 only
				}
				if !reflect.DeepEqual(gv, a.Value) || g.Args[j].Name != a.Name || g.Args[j].Decoded != a.Decoded {
					ok = false
					break
				}
			}
			if ok {
				idx = i
				break
			}
		}
		if idx < 0 {
			missing++
			if missing <= 10 {
				t.Errorf("%s %s %s (source %s) not reported exactly: truth %+v", c.Label, c.Arch, c.Name, src, c)
			}
			continue
		}
		used[idx] = true
		matched[src]++
	}
	if missing > 0 {
		t.Errorf("%d truth calls not reported", missing)
	}
	t.Logf("matched per source: %v (of %d events)", matched, len(got))
	return matched
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
	t.Cleanup(func() { cmd.Process.Kill() })
	return exited, stderr
}
