// Tests of the guest checker on plans from fixture roots and truth and
// events written here: exact runs pass; a missing, doubled or wrongly
// sourced call fails; a refusal passes only where probe said so.

package vmtest

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/workload"
	"github.com/auperf/auperf/selector"
)

// probeFile writes what `auperf probe --json --source force` says on a
// fixture root.
func probeFile(t *testing.T, dir, root string, force selector.Source) (string, int) {
	t.Helper()
	cfg, err := selector.FixtureConfig(filepath.Join("..", "..", "testdata", "roots", root))
	if err != nil {
		t.Fatal(err)
	}
	cfg.B32 = selector.B32On // the guests' auto runs take 32-bit calls only where probe plans them
	h := selector.Probe(cfg, decode.DefaultEvents)
	plan, perr := h.Plan(decode.DefaultEvents, force)
	b, err := json.Marshal(selector.NewReport(h, plan, perr))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "probe-"+root+"-"+string(force)+".json")
	os.WriteFile(path, b, 0o644)
	if perr != nil {
		return path, 2
	}
	return path, 0
}

// run writes truth calls and the events a tracer wrote for them (each
// call's wanted event from source src, repeated as times says) and
// checks them.
func run(t *testing.T, probe string, probeExit int, calls []workload.Call, src func(workload.Call) string, times func(int) int) Result {
	t.Helper()
	dir := t.TempDir()
	var truth, events []byte
	for i, c := range calls {
		b, _ := json.Marshal(c)
		truth = append(append(truth, b...), '\n')
		var ev event.Event
		a, _ := decode.ArchByName(c.Arch)
		decode.Decode(&ev, &decode.Raw{Arch: a, Nr: int32(c.Nr), Args: c.Args, Known: uint8(1<<c.NArgs - 1), Ret: c.Ret, HasRet: true}, nil)
		ev.Known |= event.HasProcess | event.HasThread
		ev.ProcessID, ev.ThreadID, ev.Source = int32(c.PID), int32(c.TID), src(c)
		for range times(i) {
			events = event.AppendJSON(events, &ev)
		}
	}
	os.WriteFile(filepath.Join(dir, "truth.json"), truth, 0o644)
	os.WriteFile(filepath.Join(dir, "ev.json"), events, 0o644)
	return Check(CheckConfig{Source: "auto", Probe: probe, ProbeExit: probeExit, Truth: filepath.Join(dir, "truth.json"), Events: filepath.Join(dir, "ev.json")})
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	probe, st := probeFile(t, dir, "linux-6.18", selector.SourceAuto) // perf for all, b32 rules
	calls := []workload.Call{
		{PID: 10, TID: 11, Arch: "x86_64", Nr: 26, Name: "msync", Args: [6]uint64{0x5000, 0x3000, 4}, NArgs: 3, Ret: -12, Label: "a"},
		{PID: 10, TID: 11, Arch: "i386", Nr: 144, Name: "msync", Args: [6]uint64{0x5000, 0x1000, 1}, NArgs: 3, Ret: 0, Label: "b"},
	}
	planned := func(c workload.Call) string {
		if c.Arch == "i386" {
			return "audit"
		}
		return "perf"
	}
	once := func(int) int { return 1 }
	if r := run(t, probe, st, calls, planned, once); !r.Passed() || r.Matched["perf"] != 1 || r.Matched["audit"] != 1 {
		t.Errorf("exact run: %+v", r)
	}
	if r := run(t, probe, st, calls, planned, func(i int) int { return i }); r.Passed() || r.Missing != 1 {
		t.Errorf("a call missing: %+v", r)
	}
	if r := run(t, probe, st, calls, planned, func(int) int { return 2 }); r.Passed() || r.Extra != 2 {
		t.Errorf("every call twice: %+v", r)
	}
	if r := run(t, probe, st, calls, func(workload.Call) string { return "audit" }, once); r.Passed() || r.Missing != 1 {
		t.Errorf("a native call by audit where probe planned perf: %+v", r)
	}

	// Probe says perf cannot work: run must refuse (exit 2).
	masked, st := probeFile(t, dir, "tracefs-masked", selector.SourcePerf)
	if st != 2 {
		t.Fatalf("probe of forced perf on tracefs-masked: %d", st)
	}
	if r := Check(CheckConfig{Source: "perf", Probe: masked, ProbeExit: 2, RunExit: 2}); !r.Passed() || !r.Refused || !strings.Contains(r.Reason, "covered by a tmpfs mount") {
		t.Errorf("refused as probe said: %+v", r)
	}
	if r := Check(CheckConfig{Source: "perf", Probe: masked, ProbeExit: 2, RunExit: 0}); r.Passed() {
		t.Errorf("run did what probe said it cannot: %+v", r)
	}
}

