package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// TestIntegrationMeasure runs a tiny bench of the rows that need no auperf
// build (untraced, perf trace, auditd) and checks what a user of the table
// relies on: every row ran, the expected count is the loop's, auditd (which
// waits rather than drops, with the kernel's default backlog_wait_time)
// accounts for every call, and the audit state is exactly as found.
func TestIntegrationMeasure(t *testing.T) {
	ktest.Require(t)
	cfg := Config{
		Workload:   workload.Build(t),
		Perf:       LookTool("perf"),
		Auditd:     LookTool("auditd"),
		Auditctl:   LookTool("auditctl"),
		Dir:        t.TempDir(),
		Iterations: 2000, Threads: 2, Rounds: 1, AuditdBacklog: 8192,
		Rows:    []string{RowUntraced, RowPerfTrace, RowAuditd},
		Timeout: 2 * time.Minute, Settle: 200 * time.Millisecond,
	}
	b := &bench{cfg: cfg}
	var before AuditState
	if cfg.Auditctl != "" {
		var err error
		if before, err = b.auditState(); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Measure(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	var tbl strings.Builder
	WriteTable(&tbl, rep)
	t.Logf("\n%s", tbl.String())
	const want = 2000 * 2 * 6
	for _, row := range rep.Rows {
		if row.Skip != "" {
			if !strings.Contains(row.Skip, "not installed (apt-get install ") {
				t.Errorf("%s skipped: %s", row.Name, row.Skip)
			}
			continue
		}
		if len(row.Runs) != 1 || row.Runs[0].Err != "" {
			t.Errorf("%s: runs %+v", row.Name, row.Runs)
			continue
		}
		run := row.Runs[0]
		if run.Expected != want || run.CallsPerSec <= 0 {
			t.Errorf("%s: expected %d calls/s %v, want %d calls", row.Name, run.Expected, run.CallsPerSec, want)
		}
		switch row.Name {
		case RowPerfTrace:
			if run.Count.Captured == 0 {
				t.Errorf("perf trace: nothing captured: %+v", run.Count)
			}
		case RowAuditd:
			if run.Count.Captured+run.Count.Lost < want {
				t.Errorf("auditd: captured %d + lost %d < %d calls", run.Count.Captured, run.Count.Lost, want)
			}
		}
	}
	if cfg.Auditctl != "" {
		after, err := b.auditState()
		if err != nil {
			t.Fatal(err)
		}
		if d := after.Diff(before); len(d) > 0 {
			t.Errorf("audit state not restored: %q", d)
		}
	}
}
