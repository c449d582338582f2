// The pairer: the pure core of the perf source. It takes parsed ring
// records of every CPU, merges them in time order across CPUs, pairs each
// syscall's enter with its exit on the thread id, keeps the process table
// current from the side-band records, and hands finished events to the
// handler. No kernel I/O: tests drive it with records built in memory.

package perfsrc

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

// pairConfig is what a pairer needs to know.
type pairConfig struct {
	Arch    decode.Arch
	Self    int32      // our own pid: its calls are dropped (counted)
	Calls   []*Syscall // the traced syscalls' formats
	CPUs    []int      // CPU numbers, in ring order
	Filter  filter.Spec
	Procs   *procTable
	Clock   *clock        // nil: timestamps are wall time already
	Handler event.Handler // every event, one call at a time
	// SelfExit is told when a thread of ours exits (the kernel filter
	// lets it go); nil: nothing to tell.
	SelfExit func(tid int32)
}

// pairer merges and pairs. Only the poller goroutine calls its methods,
// except stats and lostTotal.
type pairer struct {
	arch      decode.Arch
	self      int32
	calls     []*Syscall
	tps       []*tracepoint // indexed by tracepoint id
	execNr    [2]int32      // execve, execveat (-1: none)
	filter    filter.Spec
	needMatch bool // the filter is not empty: Match every event
	// nextFilter is a filter SetFilter left for the next round.
	nextFilter atomic.Pointer[filter.Spec]
	// noCommExec: the kernel cannot flag exec COMM records (before
	// 3.16), so a leader's COMM may be an exec.
	noCommExec bool
	procs      *procTable
	clock      *clock
	h          event.Handler
	selfExit   func(tid int32)

	cpuMu   sync.Mutex // cpus and lost grow (a CPU comes online) while stats reads them
	cpus    []int
	lost    []atomic.Uint64 // per CPU index
	queues  [][]rec
	heads   []int
	active  []int  // merge's scratch: the queues it still takes from
	lastMax uint64 // highest timestamp read in the previous round
	pending map[int32]rec
	orphans map[int32]orphan // exits waiting for a late enter
	stale   map[int32]orphan // enters replaced by a newer one, waiting for a late exit
	roundNo uint64
	sweep   sweep
	ev      event.Event
	raw     decode.Raw

	// Counters, read by stats from other goroutines.
	nSamples, nEmitted, nSelf, nFiltered, nUnpaired, nUnfinished atomic.Uint64
	// samples and emitted are counted by the loop that runs rounds and
	// published into nSamples and nEmitted once per round: an atomic add
	// per record cost more than the pairing of it.
	samples, emitted uint64
}

// newPairer builds the tracepoint index from cfg.Calls.
func newPairer(cfg pairConfig) (*pairer, error) {
	p := &pairer{arch: cfg.Arch, self: cfg.Self, calls: cfg.Calls, filter: cfg.Filter, procs: cfg.Procs,
		clock: cfg.Clock, h: cfg.Handler, selfExit: cfg.SelfExit,
		pending: make(map[int32]rec, 256), orphans: make(map[int32]orphan), stale: make(map[int32]orphan)}
	if p.clock == nil {
		p.clock = &clock{}
	}
	if p.procs == nil {
		p.procs = newProcTable("/proc")
	}
	if p.selfExit == nil {
		p.selfExit = func(int32) {}
	}
	p.needMatch = !cfg.Filter.Empty()
	for _, cpu := range cfg.CPUs {
		p.addCPU(cpu)
	}
	if err := p.index(); err != nil {
		return nil, err
	}
	return p, nil
}

