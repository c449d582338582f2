package perfsrc

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// sample builds a PERF_RECORD_SAMPLE body (Tid|Time|CPU|Raw).
func sample(f *Format, pid, tid int32, ts uint64, cpu uint32, nr int32, words ...uint64) []byte {
	raw := make([]byte, 16+8*len(words)+4)
	binary.NativeEndian.PutUint16(raw[0:], uint16(f.ID))
	binary.NativeEndian.PutUint32(raw[4:], uint32(tid))
	binary.NativeEndian.PutUint32(raw[8:], uint32(nr))
	for i, w := range words {
		binary.NativeEndian.PutUint64(raw[16+8*i:], w)
	}
	b := make([]byte, 28, 28+len(raw))
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(tid))
	binary.NativeEndian.PutUint64(b[8:], ts)
	binary.NativeEndian.PutUint32(b[16:], cpu)
	binary.NativeEndian.PutUint32(b[24:], uint32(len(raw)))
	return append(b, raw...)
}

// sampleID is the trailing sample_id of side-band records.
func sampleID(pid, tid int32, ts uint64, cpu uint32) []byte {
	b := make([]byte, 24)
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(tid))
	binary.NativeEndian.PutUint64(b[8:], ts)
	binary.NativeEndian.PutUint32(b[16:], cpu)
	return b
}

func commRec(pid int32, name string, ts uint64) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(pid))
	n := append([]byte(name), 0)
	for len(n)%8 != 0 {
		n = append(n, 0)
	}
	return append(append(b, n...), sampleID(pid, pid, ts, 0)...)
}

func mmapRec(pid int32, file string, ts uint64) []byte {
	b := make([]byte, 32)
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(pid))
	n := append([]byte(file), 0)
	for len(n)%8 != 0 {
		n = append(n, 0)
	}
	return append(append(b, n...), sampleID(pid, pid, ts, 0)...)
}

// taskRec is a FORK or EXIT record of thread tid of process pid, whose
// parent is ppid (ptid is ppid too): taskRec(pid, ppid, pid, ts) for a
// process, taskRec(pid, pid, tid, ts) for another thread of pid.
func taskRec(pid, ppid, tid int32, ts uint64) []byte {
	b := make([]byte, 24)
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(ppid))
	binary.NativeEndian.PutUint32(b[8:], uint32(tid))
	binary.NativeEndian.PutUint32(b[12:], uint32(ppid))
	binary.NativeEndian.PutUint64(b[16:], ts)
	return append(b, sampleID(pid, tid, ts, 0)...)
}

func lostRec(n uint64, ts uint64) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b[8:], n)
	return append(b, sampleID(0, 0, ts, 0)...)
}

const typSample = uint32(perf.RecordTypeSample)

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

// Before 3.16 COMM records carry no exec flag: a leader's COMM followed by
// an executable mapping still names the new image.
func TestExecWithoutCommExecFlag(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	s.noCommExec = true
	s.procs.m[60] = &proc{comm: "sh", exe: "/bin/sh"}
	c := s.calls[0]
	s.record(0, uint32(perf.RecordTypeComm), 0, commRec(60, "tool", 20))
	s.record(0, uint32(perf.RecordTypeMmap), 0, mmapRec(60, "/usr/bin/tool", 21))
	s.record(0, typSample, 0, sample(c.Enter, 60, 60, 30, 0, msyncNr, 1, 2, 4))
	s.record(0, typSample, 0, sample(c.Exit, 60, 60, 31, 0, msyncNr, 0))
	s.round(true)
	if len(*got) != 1 || (*got)[0].ProcessName != "tool" || (*got)[0].ExecutablePath != "/usr/bin/tool" {
		t.Fatalf("got %+v", *got)
	}
}

