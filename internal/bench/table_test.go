package bench

import (
	"bytes"
	"os"
	"testing"
)

func sampleReport() *Report {
	r := &Report{
		Command: "auperf-bench -n 1000", Kernel: "6.18.0", CPUs: 2,
		Iterations: 1000, Threads: 1, Rounds: 3, Syscalls: Syscalls,
		Versions: []string{"auperf dev", "perf version 6.1"},
		Rows: []*Row{
			{Name: "untraced", Runs: []Run{
				{Round: 1, CallsPerSec: 500000, Expected: 6000},
				{Round: 2, CallsPerSec: 480000, Expected: 6000},
				{Round: 3, CallsPerSec: 520000, Expected: 6000},
			}},
			{Name: "auperf perf", Tracer: true, Command: "auperf run --source perf -- w", Runs: []Run{
				{Round: 1, CallsPerSec: 250000, Expected: 6000, Count: Count{Captured: 6000}, TracerCPU: 0.5, TracerRSS: 20 << 20},
				{Round: 2, Err: "auperf exited with status 1: boom"},
				{Round: 3, CallsPerSec: 200000, Expected: 6000, Count: Count{Captured: 5990, Lost: 10}, TracerCPU: 0.7, TracerRSS: 30 << 20, Note: "exit status 1: lost 10"},
			}},
			{Name: "auperf audit", Tracer: true, Runs: []Run{{Round: 1, Err: "no audit"}}},
			{Name: "auditd", Tracer: true, Skip: "not installed (apt-get install auditd)"},
			{Name: "perf-trace", Tracer: true, Runs: []Run{{Round: 1, CallsPerSec: 100000, Expected: 6000, Count: Count{Captured: 6000}, TracerCPU: 1, TracerRSS: 1 << 20}}},
		},
		Notes: []string{"a note"},
		Collateral: []*CollateralRow{
			{Name: "untraced", Rate: Spread{4000000, 3900000, 4100000, 3}, Rates: []float64{4000000, 3900000, 4100000}},
			{Name: "auperf-audit, task filter off", Rate: Spread{2000000, 1900000, 2100000, 3}, Rates: []float64{2000000, 1900000, 2100000}, Cost: 2},
			{Name: "auditd", Errs: []string{"round 1: auditd: boom"}},
		},
	}
	r.Finish("untraced")
	return r
}

func TestFinish(t *testing.T) {
	r := sampleReport()
	p := r.Rows[1]
	if p.OK != 2 || p.Rate != (Spread{225000, 200000, 250000, 2}) || p.Expected != 12000 ||
		p.Captured != 11990 || p.Lost != 10 || p.PeakRSS != 30<<20 || p.CPU.Median != 0.6 {
		t.Errorf("auperf perf row: %+v", p)
	}
	if p.Slowdown != 500000.0/225000 {
		t.Errorf("slowdown %v", p.Slowdown)
	}
	if u := r.Rows[0]; u.Slowdown != 1 || u.Captured != 0 || u.Expected != 18000 {
		t.Errorf("untraced row: %+v", u)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/table.golden"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		os.WriteFile(golden, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("table differs from %s (UPDATE_GOLDEN=1 rewrites it):\n%s", golden, b.String())
	}
}
