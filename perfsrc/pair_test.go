// Tests of the pure core's merge and pairing: records in memory, fed as the
// rings would deliver them, out of order across CPUs and late.

package perfsrc

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/elastic/go-perf"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

// fakeSource is the perf source's core with the 6.18 msync/mmap formats
// and no kernel: tests feed it ring records.
func fakeSource(t testing.TB, spec filter.Spec) (*pairer, *[]event.Event) {
	t.Helper()
	var calls []*Syscall
	for _, name := range []string{"msync", "mmap"} {
		calls = append(calls, &Syscall{Name: name,
			Enter: readFixture(t, "linux-6.18", "sys_enter_"+name),
			Exit:  readFixture(t, "linux-6.18", "sys_exit_"+name)})
	}
	spec.Init()
	var got []event.Event
	s, err := newPairer(pairConfig{Arch: decode.ArchX86_64, Self: 1, Calls: calls, CPUs: []int{0, 1}, Filter: spec,
		Procs: newProcTable(filepath.Join(t.TempDir(), "noproc")),
		Handler: func(ev *event.Event) {
			c := *ev
			c.Args = append([]event.Arg(nil), ev.Args...)
			got = append(got, c)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s, &got
}

const (
	msyncNr = 26
	mmapNr  = 9
)

// An exit read (on CPU 1) a round before its enter (on CPU 0) still pairs,
// and is reported once both are safely ordered.
func TestExitReadBeforeEnter(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	c := s.calls[0]
	s.record(1, typSample, 0, sample(c.Exit, 100, 101, 2000, 1, msyncNr, uint64(^uint64(11))))
	s.round(false)
	if len(*got) != 0 {
		t.Fatalf("reported before it was safe: %+v", *got)
	}
	s.record(0, typSample, 0, sample(c.Enter, 100, 101, 1000, 0, msyncNr, 0x5000, 0x3000, 1))
	s.round(false)
	s.round(false)
	if len(*got) != 1 {
		t.Fatalf("got %d events, want 1", len(*got))
	}
	ev := (*got)[0]
	if ev.Syscall != "msync" || ev.Timestamp != 1000 || ev.DurationNs != 1000 || ev.ReturnValue != -12 || ev.Errno != "ENOMEM" ||
		ev.ProcessID != 100 || ev.ThreadID != 101 || ev.ProcessorID != 0 || len(ev.Args) != 3 || ev.Args[0].Value != 0x5000 {
		t.Fatalf("event %s", event.AppendJSON(nil, &ev))
	}
}

// An exit whose enter predates the start: reported with unknown arguments;
// an enter still running at stop: reported without a return value.
func TestUnpairedHonest(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	c := s.calls[0]
	s.record(0, typSample, 0, sample(c.Exit, 100, 101, 500, 0, msyncNr, 0))
	s.record(0, typSample, 0, sample(c.Enter, 100, 102, 600, 0, msyncNr, 0x1000, 0x1000, 4))
	s.round(false)
	s.round(true)
	s.flushPending()
	if len(*got) != 2 {
		t.Fatalf("got %d events, want 2", len(*got))
	}
	exitOnly, enterOnly := (*got)[0], (*got)[1]
	if exitOnly.Known&event.HasReturn == 0 || exitOnly.ReturnValue != 0 || len(exitOnly.Args) != 3 {
		t.Fatalf("exit only: %s", event.AppendJSON(nil, &exitOnly))
	}
	for _, a := range exitOnly.Args {
		if a.Kind != event.ArgNull {
			t.Errorf("exit only: arg %s known: %s", a.Name, event.AppendJSON(nil, &exitOnly))
		}
	}
	if enterOnly.Known&(event.HasReturn|event.HasDuration) != 0 || enterOnly.Args[2].Value != 4 {
		t.Fatalf("enter only: %s", event.AppendJSON(nil, &enterOnly))
	}
}

// Side-band records name a process that forks, execs and calls within one
// round, and feed the process tree; loss is reported in-stream.
func TestSidebandAndLoss(t *testing.T) {
	spec := filter.Spec{Tree: true, PIDs: []int{50}}
	s, got := fakeSource(t, spec)
	s.procs.m[50] = &proc{comm: "shell", exe: "/bin/sh", hasPPID: true, ppid: 1, hasUID: true, uid: 1000}
	c := s.calls[0]
	s.record(0, uint32(perf.RecordTypeFork), 0, taskRec(60, 50, 60, 10))
	s.record(1, uint32(perf.RecordTypeComm), 1<<13, commRec(60, "child", 20))
	s.record(1, uint32(perf.RecordTypeMmap), 0, mmapRec(60, "/opt/child", 21))
	s.record(1, uint32(perf.RecordTypeMmap), 0, mmapRec(60, "/lib/ld.so", 22))
	s.record(1, typSample, 0, sample(c.Enter, 60, 60, 30, 1, msyncNr, 1, 2, 4))
	s.record(0, typSample, 0, sample(c.Exit, 60, 60, 31, 0, msyncNr, 0))
	s.record(0, typSample, 0, sample(c.Enter, 70, 70, 32, 0, msyncNr, 1, 2, 4)) // not in the tree
	s.record(0, typSample, 0, sample(c.Exit, 70, 70, 33, 0, msyncNr, 0))
	s.record(0, uint32(perf.RecordTypeLost), 0, lostRec(7, 40))
	s.record(1, uint32(perf.RecordTypeExit), 0, taskRec(60, 50, 60, 50))
	s.round(false)
	s.round(true)
	if len(*got) != 2 {
		t.Fatalf("got %d events, want 2", len(*got))
	}
	ev := (*got)[0]
	if ev.ProcessName != "child" || ev.ExecutablePath != "/opt/child" || ev.ParentProcessID != 50 || ev.UserID != 1000 || ev.DurationNs != 1 {
		t.Errorf("child: %s", event.AppendJSON(nil, &ev))
	}
	lost := (*got)[1]
	if lost.EventName != event.NameLost || lost.Args[2].Value != 7 || s.lostTotal() != 7 {
		t.Errorf("lost: %s", event.AppendJSON(nil, &lost))
	}
	checkForgotten(t, s, 60, "exited child")
}

// Our own process is dropped.
func TestSelfDropped(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	c := s.calls[1]
	s.record(0, typSample, 0, sample(c.Enter, 1, 3, 10, 0, mmapNr, 0, 4096, 3, 0x22, ^uint64(0), 0))
	s.record(0, typSample, 0, sample(c.Exit, 1, 3, 11, 0, mmapNr, 0x7f0000000000))
	s.round(true)
	if len(*got) != 0 {
		t.Fatalf("own events reported: %d", len(*got))
	}
}

// The hot path does not allocate: parsing, ordering, pairing, decoding.
func TestSteadyStateAllocs(t *testing.T) {
	s, _ := fakeSource(t, filter.Spec{})
	s.h = func(*event.Event) {}
	s.procs.m[100] = &proc{comm: "w"}
	c := s.calls[1]
	enter := sample(c.Enter, 100, 101, 0, 0, mmapNr, 0, 4096, 3, 0x22, ^uint64(0), 0)
	exit := sample(c.Exit, 100, 101, 0, 1, mmapNr, 0x7f0000000000)
	ts := uint64(1)
	step := func() {
		for i := 0; i < 64; i++ {
			binary.NativeEndian.PutUint64(enter[8:], ts)
			binary.NativeEndian.PutUint64(exit[8:], ts+1)
			ts += 2
			s.record(0, typSample, 0, enter)
			s.record(1, typSample, 0, exit)
		}
		s.round(false)
	}
	for i := 0; i < 10; i++ {
		step()
	}
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("%v allocations per round of 64 syscalls", n)
	}
}

func TestOnlineCPUs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "online")
	os.WriteFile(p, []byte("0-2,5\n"), 0o644)
	got, err := onlineCPUs(p)
	if err != nil || len(got) != 4 || got[3] != 5 {
		t.Fatalf("onlineCPUs = %v, %v", got, err)
	}
}

