// The pure core's process table and sweep: exec naming, leaders that exit
// first, the table bounded, the calibration, and what a ring loss sweeps.

package perfsrc

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/elastic/go-perf"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

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
