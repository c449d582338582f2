// Kernel tests of exact capture: the workload's calls (64- and 32-bit)
// against its truth, the filters, the contract.

package auditsrc

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/source"
	"github.com/auperf/auperf/internal/workload"
)

// traced keeps the calls of the default events (the workload makes a few
// more, such as mincore and pkey_mprotect).
func traced(truth []workload.Call) []workload.Call {
	var out []workload.Call
	for _, c := range truth {
		name := c.Name
		if name == "mmap2" {
			name = "mmap"
		}
		if slices.Contains(decode.DefaultEvents, name) {
			out = append(out, c)
		}
	}
	return out
}

// hasMmapRecord: the kernel logs MMAP (fd, flags) for every mmap that is
// not MAP_ANONYMOUS, before it even looks the fd up (ksys_mmap_pgoff), but
// x86_64's mmap rejects an offset that is not page aligned before that.
func hasMmapRecord(c workload.Call) bool {
	switch {
	case c.Name == "mmap2":
	case c.Name == "mmap" && c.Arch == "x86_64":
		if c.Args[5]&0xfff != 0 {
			return false
		}
	default:
		return false
	}
	return c.Args[3]&mapAnonymous == 0
}

// checkTruth checks that every call of truth appears exactly once among
// events with exact a0..a3, return value, pid, ppid, comm, exe, null
// arguments past a3, and mmap's fd from the MMAP record.
func checkTruth(t *testing.T, truth []workload.Call, events []event.Event, ppid int32) {
	t.Helper()
	truth = traced(truth)
	byKey := map[callKey][]*event.Event{}
	for i := range events {
		ev := &events[i]
		byKey[keyOf(ev, ev.ProcessID)] = append(byKey[keyOf(ev, ev.ProcessID)], ev)
	}
	want := map[callKey]int{}
	for _, c := range truth {
		_, k := expected(c, false)
		want[k]++
	}
	bad := 0
	for _, c := range truth {
		fileMmap := hasMmapRecord(c)
		exp, k := expected(c, fileMmap)
		got := byKey[k]
		if len(got) != want[k] {
			bad++
			if bad < 20 {
				t.Errorf("%s %s(%#x) = %d (%s): %d events, want %d", c.Label, c.Name, c.Args[:c.NArgs], c.Ret, c.Arch, len(got), want[k])
			}
			continue
		}
		ev := got[0]
		if ppid >= 0 && (ev.ParentProcessID != ppid || ev.Known&event.HasParent == 0) {
			t.Errorf("%s: ppid %d, want %d", c.Label, ev.ParentProcessID, ppid)
		}
		if ev.ProcessName != c.Comm || ev.ExecutablePath != c.Exe {
			t.Errorf("%s: comm %q exe %q, want %q %q", c.Label, ev.ProcessName, ev.ExecutablePath, c.Comm, c.Exe)
		}
		if ev.EventName != exp.EventName || ev.Arch != c.Arch || ev.Errno != c.Errno || ev.ReturnValue != c.Ret {
			t.Errorf("%s: %s/%s ret=%d errno=%q, want %s/%s ret=%d errno=%q", c.Label, ev.Arch, ev.EventName, ev.ReturnValue, ev.Errno, c.Arch, exp.EventName, c.Ret, c.Errno)
		}
		if ev.Source != event.SourceAudit || ev.Timestamp == 0 || ev.Known&event.HasThread != 0 {
			t.Errorf("%s: source %q ts %d known %b", c.Label, ev.Source, ev.Timestamp, ev.Known)
		}
		if len(ev.Args) != len(exp.Args) {
			t.Errorf("%s: %d args, want %d", c.Label, len(ev.Args), len(exp.Args))
			continue
		}
		for i := range ev.Args {
			g, w := ev.Args[i], exp.Args[i]
			if i >= 4 && !(i == 4 && fileMmap) {
				w.Kind = event.ArgNull
				w.Value = 0
			}
			if g.Name != w.Name || g.Kind != w.Kind || (g.Kind != event.ArgNull && g.Value != w.Value) {
				t.Errorf("%s: arg %d = %+v, want %+v", c.Label, i, g, w)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d calls not matched exactly once (%d events)", bad, len(truth), len(events))
	}
}

func TestIntegrationWorkloadTruth(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	bin := workloadCopy(t, "auperf-wl-audit")
	r := startSource(t, Config{RuleFields: []string{"-F exe=" + bin}})
	truth := runWorkload(t, bin, "-threads", "4", "-rounds", "2")
	waitFor(10*time.Second, func() bool { return r.col.count() >= len(truth) })
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	events := r.col.snapshot()
	t.Logf("truth %d calls, %d events, lost %v, stats %v", len(truth), len(events), r.col.lost, r.src.Stats())
	checkTruth(t, truth, events, int32(os.Getpid()))
	if len(r.col.lost) != 0 {
		t.Errorf("lost: %v", r.col.lost)
	}
}

func TestIntegrationInt80(t *testing.T) {
	ktest.Require(t)
	if !workload.HaveInt80 {
		ktest.Skip(t, "int $0x80 needs amd64")
	}
	guardState(t)
	bin := workloadCopy(t, "auperf-wl-int80")
	r := startSource(t, Config{RuleFields: []string{"-F exe=" + bin}})
	truth := runWorkload(t, bin, "-threads", "2", "-int80")
	waitFor(10*time.Second, func() bool { return r.col.count() >= len(truth) })
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	events := r.col.snapshot()
	n32 := 0
	names := map[string]bool{}
	for _, c := range truth {
		if c.Arch == "i386" {
			n32++
			names[c.Name] = true
		}
	}
	if n32 == 0 {
		t.Fatal("workload made no i386 calls")
	}
	for _, want := range []string{"msync", "mmap2", "mprotect"} {
		if !names[want] {
			t.Errorf("workload made no i386 %s", want)
		}
	}
	got32 := 0
	for i := range events {
		if events[i].Arch == "i386" {
			got32++
		}
	}
	t.Logf("truth %d calls (%d i386 %v), %d events (%d i386)", len(truth), n32, names, len(events), got32)
	checkTruth(t, truth, events, int32(os.Getpid()))
}

// --failed goes into the rules (success=0), --comm is matched in user
// space: only the failing calls of the named process arrive, all of them.
func TestIntegrationFilters(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	bin := workloadCopy(t, "auperf-wl-failed")
	spec := filter.Spec{Failed: true, Comms: []string{"auperf-wl-faile"}} // comm is 15 bytes
	r := startSource(t, Config{Filter: spec, RuleFields: []string{"-F exe=" + bin}})
	for _, l := range r.src.Rules() {
		if strings.HasPrefix(l, "-a always") && !strings.Contains(l, "-F success=0") {
			t.Errorf("--failed not in rule %s", l)
		}
	}
	truth := runWorkload(t, bin, "-threads", "2")
	var failed []workload.Call
	for _, c := range traced(truth) {
		if c.Failed() {
			failed = append(failed, c)
		}
	}
	waitFor(10*time.Second, func() bool { return r.col.count() >= len(failed) })
	time.Sleep(300 * time.Millisecond)
	r.stop(t)
	events := r.col.snapshot()
	for i := range events {
		if events[i].ReturnValue >= 0 || events[i].ProcessName != "auperf-wl-faile" {
			t.Errorf("unexpected event %s", describe(&events[i]))
		}
	}
	if len(failed) == 0 {
		t.Fatal("the workload made no failing call")
	}
	checkTruth(t, failed, events, int32(os.Getpid()))
	t.Logf("%d failing calls of %d, %d events", len(failed), len(truth), len(events))
}

// TestIntegrationContract: the source contract on the real kernel: a
// second Attach returns the first's result without adding rules twice;
// Close is idempotent and restores the state; Attach and Run after Close
// are source.ErrClosed and change nothing.
func TestIntegrationContract(t *testing.T) {
	ktest.Require(t)
	before := guardState(t)
	src, err := New(Config{Key: testKey, StateDir: t.TempDir(), Events: []string{"msync"}, RuleFields: []string{"-F exe=/nonexistent"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Attach(); err != nil {
		t.Fatal(err)
	}
	st1, err := ReadState()
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Attach(); err != nil {
		t.Fatalf("second Attach: %v", err)
	}
	if st2, err := ReadState(); err != nil || !st2.Equal(st1) {
		t.Errorf("second Attach changed the state:\n%s\nwant:\n%s", st2, st1)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if after, err := ReadState(); err != nil || !after.Equal(before) {
		t.Errorf("after Close:\n%s\nwant:\n%s", after, before)
	}
	if err := src.Attach(); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
	if err := src.Run(context.Background(), func(*event.Event) {}); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
}