func TestDefaultRingPages(t *testing.T) {
	for _, c := range []struct{ cpus, want int }{{1, 512}, {2, 512}, {16, 512}, {17, 256}, {64, 128}, {256, 32}, {4096, 16}} {
		if got := defaultRingPages(c.cpus); got != c.want {
			t.Errorf("defaultRingPages(%d) = %d, want %d", c.cpus, got, c.want)
		}
	}
}

// An enter that reaches user space rounds after its exit (its vCPU stalled
// between stamping and committing it) still pairs, within orphanHold.
func TestLateEnter(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	c := s.calls[0]
	s.record(1, typSample, 0, sample(c.Exit, 100, 101, 2000, 1, msyncNr, 0))
	s.round(false)
	s.record(1, typSample, 0, sample(c.Exit, 100, 102, 3000, 1, msyncNr, 0)) // moves the limit past the first exit
	s.round(false)
	s.round(false)
	if len(*got) != 0 {
		t.Fatalf("exit reported before its hold: %s", event.AppendJSON(nil, &(*got)[0]))
	}
	s.record(0, typSample, 0, sample(c.Enter, 100, 101, 1000, 0, msyncNr, 0x5000, 0x3000, 1))
	s.round(false)
	s.round(false)
	if len(*got) != 1 || (*got)[0].ThreadID != 101 || (*got)[0].Known&event.HasDuration == 0 || (*got)[0].Args[0].Value != 0x5000 {
		t.Fatalf("late enter not paired: %v", *got)
	}
	// Past the hold, an exit alone is reported as such.
	s.record(1, typSample, 0, sample(c.Exit, 100, 103, 4000+orphanHold, 1, msyncNr, 0))
	s.round(false)
	s.round(false)
	s.round(false)
	if len(*got) != 2 || (*got)[1].ThreadID != 102 || (*got)[1].Args[0].Kind != event.ArgNull {
		t.Fatalf("expired orphan: %v", *got)
	}
}

