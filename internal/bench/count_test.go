package bench

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestCountAuperfJSON(t *testing.T) {
	c, err := CountAuperfJSON(bytes.NewReader(readFixture(t, "auperf.json")), 4242)
	if err != nil {
		t.Fatal(err)
	}
	// mmap, mprotect, msync, mlock2, munlock, munmap of pid 4242; not the
	// madvise, not pid 4999's mmap. auperf_lost says 5; the last
	// auperf_stats says perf.lost 5 (its lost_ring_cpu* are parts of it,
	// dropped_self is no loss), audit 1, pipeline 5: the largest, 5, plus
	// the sink's dropped 2 = 7.
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
	c, err := CountPerfTrace(bytes.NewReader(readFixture(t, "perftrace.txt")), map[int]bool{4242: true, 4243: true})
	if err != nil {
		t.Fatal(err)
	}
	// Seven completed loop calls of tids 4242 and 4243 (munlock once, at
	// its [continued] line; one mmap shown with the parent's comm
	// "auperf-bench"); not the madvise, not the unfinished mmap entry, not
	// tids 4250 or 4244. LOST 7 + LOST 3.
	want := Count{Captured: 7, Lost: 10, Lines: 17}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestCountAuditLog(t *testing.T) {
	c, err := CountAuditLog(bytes.NewReader(readFixture(t, "audit.log")), "auperf-bench", 4242)
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

func TestStatsLost(t *testing.T) {
	for _, tc := range []struct {
		line string
		want uint64
	}{
		{`{"eventName":"auperf_stats","args":[{"name":"perf.received","value":9},{"name":"perf.dropped_self","value":40}]}`, 0},
		{`{"eventName":"auperf_stats","args":[{"name":"audit.lost_kernel","value":4},{"name":"audit.lost_gap","value":3},{"name":"perf.lost","value":5}]}`, 7},
		{`{"eventName":"auperf_stats","args":[{"name":"perf.lost","value":5},{"name":"output:syslog:udp://h:514.dropped","value":10},{"name":"output:json:/a.b.dropped","value":1}]}`, 16},
	} {
		c, err := CountAuperfJSON(strings.NewReader(tc.line+"\n"), 1)
		if err != nil {
			t.Fatal(err)
		}
		if c.LostStats != tc.want || c.Lost != tc.want {
			t.Errorf("%s: got %+v, want lost %d", tc.line, c, tc.want)
		}
	}
}

func TestCountPerfScript(t *testing.T) {
	in := `18939 syscalls:sys_enter_msync: 
18939  syscalls:sys_exit_msync: 
18940  syscalls:sys_exit_mmap: 
777  syscalls:sys_exit_msync: 
18939  syscalls:sys_exit_getppid: 
18969 PERF_RECORD_LOST lost 62

18969 PERF_RECORD_LOST lost 12
`
	c, err := CountPerfScript(strings.NewReader(in), map[int]bool{18939: true, 18940: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Captured != 2 || c.Lost != 74 || c.Lines != 7 {
		t.Errorf("count %+v, want 2 captured (exits of loop calls by the workload), 74 lost, 7 lines", c)
	}
}
