// Reassembly, pure: audit records (SYSCALL, MMAP, PROCTITLE, EOE) grouped
// by serial into one event per syscall, decoded, and handed to an emitter.
// The live reader (reader.go) and the log decoder (log.go) both feed it.
// No kernel I/O.

package auditsrc

import (
	"cmp"
	"slices"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
)

// emitter receives what reassembly produces.
type emitter interface {
	// syscall is one complete event of a wanted syscall, not ours; sys is
	// its SYSCALL record. ev is valid only during the call.
	syscall(ev *event.Event, sys *syscallRecord)
	// lost reports n events lost for cause.
	lost(n uint64, cause string)
	// malformed reports a SYSCALL record without the fields every one
	// has (a log line that was cut or garbled).
	malformed()
}

// assembler groups records into events.
type assembler struct {
	set  *syscallSet
	self int32 // our pid: its events are dropped (counted); -1: none
	c    *counters
	out  emitter
	ev   event.Event
	pend map[uint64]*group // by groupKey (node, serial)
	free []*group
	strs interner
	next uint64 // order of the next new group

	// logs: reading a log, where auditd writes no EOE (PROCTITLE is the
	// last record of a syscall event) and loss is counted, not put in
	// the stream.
	logs       bool
	nodes      []string // hostNames of logs with node=, by group node id - 1
	auxMissing uint64   // MMAP/PROCTITLE/EOE records missing from groups with a SYSCALL

	// Lean records (see session.startLean): the kernel sends no
	// PROCTITLE and no EOE, so a group is complete once its known
	// records are in. lean holds while our exclusions may be loaded;
	// once they are deleted, the CONFIG_CHANGE of that deletion
	// (leanEnd, set when awaitLeanEnd) separates lean serials from
	// full ones.
	lean         bool
	awaitLeanEnd bool
	leanEndSet   bool
	leanEnd      uint32
	leanEndAt    time.Time
	done         [doneSlots]doneSlot // recently completed serials
}

// newAssembler reassembles the syscalls of set into out, counting in c.
func newAssembler(set *syscallSet, self int32, c *counters, out emitter) *assembler {
	return &assembler{set: set, self: self, c: c, out: out, pend: make(map[uint64]*group),
		strs: interner{m: make(map[string]string)}}
}

// doneSlots is how many recently completed serials the assembler
// remembers, so that records arriving after their group was completed (the
// PROCTITLE or EOE of a lean-era group, an EOE after the timeout) are not
// taken for the remains of a lost event.
const doneSlots = 8192

type doneSlot struct {
	key uint64
	ok  bool
}

// groupKey is what groups records into one event: the serial, and in a
// log of several hosts (node=) the host, since each host numbers its own
// events.
func groupKey(node, serial uint32) uint64 { return uint64(node)<<32 | uint64(serial) }

type group struct {
	order   uint64 // arrival order of the group's first record
	node    uint32 // host id (logs with node=: nodes[node-1]); 0: none
	serial  uint32
	ts      int64
	arrived time.Time
	hasSys  bool
	hasAux  bool // MMAP, PROCTITLE or EOE: the records of a syscall event
	hasPT   bool // PROCTITLE
	hasEOE  bool
	sys     syscallRecord
	mmap    mmapRecord
	hasMmap bool
}

// leanSerial reports whether the event with this serial was logged with
// our exclusions in place (no PROCTITLE, no EOE).
func (a *assembler) leanSerial(serial uint32) bool {
	return a.lean && (!a.leanEndSet || int32(serial-a.leanEnd) < 0)
}

// recentlyDone reports whether the group of key was completed lately.
func (a *assembler) recentlyDone(key uint64) bool {
	d := a.done[key%doneSlots]
	return d.ok && d.key == key
}

// record adds one record to its group; EOE completes the group.
func (a *assembler) record(rec record, now time.Time) {
	switch rec.typ {
	case typeSyscall, typeMmap, typeProctitle, typeEOE:
	default:
		return
	}
	key := groupKey(rec.node, rec.serial)
	g := a.pend[key]
	if g == nil && rec.typ != typeSyscall && a.recentlyDone(key) {
		// A record of a group already completed: a lean-era event's
		// PROCTITLE or EOE logged after our exclusions were deleted,
		// or an EOE after the timeout. The event was emitted.
		a.c.late.Add(1)
		return
	}
	if g == nil {
		if n := len(a.free); n > 0 {
			g = a.free[n-1]
			a.free = a.free[:n-1]
		} else {
			g = new(group)
		}
		comm, exe, skey := g.sys.comm, g.sys.exe, g.sys.key
		*g = group{order: a.next, node: rec.node, serial: rec.serial, ts: rec.ts, arrived: now}
		a.next++
		g.sys.comm, g.sys.exe, g.sys.key = comm, exe, skey
		a.pend[groupKey(rec.node, rec.serial)] = g
	}
	switch rec.typ {
	case typeSyscall:
		parseSyscall(&g.sys, rec.body)
		g.hasSys = true
		if a.leanSerial(rec.serial) && !a.expectMmap(g) {
			a.complete(g)
		}
	case typeMmap:
		g.mmap = parseMmap(rec.body)
		g.hasMmap = true
		g.hasAux = true
		if g.hasSys && a.leanSerial(rec.serial) {
			a.complete(g)
		}
	case typeProctitle:
		g.hasAux = true
		g.hasPT = true
		if a.logs && g.hasSys {
			// auditd does not write EOE records; PROCTITLE is the
			// last record of a syscall event.
			a.complete(g)
		}
	case typeEOE:
		g.hasAux = true
		g.hasEOE = true
		a.complete(g)
	}
}

