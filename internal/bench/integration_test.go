package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

func TestMain(m *testing.M) {
	// The audit-bare row runs this test binary as its reader.
	if len(os.Args) > 1 && os.Args[1] == BareReaderArg {
		os.Exit(BareReaderMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestIntegrationMeasure runs a tiny bench of the rows that need no auperf
// build (untraced, audit-bare, perf trace, auditd) and checks what a user of
// the table relies on: every row ran, the expected count is the loop's,
// auditd and the bare reader (which wait rather than drop, with the
// kernel's default backlog_wait_time) account for every call, and the
// audit state is exactly as found.
func TestIntegrationMeasure(t *testing.T) {
	ktest.Require(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Self:       self,
		Workload:   workload.Build(t),
		Perf:       LookTool("perf"),
		Auditd:     LookTool("auditd"),
		Auditctl:   LookTool("auditctl"),
		Dir:        t.TempDir(),
		Iterations: 2000, Threads: 2, Rounds: 1, AuditdBacklog: 8192,
		Rows:    []string{RowUntraced, RowPerfRecord, RowAuditBare, RowPerfTrace, RowAuditd},
		Timeout: 2 * time.Minute, Settle: 200 * time.Millisecond, Collateral: 300 * time.Millisecond,
	}
	b := &bench{cfg: cfg}
	var before AuditState
	if cfg.Auditctl != "" {
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
		case RowPerfRecord:
			// The runtime maps a few more; perf's lost count is of
			// records of every process.
			if run.Count.Captured < want-min(want, run.Count.Lost) || run.Count.Captured > want+200 {
				t.Errorf("perf record: captured %d lost %d, want %d calls", run.Count.Captured, run.Count.Lost, want)
			}
		case RowPerfTrace:
			if run.Count.Captured == 0 {
				t.Errorf("perf trace: nothing captured: %+v", run.Count)
			}
		case RowAuditd:
			if run.Count.Captured+run.Count.Lost < want {
				t.Errorf("auditd: captured %d + lost %d < %d calls", run.Count.Captured, run.Count.Lost, want)
			}
		case RowAuditBare:
			// Every loop call, plus the few mmaps of the workload's Go
			// runtime; nothing lost in wait mode.
			if run.Count.Captured < want || run.Count.Captured > want+200 || run.Count.Lost != 0 {
				t.Errorf("audit-bare: captured %d lost %d, want %d (+ the runtime's few) and 0", run.Count.Captured, run.Count.Lost, want)
			}
			if run.TracerCPU <= 0 || run.TracerRSS == 0 {
				t.Errorf("audit-bare: tracer cost not measured: %v CPU s, %d bytes", run.TracerCPU, run.TracerRSS)
			}
		}
	}
	// The collateral table: every row that ran has its bystander's rate.
	if len(rep.Collateral) == 0 {
		t.Error("no collateral table")
	}
	for _, c := range rep.Collateral {
		if len(c.Rates) != 1 || c.Rates[0] <= 0 || len(c.Errs) > 0 {
			t.Errorf("collateral %s: rates %v errors %q", c.Name, c.Rates, c.Errs)
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

// TestIntegrationDeleteOwnRules: after a crash the bench deletes its keyed
// rules and the lean-mode exclusions it did not find, and nothing else:
// not another key's rule, not an exclusion that was loaded before.
func TestIntegrationDeleteOwnRules(t *testing.T) {
	ktest.Require(t)
	b := &bench{cfg: Config{Auditctl: LookTool("auditctl")}}
	if b.cfg.Auditctl == "" {
		ktest.Skip(t, "auditctl not installed (apt-get install auditd)")
	}
	st, err := b.auditState()
	if err != nil {
		t.Fatal(err)
	}
	if st.Rules != "No rules" {
		t.Skipf("audit rules are loaded (%q): this test must not touch them", st.Rules)
	}
	keep := []string{"-a never,exclude -F msgtype=EOE", "-a always,exit -F arch=b64 -S msync -F pid=1 -F key=someone-else"}
	mine := []string{"-a always,exit -F arch=b64 -S msync -F pid=1 -F key=" + AuditKey, "-a never,exclude -F msgtype=PROCTITLE"}
	add := func(rules []string) {
		for _, r := range rules {
			if _, err := b.auditctl(strings.Fields(r)...); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		for _, r := range append(keep, mine...) {
			b.auditctl(strings.Fields("-d " + strings.TrimPrefix(r, "-a "))...)
		}
	})
	add(keep)
	before, err := b.auditState()
	if err != nil {
		t.Fatal(err)
	}
	b.auditBefore = &before
	add(mine)
	b.deleteOwnRules()
	after, err := b.auditState()
	if err != nil {
		t.Fatal(err)
	}
	if after.Rules != before.Rules {
		t.Errorf("rules after deleteOwnRules:\n%s\nwant:\n%s", after.Rules, before.Rules)
	}
}