// Reported ring loss covers missing calls only where the run accepts
// loss (the hotplug run), and only up to the records reported lost.
func TestCheckAcceptLoss(t *testing.T) {
	dir := t.TempDir()
	probe, st := probeFile(t, dir, "linux-6.18", selector.SourcePerf)
	calls := []workload.Call{
		{PID: 10, TID: 11, Arch: "x86_64", Nr: 26, Name: "msync", Args: [6]uint64{0x5000, 0x3000, 4}, NArgs: 3, Ret: -12, Label: "a"},
		{PID: 10, TID: 11, Arch: "x86_64", Nr: 26, Name: "msync", Args: [6]uint64{0x6000, 0x3000, 4}, NArgs: 3, Ret: -12, Label: "b"},
	}
	var truth, events []byte
	for _, c := range calls {
		b, _ := json.Marshal(c)
		truth = append(append(truth, b...), '\n')
	}
	var ev event.Event
	event.NewLost(&ev, 1, event.SourcePerf, 0, 1, "ring") // one record: at most one call
	events = event.AppendJSON(events, &ev)
	os.WriteFile(filepath.Join(dir, "truth.json"), truth, 0o644)
	os.WriteFile(filepath.Join(dir, "ev.json"), events, 0o644)
	cfg := CheckConfig{Source: "perf", Probe: probe, ProbeExit: st, Truth: filepath.Join(dir, "truth.json"), Events: filepath.Join(dir, "ev.json")}
	if r := Check(cfg); r.Passed() {
		t.Errorf("loss not accepted, yet passed: %+v", r)
	}
	cfg.AcceptLoss = true
	if r := Check(cfg); r.Passed() || r.Missing != 2 {
		t.Errorf("2 calls missing, 1 record lost: %+v", r)
	}
	event.NewLost(&ev, 2, event.SourcePerf, 0, 1, "ring")
	os.WriteFile(filepath.Join(dir, "ev.json"), event.AppendJSON(events, &ev), 0o644)
	if r := Check(cfg); !r.Passed() {
		t.Errorf("2 calls missing, 2 records lost, loss accepted: %+v", r)
	}
}

// TestShowLines: every shown line must come with a number; a missing or
// empty one (the bystander failed) fails the boot.
func TestShowLines(t *testing.T) {
	v := Variant{Name: "lasting cost", Shows: []string{"fresh boot", "after an audit run"}}
	lines := func(vals ...string) Booted {
		var bt Booted
		for i, s := range v.Shows {
			bt.Lines = append(bt.Lines, Line{"LOG", "lasting: " + s + ": " + vals[i] + " getppid/s"})
		}
		return bt
	}
	var out strings.Builder
	if !showLines(&out, v, lines("1307815", "1004648")) {
		t.Errorf("complete lines refused:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "  after an audit run: 1004648 getppid/s\n") {
		t.Errorf("printed:\n%s", out.String())
	}
	if showLines(io.Discard, v, lines("1307815", "")) {
		t.Error("a line without a number accepted")
	}
	if showLines(io.Discard, v, Booted{Lines: []Line{{"LOG", "lasting: fresh boot: 1 getppid/s"}}}) {
		t.Error("a missing line accepted")
	}
}