func (a *assembler) complete(g *group) {
	key := groupKey(g.node, g.serial)
	a.done[key%doneSlots] = doneSlot{key, true}
	delete(a.pend, key)
	a.emit(g)
	a.free = append(a.free, g)
}

// flushOlder completes groups that arrived before t without their EOE.
func (a *assembler) flushOlder(t time.Time) {
	var old []*group
	for _, g := range a.pend {
		if g.arrived.Before(t) {
			old = append(old, g)
		}
	}
	a.completeInOrder(old)
	if a.leanEndSet && t.After(a.leanEndAt) {
		// Every lean-era group has completed or timed out by now
		// (judged lean, above, as they were).
		a.lean, a.leanEndSet = false, false
	}
}

// completeInOrder completes gs in the order their groups began.
func (a *assembler) completeInOrder(gs []*group) {
	slices.SortFunc(gs, func(x, y *group) int { return cmp.Compare(x.order, y.order) })
	for _, g := range gs {
		a.complete(g)
	}
}

func (a *assembler) emit(g *group) {
	if !g.hasSys {
		if g.hasAux {
			// The event's SYSCALL record was lost.
			a.c.lostIncomplete.Add(1)
			a.out.lost(1, "incomplete")
		}
		return
	}
	sys := &g.sys
	arch := decode.ArchFromAudit(sys.arch)
	if !a.logs {
		a.auxMissing += uint64(a.missingAux(g, arch))
	}
	if !sys.wellFormed() {
		a.out.malformed()
		return
	}
	if arch == decode.ArchUnknown || !sys.hasNr || !a.set.wanted(arch, sys.nr) {
		a.c.notOurs.Add(1)
		return
	}
	if sys.has&hasPid != 0 && sys.pid == a.self {
		a.c.self.Add(1)
		return
	}
	raw := decode.Raw{Arch: arch, Nr: sys.nr, Known: sys.known, Ret: sys.exit, HasRet: sys.hasExit}
	copy(raw.Args[:4], sys.args[:])
	if g.hasMmap && g.mmap.hasFd && sys.nr == a.set.mmapFd[arch] {
		raw.Args[4] = uint64(g.mmap.fd)
		raw.Known |= 1 << 4
	}
	ev := &a.ev
	ev.Reset()
	decode.Decode(ev, &raw, nil)
	ev.Timestamp = g.ts
	ev.Source = event.SourceAudit
	p := event.Process{PID: sys.pid, PPID: sys.ppid, UID: sys.uid, GID: sys.gid, AUID: sys.auid, SES: sys.ses}
	for _, k := range [...]struct {
		has   uint8
		known event.Fields
	}{{hasPid, event.HasProcess}, {hasPPid, event.HasParent}, {hasUID, event.HasUser}, {hasGID, event.HasGroup},
		{hasAUID, event.HasLoginUser}, {hasSes, event.HasSession}} {
		if sys.has&k.has != 0 {
			p.Known |= k.known
		}
	}
	if sys.has&hasComm != 0 {
		p.Comm = a.strs.get(sys.comm)
	}
	if sys.has&hasExe != 0 {
		p.Exe = a.strs.get(sys.exe)
	}
	ev.SetProcess(&p)
	if g.node > 0 {
		ev.HostName = a.nodes[g.node-1]
	}
	a.out.syscall(ev, sys)
}

// missingAux is how many records the kernel always sends with this SYSCALL
// that did not arrive: PROCTITLE and EOE (unless the event is lean), and
// MMAP for an mmap of a file.
func (a *assembler) missingAux(g *group, arch decode.Arch) int {
	n := 0
	if !a.leanSerial(g.serial) {
		if !g.hasPT {
			n++
		}
		if !g.hasEOE {
			n++
		}
	}
	if !g.hasMmap && a.mmapRecordFor(&g.sys, arch) {
		n++
	}
	return n
}

// mmapRecordFor reports whether the kernel logs an MMAP record for this
// call: an mmap of a file (ksys_mmap_pgoff logs it before it even looks
// the fd up; the 64-bit mmaps reject an unaligned offset, EINVAL, before
// that; the mmap2 of i386 and arm take the offset in pages).
func (a *assembler) mmapRecordFor(sys *syscallRecord, arch decode.Arch) bool {
	return sys.hasNr && sys.nr == a.set.mmapFd[arch] && sys.known&8 != 0 &&
		sys.args[3]&mapAnonymous == 0 && !(!arch.IsCompat() && sys.exit == -22)
}

// expectMmap reports whether a lean group with this SYSCALL waits for
// more records: an MMAP, or an unknown set (i386's old mmap passes its
// arguments in memory, so whether an MMAP follows is not known: such a
// group completes by timeout). Calls that are not ours complete at once:
// they are dropped anyway.
func (a *assembler) expectMmap(g *group) bool {
	sys := &g.sys
	arch := decode.ArchFromAudit(sys.arch)
	if arch == decode.ArchUnknown || !sys.hasNr || !a.set.wanted(arch, sys.nr) {
		return false
	}
	if arch == decode.ArchI386 && sys.nr == a.set.oldMmap {
		return true
	}
	return a.mmapRecordFor(sys, arch)
}

// mapAnonymous is MAP_ANONYMOUS (the same on x86_64, i386 and arm64).
const mapAnonymous = 0x20

// interner keeps one string per distinct comm/exe so that events do not
// allocate for them.
type interner struct{ m map[string]string }

func (in *interner) get(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if len(in.m) > 4096 {
		clear(in.m)
	}
	s := string(b)
	in.m[s] = s
	return s
}