func TestOwnThreadFilter(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	kf := &selfFilter{tids: []int32{1, 5, 9}}
	s.selfExit = kf.exited
	if f := kf.String(); f != "common_pid != 1 && common_pid != 5 && common_pid != 9" {
		t.Fatalf("filter %q", f)
	}
	s.record(0, uint32(perf.RecordTypeExit), 0, taskRec(1, 0, 1, 10)) // pid 1 = self, tid 1
	s.record(0, uint32(perf.RecordTypeExit), 0, taskRec(1, 0, 5, 11)) // tid 5
	s.round(true)
	if f := kf.String(); f != "common_pid != 9" {
		t.Fatalf("filter after exits %q", f)
	}
	if len(*got) != 0 {
		t.Fatalf("own exits reported: %v", *got)
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

// The leader of a multi-threaded process may exit before its other
// threads (exit_group kills them in any order; pthread_exit in main): the
// process stays named and in the `-- COMMAND` tree until its last thread
// exits, and then leaves both.
func TestLeaderExitsFirst(t *testing.T) {
	spec := filter.Spec{Tree: true, PIDs: []int{50}}
	s, got := fakeSource(t, spec)
	s.procs.m[50] = &proc{comm: "shell", exe: "/bin/sh", hasPPID: true, ppid: 1, hasUID: true, uid: 1000, threads: 1}
	c := s.calls[0]
	s.record(0, uint32(perf.RecordTypeFork), 0, taskRec(60, 50, 60, 10))
	s.record(0, uint32(perf.RecordTypeComm), 1<<13, commRec(60, "child", 11))
	s.record(0, uint32(perf.RecordTypeFork), 0, taskRec(60, 60, 61, 12))
	s.record(1, typSample, 0, sample(c.Enter, 60, 61, 30, 1, msyncNr, 1, 2, 4))
	s.record(0, uint32(perf.RecordTypeExit), 0, taskRec(60, 60, 60, 40)) // leader first
	s.record(1, typSample, 0, sample(c.Exit, 60, 61, 45, 1, msyncNr, 0))
	s.record(1, typSample, 0, sample(c.Enter, 60, 61, 46, 1, msyncNr, 1, 2, 4)) // killed inside
	s.record(1, uint32(perf.RecordTypeExit), 0, taskRec(60, 60, 61, 50))
	s.round(false)
	s.round(true)
	if len(*got) != 2 {
		t.Fatalf("got %d events, want 2: %v", len(*got), *got)
	}
	for _, ev := range *got {
		if ev.ProcessName != "child" || ev.ParentProcessID != 50 || ev.UserID != 1000 || ev.ThreadID != 61 {
			t.Errorf("after the leader's exit: %s", event.AppendJSON(nil, &ev))
		}
	}
	checkForgotten(t, s, 60, "exited process")
}

// A thread of a multi-threaded process that execs takes the leader's id;
// the process keeps its parent and user.
func TestExecFromThread(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	s.procs.m[50] = &proc{comm: "shell", hasPPID: true, ppid: 1, hasUID: true, uid: 1000, threads: 1}
	c := s.calls[0]
	s.record(0, uint32(perf.RecordTypeFork), 0, taskRec(60, 50, 60, 10))
	s.record(0, uint32(perf.RecordTypeFork), 0, taskRec(60, 60, 61, 12))
	s.record(0, uint32(perf.RecordTypeExit), 0, taskRec(60, 60, 60, 20)) // de_thread kills the leader
	s.record(0, uint32(perf.RecordTypeComm), 1<<13, commRec(60, "tool", 21))
	s.record(0, uint32(perf.RecordTypeMmap), 0, mmapRec(60, "/usr/bin/tool", 22))
	s.record(0, typSample, 0, sample(c.Enter, 60, 60, 30, 0, msyncNr, 1, 2, 4))
	s.record(0, typSample, 0, sample(c.Exit, 60, 60, 31, 0, msyncNr, 0))
	s.round(true)
	if len(*got) != 1 {
		t.Fatalf("got %d events", len(*got))
	}
	if ev := (*got)[0]; ev.ProcessName != "tool" || ev.ExecutablePath != "/usr/bin/tool" || ev.ParentProcessID != 50 || ev.UserID != 1000 {
		t.Errorf("after exec from a thread: %s", event.AppendJSON(nil, &ev))
	}
}

// A long run with many short-lived processes does not grow the process
// table: an exit reported after its process is gone (its enter predates
// the start, held for a late partner) leaves nothing behind.
func TestProcTableBounded(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	c := s.calls[0]
	ts := uint64(1000)
	for pid := int32(1000); pid < 1100; pid++ {
		s.record(0, typSample, 0, sample(c.Exit, pid, pid, ts, 0, msyncNr, 0))
		s.record(0, uint32(perf.RecordTypeExit), 0, taskRec(pid, pid, pid, ts+1))
		ts += uint64(time.Millisecond)
		s.round(false)
	}
	s.round(true)
	if len(*got) != 100 {
		t.Fatalf("got %d events, want 100", len(*got))
	}
	if n := len(s.procs.m); n != 0 {
		t.Errorf("%d gone processes still in the process table", n)
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

// An execve from a thread other than the leader returns in the leader's
// thread id (the kernel gives the exec'ing thread the leader's id, and no
// exit record ever comes for the old one): enter and exit still pair, and
// the enter is not held until stop.
func TestExecveFromThreadPairs(t *testing.T) {
	s, got := fakeSource(t, filter.Spec{})
	enter, err := ParseFormat([]byte(execveEnterFormat))
	if err != nil {
		t.Fatal(err)
	}
	exit, err := ParseFormat([]byte(execveExitFormat))
	if err != nil {
		t.Fatal(err)
	}
	c := &Syscall{Name: "execve", Enter: enter, Exit: exit}
	s.calls = append(s.calls, c)
	if err := s.index(); err != nil {
		t.Fatal(err)
	}
	const execveNr = 59
	s.procs.m[50] = &proc{comm: "shell", hasPPID: true, ppid: 1, threads: 1}
	s.record(0, uint32(perf.RecordTypeFork), 0, taskRec(60, 50, 60, 10))
	s.record(0, uint32(perf.RecordTypeFork), 0, taskRec(60, 60, 61, 12))
	s.record(1, typSample, 0, sample(c.Enter, 60, 61, 30, 1, execveNr, 0x1000, 0x2000, 0x3000))
	s.record(0, uint32(perf.RecordTypeExit), 0, taskRec(60, 60, 60, 31)) // de_thread kills the leader
	s.record(1, uint32(perf.RecordTypeComm), 1<<13, commRec(60, "tool", 32))
	s.record(1, typSample, 0, sample(c.Exit, 60, 60, 33, 1, execveNr, 0))
	s.round(false)
	s.round(true)
	if len(*got) != 1 {
		t.Fatalf("got %d events, want 1: %v", len(*got), *got)
	}
	ev := (*got)[0]
	if ev.Syscall != "execve" || ev.Known&event.HasReturn == 0 || ev.ReturnValue != 0 || ev.Known&event.HasDuration == 0 ||
		ev.Args[0].Value != 0x1000 || ev.ProcessID != 60 {
		t.Errorf("execve from a thread: %s", event.AppendJSON(nil, &ev))
	}
	if len(s.pending) != 0 {
		t.Errorf("enter still held: %v", s.pending)
	}
}

// The perf-clock calibration's midpoint does not overflow for wall times
// past 2^62 ns (year 2116).
func TestCalibrationMidpoint(t *testing.T) {
	s, _ := fakeSource(t, filter.Spec{})
	const wall = int64(5e18)
	s.clock.calib = calibration{tid: 1, t0: wall, t1: wall + 2000, pending: true}
	b := commRec(1, "auperf", 1000)
	s.record(0, uint32(perf.RecordTypeComm), 0, b)
	s.round(true)
	if want := wall + 1000 - 1000; s.clock.off != want {
		t.Fatalf("clock offset %d, want %d", s.clock.off, want)
	}
}

// A lost EXIT record (ring overflow) would leave its process in the
// process table and the `-- COMMAND` tree, and its thread's running call
// pending, for the rest of the run: after a loss, what /proc says is gone
// is dropped (the call reported without a return value), what lives is
// kept.
func TestLossSweepsGone(t *testing.T) {
	spec := filter.Spec{Tree: true, PIDs: []int{50}}
	s, got := fakeSource(t, spec)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "100", "task", "101"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.procs.procRoot = root
	s.procs.m[100] = &proc{comm: "alive", threads: 1}
	s.procs.m[200] = &proc{comm: "gone", threads: 1}
	s.filter.Procs.Fork(50, 100)
	s.filter.Procs.Fork(50, 200)
	c := s.calls[0]
	s.record(0, typSample, 0, sample(c.Enter, 100, 101, 10, 0, msyncNr, 1, 2, 4))
	s.record(1, typSample, 0, sample(c.Enter, 200, 201, 11, 1, msyncNr, 1, 2, 4))
	s.record(0, uint32(perf.RecordTypeLost), 0, lostRec(3, 12))
	for range 5 {
		s.round(false)
	}
	var calls []event.Event
	for _, ev := range *got {
		if ev.EventName != event.NameLost {
			calls = append(calls, ev)
		}
	}
	if len(calls) != 1 || calls[0].ThreadID != 201 || calls[0].Known&event.HasReturn != 0 || calls[0].ProcessName != "gone" {
		t.Fatalf("want the gone thread's call without return, got %v", calls)
	}
	checkForgotten(t, s, 200, "gone process")
	if _, ok := s.procs.m[100]; !ok || !s.filter.Procs.Contains(100) {
		t.Error("living process dropped")
	}
	if _, ok := s.pending[101]; !ok || len(s.pending) != 1 {
		t.Errorf("pending %v, want the living thread's call only", s.pending)
	}
}

// checkForgotten checks that pid is in neither the process table nor the
// filter's process tree.
func checkForgotten(t *testing.T, s *pairer, pid int, what string) {
	t.Helper()
	if s.filter.Procs.Contains(pid) {
		t.Errorf("%s still in the tree", what)
	}
	if _, ok := s.procs.m[int32(pid)]; ok {
		t.Errorf("%s still in the process table", what)
	}
}