// An exit late in its ring, read after the thread's next enter, still
// pairs with its own enter; the next call pairs with its own exit.
func TestLateExit(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	c := s.calls[0]
	s.record(0, typSample, 0, sample(c.Enter, 100, 101, 1000, 0, msyncNr, 0x1000, 0x1000, 4))
	s.record(1, typSample, 0, sample(c.Enter, 100, 101, 3000, 1, msyncNr, 0x2000, 0x1000, 4))
	s.round(false)
	s.round(false)
	s.record(0, typSample, 0, sample(c.Exit, 100, 101, 2000, 0, msyncNr, 0)) // late
	s.record(1, typSample, 0, sample(c.Exit, 100, 101, 4000, 1, msyncNr, ^uint64(11)))
	s.round(false)
	s.round(true)
	s.flushPending()
	if len(*got) != 2 {
		t.Fatalf("got %d events, want 2", len(*got))
	}
	for i, want := range []struct {
		addr uint64
		ret  int64
	}{{0x1000, 0}, {0x2000, -12}} {
		ev := (*got)[i]
		if ev.Args[0].Value != want.addr || ev.Known&event.HasReturn == 0 || ev.ReturnValue != want.ret {
			t.Errorf("event %d: %s", i, event.AppendJSON(nil, &ev))
		}
	}
}

const execveEnterFormat = `name: sys_enter_execve
ID: 862
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:const char * filename;	offset:16;	size:8;	signed:0;
	field:const char *const * argv;	offset:24;	size:8;	signed:0;
	field:const char *const * envp;	offset:32;	size:8;	signed:0;

print fmt: "filename: 0x%08lx, argv: 0x%08lx, envp: 0x%08lx", ((unsigned long)(REC->filename)), ((unsigned long)(REC->argv)), ((unsigned long)(REC->envp))
`

const execveExitFormat = `name: sys_exit_execve
ID: 861
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:long ret;	offset:16;	size:8;	signed:1;

print fmt: "0x%lx", REC->ret
`
