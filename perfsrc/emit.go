// Building events: a paired enter and exit (or one of them alone, honestly
// marked) decoded into an event.Event, and the calls whose partner never
// comes: orphans held for a late partner, calls running at stop, and the
// sweep of gone threads after a ring loss. Pure, like pair.go.

package perfsrc

import (
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
)

// emit reports one syscall: enter and exit paired, an enter alone (still
// running or its exit lost: no return value), or an exit alone (unknown
// arguments).
func (p *pairer) emit(enter, exit *rec) {
	ev := &p.ev
	ev.Reset()
	first := enter
	if first == nil {
		first = exit
	}
	raw := &p.raw
	*raw = decode.Raw{Arch: p.arch, Nr: first.nr}
	var names []string
	if enter != nil {
		raw.Args = enter.words
		raw.Known = uint8(1<<len(enter.tp.args) - 1)
		names = enter.tp.names
	} else {
		names = p.enterNames(exit.tp)
	}
	if exit != nil {
		raw.Ret = int64(exit.words[0])
		raw.HasRet = true
	}
	decode.Decode(ev, raw, names)
	ev.Timestamp = p.clock.wall(first.ts)
	ev.ProcessorID = first.cpu
	ev.Known |= event.HasProcessor
	if enter != nil && exit != nil {
		ev.DurationNs = int64(exit.ts - enter.ts)
		ev.Known |= event.HasDuration
	}
	pr := p.procs.get(first.pid)
	proc := event.Process{Known: event.HasProcess | event.HasThread, PID: first.pid, TID: first.tid,
		Comm: pr.comm, Exe: pr.exe, PPID: pr.ppid, UID: pr.uid}
	if pr.hasPPID {
		proc.Known |= event.HasParent
	}
	if pr.hasUID {
		proc.Known |= event.HasUser
	}
	ev.SetProcess(&proc)
	ev.Source = event.SourcePerf
	if p.needMatch && !p.filter.Match(ev) {
		p.nFiltered.Add(1)
		return
	}
	p.emitted++
	p.h(ev)
}

// enterNames finds the argument names of an exit's syscall (from its enter
// format).
func (p *pairer) enterNames(exit *tracepoint) []string {
	if f := exit.call.Enter; f != nil {
		if tp := p.tps[f.ID]; tp != nil {
			return tp.names
		}
	}
	return nil
}

// orphan is an exit whose enter was not seen (yet), or an enter replaced
// by its thread's next one.
type orphan struct {
	r     rec
	round uint64
}

// orphanHold is how long (record time) an exit waits for a late enter.
const orphanHold = uint64(100 * time.Millisecond)

// expireOrphans reports the exits whose enter will not come: held two
// rounds and orphanHold, or all of them at the end.
func (p *pairer) expireOrphans(final bool) {
	expired := func(o *orphan) bool {
		return final || p.roundNo-o.round >= 2 && p.lastMax > o.r.ts+orphanHold
	}
	for tid, o := range p.orphans {
		if expired(&o) {
			delete(p.orphans, tid)
			p.emitOrphan(&o.r)
		}
	}
	for tid, o := range p.stale {
		if expired(&o) {
			delete(p.stale, tid)
			p.emitUnfinished(&o.r)
		}
	}
}

// emitUnfinished reports an enter alone: no return value.
func (p *pairer) emitUnfinished(r *rec) {
	p.nUnfinished.Add(1)
	p.emit(r, nil)
}

// emitOrphan reports an exit alone: its arguments unknown, not guessed.
func (p *pairer) emitOrphan(r *rec) {
	p.nUnpaired.Add(1)
	p.emit(nil, r)
}

// flushPending reports the syscalls still running at stop, without return.
func (p *pairer) flushPending() {
	for tid, r := range p.pending {
		delete(p.pending, tid)
		p.emitUnfinished(&r)
	}
	p.nEmitted.Store(p.emitted)
}

// sweep drops, after a loss, what a lost EXIT record would have left
// behind for the rest of the run: processes (table and tree) and running
// calls of threads that /proc says are gone. Candidates are taken at the
// end of one round and dropped two rounds later if unchanged: by then
// every record stamped before they were taken has been processed.
type sweep struct {
	wanted bool
	round  uint64 // candidates taken in this round (0: none)
	lastTS uint64 // time of the loss that asked for the last sweep
	procs  []sweepProc
	tids   []sweepTid
}

type sweepProc struct {
	pid int32
	p   *proc
}

type sweepTid struct {
	tid int32
	ts  uint64
}

// sweepEvery is how often (record time) losses may start a sweep, which
// reads /proc for every process and running call.
const sweepEvery = uint64(time.Second)

// lostSweep asks for a sweep after a loss at time ts.
func (p *pairer) lostSweep(ts uint64) {
	w := &p.sweep
	if w.lastTS == 0 || ts >= w.lastTS+sweepEvery {
		w.wanted, w.lastTS = true, max(ts, 1)
	}
}

func (p *pairer) sweepGone() {
	w := &p.sweep
	if w.round != 0 && p.roundNo >= w.round+2 {
		for _, c := range w.tids {
			if e, ok := p.pending[c.tid]; ok && e.ts == c.ts {
				delete(p.pending, c.tid)
				p.emitUnfinished(&e)
			}
		}
		for _, c := range w.procs {
			if p.procs.m[c.pid] == c.p {
				delete(p.procs.m, c.pid)
				if t := p.filter.Procs; t != nil {
					t.Exit(int(c.pid))
				}
			}
		}
		w.procs, w.tids, w.round = w.procs[:0], w.tids[:0], 0
	}
	if !w.wanted || w.round != 0 {
		return
	}
	w.wanted, w.round = false, p.roundNo
	for pid, pr := range p.procs.m {
		if !p.procs.alive(pid, 0) {
			w.procs = append(w.procs, sweepProc{pid, pr})
		}
	}
	for tid, e := range p.pending {
		if !p.procs.alive(e.pid, tid) {
			w.tids = append(w.tids, sweepTid{tid, e.ts})
		}
	}
}
