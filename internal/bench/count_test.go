package bench

import (
	"os"
	"testing"
)

func openFixture(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCountAuperfJSON(t *testing.T) {
	c, err := CountAuperfJSON(openFixture(t, "auperf.json"), 4242)
	if err != nil {
		t.Fatal(err)
	}
	// mmap, mprotect, msync, mlock2, munlock, munmap of pid 4242; not the
	// madvise, not pid 4999's mmap. auperf_lost says 5; the last
	// auperf_stats says lost_ring 5 + dropped 2 (null ignored), so 7.
	want := Count{Captured: 6, Lost: 7, LostEvents: 5, LostStats: 7, Lines: 11}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestCountAuperfJSONBadLine(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "bad")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{\"eventName\":\"mmap\",\"processId\":1}\n{\"eventName\":\n")
	f.Seek(0, 0)
	if _, err := CountAuperfJSON(f, 1); err == nil {
		t.Error("truncated JSON line: want an error")
	}
	f.Close()
}

func TestCountPerfTrace(t *testing.T) {
	c, err := CountPerfTrace(openFixture(t, "perftrace.txt"), "auperf-workload")
	if err != nil {
		t.Fatal(err)
	}
	// Six completed loop calls of auperf-workload (munlock once, at its
	// [continued] line); not the madvise, not the unfinished mmap entry, not
	// ":4250" or "auperf-workloadX". LOST 7 + LOST 3.
	want := Count{Captured: 6, Lost: 10, Lines: 16}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestCountAuditLog(t *testing.T) {
	c, err := CountAuditLog(openFixture(t, "audit.log"), "auperf-bench", 4242)
	if err != nil {
		t.Fatal(err)
	}
	// records 101, 102, 103 (ENRICHED tail ignored) and 106; not 104
	// (ppid=4242 is not pid=4242), not 105 (other key).
	want := Count{Captured: 4, Lines: 11}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}