// index builds the table of tracepoints by id.
func (p *pairer) index() error {
	maxID := uint64(0)
	for _, c := range p.calls {
		maxID = max(maxID, c.Enter.ID, c.Exit.ID)
	}
	if maxID > 1<<20 {
		return fmt.Errorf("tracepoint id %d out of range", maxID)
	}
	p.tps = make([]*tracepoint, maxID+1)
	for i, name := range []string{"execve", "execveat"} {
		p.execNr[i] = -1
		if nr, ok := decode.SyscallNumber(p.arch, name); ok {
			p.execNr[i] = int32(nr)
		}
	}
	for _, c := range p.calls {
		for _, f := range []*Format{c.Enter, c.Exit} {
			tp := &tracepoint{call: c, enter: f == c.Enter, nrOff: f.SyscallNr().Offset, nr: -1}
			if nr, ok := decode.SyscallNumber(p.arch, c.Name); ok {
				tp.nr = int32(nr)
			}
			for _, a := range f.Args() {
				if a.Size != 8 {
					return fmt.Errorf("tracepoint %s: field %s is %d bytes, want 8", f.Name, a.Name, a.Size)
				}
				tp.args = append(tp.args, a.Offset)
				tp.names = append(tp.names, a.Name)
			}
			if len(tp.args) > 6 || (!tp.enter && len(tp.args) != 1) {
				return fmt.Errorf("tracepoint %s: unexpected fields", f.Name)
			}
			p.tps[f.ID] = tp
		}
	}
	return nil
}

// addCPU adds the queue of one more CPU (attach, or a CPU that came online).
func (p *pairer) addCPU(cpu int) {
	p.queues = append(p.queues, nil)
	p.heads = append(p.heads, 0)
	p.cpuMu.Lock()
	lost := make([]atomic.Uint64, len(p.lost)+1)
	for i := range p.lost {
		lost[i].Store(p.lost[i].Load())
	}
	p.lost = lost
	p.cpus = append(p.cpus, cpu)
	p.cpuMu.Unlock()
}

// gap reports in-stream that calls on cpu went untraced from about since
// (wall ns) on and how many is not known (cause says why).
func (p *pairer) gap(since int64, cpu int, cause string) {
	event.NewLostUnknown(&p.ev, since, event.SourcePerf, cpu, cause)
	p.h(&p.ev)
}

// lostTotal is the ring records the kernel reported lost so far.
func (p *pairer) lostTotal() uint64 {
	p.cpuMu.Lock()
	defer p.cpuMu.Unlock()
	var total uint64
	for i := range p.lost {
		total += p.lost[i].Load()
	}
	return total
}

// round processes, in time order across CPUs, the records queued since the
// last round that are safe to order: those not later than the newest
// record of the previous round (a record stamped before that was in its
// ring by the time this round read it). final processes everything.
func (p *pairer) round(final bool) {
	p.takeFilter()
	p.roundNo++
	var newest uint64
	for _, q := range p.queues {
		if len(q) > 0 {
			newest = max(newest, q[len(q)-1].ts)
		}
	}
	limit := p.lastMax
	if final {
		limit = math.MaxUint64
	}
	p.lastMax = max(p.lastMax, newest)
	p.merge(limit)
	p.expireOrphans(final)
	if !final {
		p.sweepGone()
	}
	p.nSamples.Store(p.samples)
	p.nEmitted.Store(p.emitted)
}

// merge processes queued records with ts <= limit in time order, the oldest
// head among the CPU queues first (the lower CPU on a tie), and keeps the
// rest for the next round. Only queues with something to give are scanned
// for each record: on a large host most CPUs have nothing this round.
func (p *pairer) merge(limit uint64) {
	heads := p.heads
	clear(heads)
	act := p.active[:0]
	for i, q := range p.queues {
		if len(q) > 0 && q[0].ts <= limit {
			act = append(act, i)
		}
	}
	for len(act) > 0 {
		at, best := 0, act[0]
		bestTS := p.queues[best][heads[best]].ts
		for j, i := range act[1:] {
			if ts := p.queues[i][heads[i]].ts; ts < bestTS || ts == bestTS && i < best {
				at, best, bestTS = j+1, i, ts
			}
		}
		p.process(&p.queues[best][heads[best]])
		heads[best]++
		if q := p.queues[best]; heads[best] == len(q) || q[heads[best]].ts > limit {
			act[at] = act[len(act)-1]
			act = act[:len(act)-1]
		}
	}
	p.active = act
	for i, q := range p.queues {
		n := copy(q, q[heads[i]:])
		clear(q[n:])
		p.queues[i] = q[:n]
	}
}

