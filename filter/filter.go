package filter

import (
	"slices"
	"sync"

	"github.com/auperf/auperf/event"
)

// Spec is what the user asked to see. The zero Spec matches everything.
type Spec struct {
	PIDs   []int    // --pid (matches the process and, with Tree, its descendants)
	Comms  []string // --comm: processName equals one of them
	UIDs   []uint32 // --uid: userId equals one of them (unknown uid: no match)
	Failed bool     // --failed: only failing calls
	Tree   bool     // PIDs are roots of process trees (the `-- COMMAND` mode)

	// Procs follows the trees when Tree is set; Init makes it. Copies of
	// a Spec share it, so every source feeds and reads one tree.
	Procs *Tree
}

// Init prepares s for Match (the process tree in Tree mode). Call it once,
// before handing copies of s to sources.
func (s *Spec) Init() {
	if s.Tree && s.Procs == nil {
		s.Procs = NewTree(s.PIDs)
	}
}

// Empty reports whether s matches everything.
func (s Spec) Empty() bool {
	return len(s.PIDs) == 0 && len(s.Comms) == 0 && len(s.UIDs) == 0 && !s.Failed
}

// Match reports whether ev passes the conditions of s. auperf's own events
// (auperf_stats, auperf_lost) always pass.
func (s Spec) Match(ev *event.Event) bool {
	if ev.Source == event.SourceAuperf {
		return true
	}
	if s.Failed && !ev.IsError() {
		return false
	}
	if len(s.PIDs) > 0 && !s.matchPID(ev) {
		return false
	}
	if len(s.Comms) > 0 && !slices.Contains(s.Comms, ev.ProcessName) {
		return false
	}
	if len(s.UIDs) > 0 && (ev.Known&event.HasUser == 0 || !slices.Contains(s.UIDs, ev.UserID)) {
		return false
	}
	return true
}

func (s Spec) matchPID(ev *event.Event) bool {
	if ev.Known&event.HasProcess == 0 {
		return false
	}
	pid := int(ev.ProcessID)
	if !s.Tree {
		return slices.Contains(s.PIDs, pid)
	}
	t := s.Procs
	if t == nil {
		// Not initialised: roots and their children only.
		return slices.Contains(s.PIDs, pid) ||
			(ev.Known&event.HasParent != 0 && slices.Contains(s.PIDs, int(ev.ParentProcessID)))
	}
	if t.Contains(pid) {
		return true
	}
	if ev.Known&event.HasParent != 0 && t.Contains(int(ev.ParentProcessID)) {
		t.Fork(int(ev.ParentProcessID), pid)
		return true
	}
	return false
}

// Tree is a set of processes: roots and every process forked from one of
// them while the tree was watching. It is safe for concurrent use.
type Tree struct {
	mu    sync.RWMutex
	roots []int
	pids  map[int]struct{}
}

// NewTree returns a tree with the given roots.
func NewTree(roots []int) *Tree {
	t := &Tree{roots: slices.Clone(roots), pids: make(map[int]struct{})}
	for _, r := range roots {
		t.pids[r] = struct{}{}
	}
	return t
}

// Contains reports whether pid is in the tree.
func (t *Tree) Contains(pid int) bool {
	t.mu.RLock()
	_, ok := t.pids[pid]
	t.mu.RUnlock()
	return ok
}

// Fork adds child if parent is in the tree, and reports whether it did.
func (t *Tree) Fork(parent, child int) bool {
	if parent == child {
		return false // a new thread, not a new process
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pids[parent]; !ok {
		return false
	}
	t.pids[child] = struct{}{}
	return true
}

// Exit removes pid (not a root: a root's events stay matched, and its pid
// cannot be reused while its parent, auperf, has not reaped it).
func (t *Tree) Exit(pid int) {
	if slices.Contains(t.roots, pid) {
		return
	}
	t.mu.Lock()
	delete(t.pids, pid)
	t.mu.Unlock()
}

// Len is the number of processes in the tree.
func (t *Tree) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.pids)
}
