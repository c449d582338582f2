package filter

import (
	"testing"

	"github.com/auperf/auperf/event"
)

func ev(pid, ppid int32, comm string, uid uint32, ret int64) *event.Event {
	e := &event.Event{Known: event.HasProcess | event.HasParent | event.HasUser | event.HasReturn,
		ProcessID: pid, ParentProcessID: ppid, ProcessName: comm, UserID: uid, ReturnValue: ret,
		EventName: "msync", Source: event.SourcePerf}
	if ret < 0 {
		e.Errno = "ENOMEM"
	}
	return e
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		ev   *event.Event
		want bool
	}{
		{"empty", Spec{}, ev(1, 0, "a", 0, 0), true},
		{"pid", Spec{PIDs: []int{5, 6}}, ev(6, 1, "a", 0, 0), true},
		{"pid no", Spec{PIDs: []int{5}}, ev(7, 5, "a", 0, 0), false},
		{"comm", Spec{Comms: []string{"x", "a"}}, ev(7, 5, "a", 0, 0), true},
		{"comm no", Spec{Comms: []string{"x"}}, ev(7, 5, "a", 0, 0), false},
		{"uid", Spec{UIDs: []uint32{1000}}, ev(7, 5, "a", 1000, 0), true},
		{"uid no", Spec{UIDs: []uint32{1000}}, ev(7, 5, "a", 0, 0), false},
		{"failed", Spec{Failed: true}, ev(7, 5, "a", 0, -12), true},
		{"failed no", Spec{Failed: true}, ev(7, 5, "a", 0, 0), false},
		{"all", Spec{PIDs: []int{7}, Comms: []string{"a"}, UIDs: []uint32{0}, Failed: true}, ev(7, 5, "a", 0, -12), true},
		{"own events pass", Spec{PIDs: []int{1}}, &event.Event{Source: event.SourceAuperf, EventName: event.NameLost}, true},
	}
	for _, tt := range tests {
		if got := tt.spec.Match(tt.ev); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
	noUID := ev(7, 5, "a", 0, 0)
	noUID.Known &^= event.HasUser
	if (Spec{UIDs: []uint32{0}}).Match(noUID) {
		t.Error("unknown uid matched --uid 0")
	}
	noRet := ev(7, 5, "a", 0, 0)
	noRet.Known &^= event.HasReturn
	if (Spec{Failed: true}).Match(noRet) {
		t.Error("a call without return matched --failed")
	}
}

func TestTree(t *testing.T) {
	s := Spec{PIDs: []int{100}, Tree: true}
	s.Init()
	c := s // copies share the tree
	if !c.Match(ev(100, 1, "sh", 0, 0)) {
		t.Fatal("root not matched")
	}
	if c.Match(ev(200, 1, "x", 0, 0)) {
		t.Fatal("stranger matched")
	}
	// Learnt from fork records (perf).
	s.Procs.Fork(100, 101)
	s.Procs.Fork(101, 102)
	s.Procs.Fork(102, 102) // a thread: ignored
	s.Procs.Fork(300, 301) // not ours
	if !c.Match(ev(102, 101, "x", 0, 0)) || c.Match(ev(301, 300, "x", 0, 0)) {
		t.Fatal("fork tracking wrong")
	}
	// Learnt from an event's ppid (audit).
	if !c.Match(ev(103, 102, "x", 0, 0)) || !s.Procs.Contains(103) {
		t.Fatal("ppid learning wrong")
	}
	s.Procs.Exit(102)
	s.Procs.Exit(100) // root stays
	if c.Match(ev(102, 1, "x", 0, 0)) || !c.Match(ev(100, 1, "x", 0, 0)) {
		t.Fatal("exit handling wrong")
	}
}
