// Kernel test: probing this machine itself, read-only.

package selector

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/internal/host"
	"github.com/auperf/auperf/internal/ktest"
)

// TestIntegrationProbe probes this machine (root, 6.18, tracefs mounted,
// audit netlink): every default event plans to perf, perf_event_open
// works, ia32 emulation is on so audit adds b32 rules, and probing leaves
// audit's status and our file descriptors as they were.
func TestIntegrationProbe(t *testing.T) {
	ktest.Require(t)
	before, err := HostKernel{}.AuditStatus()
	if err != nil {
		ktest.Skip(t, "no audit netlink: "+err.Error())
	}
	mountTracefsForTest(t)
	fds := openFDs(t)

	h := Probe(Config{B32: B32On}, memory)
	p, err := h.Plan(memory, SourceAuto)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	for _, r := range h.Results {
		t.Logf("%-28s %-7s %s %v", r.Name, r.Status(), r.Value, r.Err)
	}
	if h.Version.Less(4, 4) {
		t.Fatalf("kernel %s: this test expects the project's 6.x VM", h.Release)
	}
	if h.PerfErr != nil {
		t.Fatalf("perf_event_open: %v", h.PerfErr)
	}
	if h.TraceFS.State != host.TraceFSMounted {
		ktest.Skip(t, "tracefs not mounted here: "+reason(h.TraceFSErr))
	}
	for _, e := range p.Events {
		if e.Source != SourcePerf || e.EnterID == 0 || e.ExitID == 0 {
			t.Errorf("%s: %s (%s), want perf with tracepoint ids", e.Name, e.Source, e.Reason)
		}
	}
	if h.CompatErr != nil {
		t.Errorf("ia32 emulation: %v", h.CompatErr)
	}
	if h.auditUse != nil {
		t.Fatalf("audit unusable: %v", h.auditUse)
	}
	if p.Audit == nil || len(p.Audit.Events) != 0 || len(p.Audit.B32) < len(memory) {
		t.Errorf("audit part %+v, want b32 rules only (perf takes every native event)", p.Audit)
	}

	var buf bytes.Buffer
	if err := NewReport(h, p, nil).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if err := validateReport(doc); err != nil {
		t.Errorf("this host's report: %v\n%s", err, buf.Bytes())
	}

	after, err := HostKernel{}.AuditStatus()
	if err != nil {
		t.Fatal(err)
	}
	if before.Enabled != after.Enabled || before.PID != after.PID || before.BacklogLimit != after.BacklogLimit ||
		before.RateLimit != after.RateLimit || before.Failure != after.Failure {
		t.Errorf("audit status changed by probing: %+v -> %+v", before, after)
	}
	if n := openFDs(t); n != fds {
		t.Errorf("open file descriptors %d -> %d: probing leaked one", fds, n)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// mountTracefsForTest: a fresh machine has tracefs unmounted, and a probe
// never mounts (it says "mountable", and perf_event_open cannot be tried
// without a tracepoint id). That state must plan perf for run to mount; then
// tracefs is mounted for the rest of the test, so that the probe's real
// perf_event_open is exercised, and unmounted again at the end: the host is
// left as it was found.
func mountTracefsForTest(t *testing.T) {
	t.Helper()
	h := Probe(Config{}, memory)
	if h.TraceFS.State != host.TraceFSMountable {
		return
	}
	p, err := h.Plan(memory, SourceAuto)
	if err != nil {
		t.Fatalf("Plan with tracefs unmounted: %v", err)
	}
	for _, e := range p.Events {
		if e.Source != SourcePerf {
			t.Errorf("tracefs mountable: %s planned to %s (%s), want perf (run mounts it)", e.Name, e.Source, e.Reason)
		}
	}
	if err := unix.Mount("nodev", h.TraceFS.Path, "tracefs", 0, ""); err != nil {
		t.Fatalf("mount tracefs on %s: %v", h.TraceFS.Path, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(h.TraceFS.Path, 0); err != nil {
			t.Errorf("unmount tracefs: %v", err)
		}
	})
}
