// The process table: what perf samples do not carry (comm, exe, parent,
// uid), seeded from /proc and kept current by side-band records.

package perfsrc

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// proc is what auperf knows of one process (thread group).
type proc struct {
	comm, exe   string
	ppid        int32
	uid         uint32
	threads     int32 // live threads (FORK/EXIT records; /proc at seed)
	hasPPID     bool
	hasUID      bool
	execPending bool // exec (maybe) seen (COMM), executable mapping not yet: exe may be stale
}

// procTable follows processes: seeded from /proc, kept current by the
// side-band records (FORK, COMM, exec MMAP, EXIT) in time order, so that
// a process living a few milliseconds is still named right. Only the
// poller goroutine uses it.
type procTable struct {
	procRoot string
	m        map[int32]*proc
}

func newProcTable(procRoot string) *procTable {
	return &procTable{procRoot: procRoot, m: make(map[int32]*proc, 1024)}
}

// seed reads every process in /proc. Entries already learnt from records
// are newer and kept.
func (t *procTable) seed() {
	ents, err := os.ReadDir(t.procRoot)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ok := t.m[int32(pid)]; ok {
			continue
		}
		if p := t.read(int32(pid)); p != nil {
			t.m[int32(pid)] = p
		}
	}
}

// read reads one process from /proc; nil if it is gone.
func (t *procTable) read(pid int32) *proc {
	dir := filepath.Join(t.procRoot, strconv.Itoa(int(pid)))
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil
	}
	p := &proc{}
	for _, line := range bytes.Split(status, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		switch string(k) {
		case "PPid":
			if n, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil {
				p.ppid, p.hasPPID = int32(n), true
			}
		case "Threads":
			if n, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil {
				p.threads = int32(n)
			}
		case "Uid":
			if f := strings.Fields(string(v)); len(f) > 0 {
				if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
					p.uid, p.hasUID = uint32(n), true
				}
			}
		}
	}
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		p.comm = strings.TrimSuffix(string(comm), "\n")
	}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		p.exe = exe
	}
	return p
}

// alive reports whether /proc has process pid (and its thread tid, unless 0).
func (t *procTable) alive(pid, tid int32) bool {
	p := filepath.Join(t.procRoot, strconv.Itoa(int(pid)))
	if tid != 0 {
		p = filepath.Join(p, "task", strconv.Itoa(int(tid)))
	}
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// get returns the process pid, reading /proc for one not seen yet (a
// process that was not seeded and whose fork was not seen). A process
// gone from /proc gets an empty entry that is not kept: no record would
// ever remove it (its exit is past), and on a long run with many
// short-lived processes the table would grow without bound.
func (t *procTable) get(pid int32) *proc {
	if p, ok := t.m[pid]; ok {
		return p
	}
	p := t.read(pid)
	if p == nil {
		return &proc{}
	}
	t.m[pid] = p
	return p
}

func (t *procTable) fork(parent, child int32) {
	pp := t.get(parent)
	c := *pp
	c.ppid, c.hasPPID = parent, true
	c.execPending = false
	c.threads = 1
	t.m[child] = &c
}

// thread counts a new thread of pid.
func (t *procTable) thread(pid int32) {
	if p, ok := t.m[pid]; ok {
		p.threads++
	}
}

func (t *procTable) comm(pid int32, name string, exec bool) {
	p, ok := t.m[pid]
	if !ok {
		p = &proc{}
		t.m[pid] = p
	}
	if p.comm != name {
		p.comm = name
	}
	if exec {
		p.execPending = true
	}
}

func (t *procTable) mmapExec(pid int32, file string) {
	p, ok := t.m[pid]
	if !ok || !p.execPending {
		return
	}
	p.exe = file
	p.execPending = false
}

// exit counts an exited thread of pid (the leader or another one) and
// forgets the process when it was the last one: the leader may exit
// before the other threads (exit_group kills them in any order, main may
// call pthread_exit, an exec from another thread kills the leader), whose
// calls still belong to the process. It reports whether the process is
// gone (for a process not in the table: whether its leader exited).
func (t *procTable) exit(pid int32, leader bool) bool {
	p, ok := t.m[pid]
	if !ok {
		return leader
	}
	if p.threads--; p.threads > 0 {
		return false
	}
	delete(t.m, pid)
	return true
}