// process handles one record in time order.
func (p *pairer) process(r *rec) {
	if r.kind == kEnter || r.kind == kExit {
		if r.pid == p.self {
			p.nSelf.Add(1)
			return
		}
		if p.skip(r.pid) {
			p.nFiltered.Add(1)
			return
		}
	}
	switch r.kind {
	case kEnter:
		p.enter(r)
	case kExit:
		p.exit(r)
	case kComm, kCommExec:
		if r.pid == p.self {
			if r.kind == kComm {
				p.clock.comm(r.tid, r.ts)
			}
			return
		}
		if r.pid == r.tid || r.kind == kCommExec {
			// Without the exec flag a leader's rename may be an exec:
			// the next executable mapping names the binary.
			p.procs.comm(r.pid, r.str, r.kind == kCommExec || p.noCommExec)
		}
	case kFork:
		ppid := int32(r.words[0])
		if r.pid != ppid {
			p.procs.fork(ppid, r.pid)
			if t := p.filter.Procs; t != nil {
				t.Fork(int(ppid), int(r.pid))
			}
		} else {
			p.procs.thread(r.pid)
		}
	case kProcExit:
		p.threadExit(r)
	case kMmapExec:
		p.procs.mmapExec(r.pid, r.str)
	case kLost:
		event.NewLost(&p.ev, p.clock.wall(r.ts), event.SourcePerf, int(r.cpu), r.words[0], "ring")
		p.h(&p.ev)
		p.lostSweep(r.ts)
	}
}

func (p *pairer) enter(r *rec) {
	if o, ok := p.orphans[r.tid]; ok {
		delete(p.orphans, r.tid)
		if o.r.nr == r.nr && o.r.ts >= r.ts {
			// The exit was handled first: this enter was late in
			// its ring (a vCPU stalled between stamping and
			// committing it).
			p.emit(r, &o.r)
			return
		}
		p.emitOrphan(&o.r)
	}
	if old, ok := p.pending[r.tid]; ok {
		// Its exit is lost, or late in its ring: held a while
		// (expireOrphans), then reported as it is.
		if st, ok := p.stale[r.tid]; ok {
			p.emitUnfinished(&st.r)
		}
		p.stale[r.tid] = orphan{r: old, round: p.roundNo}
	}
	p.pending[r.tid] = *r
}

func (p *pairer) exit(r *rec) {
	if e, ok := p.pending[r.tid]; ok && e.nr == r.nr && e.ts <= r.ts {
		delete(p.pending, r.tid)
		p.emit(&e, r)
		return
	}
	if st, ok := p.stale[r.tid]; ok && st.r.nr == r.nr && st.r.ts <= r.ts {
		// A late exit of the call before the pending one.
		delete(p.stale, r.tid)
		p.emit(&st.r, r)
		return
	}
	if r.nr == p.execNr[0] || r.nr == p.execNr[1] {
		// An exec from a thread other than the leader returns in the
		// leader's thread id: its enter is pending under the old one,
		// which no record will ever end.
		for tid, e := range p.pending {
			if e.pid == r.pid && e.nr == r.nr && e.ts <= r.ts {
				delete(p.pending, tid)
				p.emit(&e, r)
				return
			}
		}
	}
	// Entered before we started, or its enter was lost, or it is late:
	// held a while (expireOrphans).
	if o, ok := p.orphans[r.tid]; ok {
		p.emitOrphan(&o.r)
	}
	p.orphans[r.tid] = orphan{r: *r, round: p.roundNo}
}

// threadExit handles the EXIT record of one thread.
func (p *pairer) threadExit(r *rec) {
	if r.pid == p.self {
		p.selfExit(r.tid)
		return
	}
	if st, ok := p.stale[r.tid]; ok {
		delete(p.stale, r.tid)
		p.emitUnfinished(&st.r)
	}
	if old, ok := p.pending[r.tid]; ok {
		// The thread died inside the syscall: no return.
		delete(p.pending, r.tid)
		p.emitUnfinished(&old)
	}
	if p.procs.exit(r.pid, r.pid == r.tid) {
		if t := p.filter.Procs; t != nil {
			t.Exit(int(r.pid))
		}
	}
}

// skip is the cheap part of the user's filter, applied before decoding:
// the process tree of `-- COMMAND`.
func (p *pairer) skip(pid int32) bool {
	f := &p.filter
	return f.Tree && f.Procs != nil && !f.Procs.Contains(int(pid))
}
