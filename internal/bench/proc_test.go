package bench

import (
	"os"
	"testing"
)

// readFixture returns the contents of testdata/name.
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseProcStat(t *testing.T) {
	got, err := ParseProcStat(readFixture(t, "proc-stat.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := ProcTimes{User: 12.34, Sys: 5.67, ChildUser: 0.89, ChildSys: 0.10}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := ParseProcStat([]byte("1 (x) S 1 2")); err == nil {
		t.Error("short stat: want an error")
	}
}

func TestParseVmHWM(t *testing.T) {
	got, ok := ParseVmHWM(readFixture(t, "proc-status.txt"))
	if !ok || got != 23456<<10 {
		t.Errorf("got %d, %v; want %d, true", got, ok, 23456<<10)
	}
	if _, ok := ParseVmHWM([]byte("Name:\tx\nState:\tZ (zombie)\n")); ok {
		t.Error("zombie status without VmHWM: want ok == false")
	}
}

func TestAuditStateDiff(t *testing.T) {
	before := AuditState{Status: ParseAuditStatus(string(readFixture(t, "auditctl-s.txt")))}
	if before.Status["backlog_limit"] != "64" || before.Status["loginuid_immutable"] != "0 unlocked" {
		t.Fatalf("parsed %v", before.Status)
	}
	same := AuditState{Status: map[string]string{}}
	for k, v := range before.Status {
		same.Status[k] = v
	}
	same.Status["lost"] = "99" // a counter, not a setting
	if d := same.Diff(before); len(d) != 0 {
		t.Errorf("counters only: got diff %q", d)
	}
	same.Status["pid"] = "777"
	same.Rules = "-a always,exit -F arch=b64 -S mmap -F key=auperf-bench"
	d := same.Diff(before)
	if len(d) != 2 || d[0] != `pid: "0" -> "777"` {
		t.Errorf("got diff %q", d)
	}
}
