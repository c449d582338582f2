// Package insight derives findings from the memory syscalls a source
// captured: msync discipline of shared writable file mappings, W^X
// mappings, locked memory, remap_file_pages use. A Tracker follows every
// process's mappings from its mmap, mremap, munmap, mprotect, msync and
// mlock events (mappings made before it saw the process are unknown and
// never guessed) and emits derived events into the same stream.
//
// A derived event has the process identity of the event that led to it,
// eventName = the insight's name, the source of that event, no syscall,
// and args: addr (the start of the region it is about), length, pattern
// (mem_wx only), evidence (the calls that led to it) and explanation (one
// line). Its "file" block names the mapped file where known.
package insight

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/auperf/auperf/event"
)

// Set is a set of insights.
type Set uint16

const (
	MsyncMissing   Set = 1 << iota // a shared writable file mapping unmapped (or its process exited) never msynced
	MsyncAsyncOnly                 // ... msynced with MS_ASYNC only
	MsyncPartial                   // an msync covering part of a shared writable file mapping
	MemWX                          // writable and executable mappings
	MlockInventory                 // locked bytes per process; memory still locked at exit
	RemapFilePages                 // remap_file_pages use (deprecated)
	FileIdentity                   // mmap's file resolved to path and device:inode
	setEnd
)

// All is every insight.
const All = setEnd - 1

// names are the insights' names, as --insights and derived events spell them.
var names = []struct {
	s    Set
	name string
}{
	{MsyncMissing, "msync_missing"},
	{MsyncAsyncOnly, "msync_async_only"},
	{MsyncPartial, "msync_partial"},
	{MemWX, "mem_wx"},
	{MlockInventory, "mlock_inventory"},
	{RemapFilePages, "remap_file_pages_deprecated"},
	{FileIdentity, "file_identity"},
}

// Names lists every insight's name.
func Names() []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.name
	}
	return out
}

func (s Set) String() string {
	if s == 0 {
		return "none"
	}
	var out []string
	for _, n := range names {
		if s&n.s != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ",")
}

// ParseSet reads "all", "none" or a comma-separated list of names, each
// optionally prefixed with "-" to take it out of what comes before
// ("all,-mem_wx").
func ParseSet(list string) (Set, error) {
	var s Set
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		neg := strings.HasPrefix(f, "-")
		f = strings.TrimPrefix(f, "-")
		var v Set
		switch f {
		case "":
			continue
		case "all":
			v = All
		case "none":
			s = 0
			continue
		default:
			for _, n := range names {
				if n.name == f {
					v = n.s
				}
			}
			if v == 0 {
				return 0, fmt.Errorf("unknown insight %q (known: all, none, %s)", f, strings.Join(Names(), ", "))
			}
		}
		if neg {
			s &^= v
		} else {
			s |= v
		}
	}
	return s, nil
}

// Limits bound the tracker's memory: what it evicts is counted.
type Limits struct {
	Processes  int // processes followed (4096)
	Regions    int // regions per process (4096)
	Evidence   int // calls kept per region as evidence (8: the first 3 and the latest)
	TopLocking int // processes named in auperf_stats' mlock inventory (16)
}

func (l *Limits) setDefaults() {
	if l.Processes <= 0 {
		l.Processes = 4096
	}
	if l.Regions <= 0 {
		l.Regions = 4096
	}
	if l.Evidence <= 0 {
		l.Evidence = 8
	}
	if l.TopLocking <= 0 {
		l.TopLocking = 16
	}
}

// Linux's values (include/uapi/asm-generic/mman*.h; the same on x86 and
// arm64).
const (
	protWrite    = 0x2
	protExec     = 0x4
	mapShared    = 0x01
	mapFixed     = 0x10
	mapAnonymous = 0x20
	msAsync      = 0x1
	msSync       = 0x4
	mlockOnfault = 0x1
	mclCurrent   = 0x1
	mclFuture    = 0x2
	mclOnfault   = 0x4
	pageMask     = 0xfff
)

// call is one event kept as evidence.
type call struct {
	ts   int64
	name string
	args [3]uint64
	ret  int64
}

func (c call) String() string {
	var b strings.Builder
	b.WriteString(c.name)
	b.WriteByte('(')
	switch c.name {
	case "mmap", "mmap2":
		fmt.Fprintf(&b, "len=%d, prot=%s, %s", c.args[0], protString(c.args[1]), mapKind(c.args[2]))
		fmt.Fprintf(&b, ") = 0x%x", uint64(c.ret))
	case "mprotect", "pkey_mprotect":
		fmt.Fprintf(&b, "0x%x, %d, %s)", c.args[0], c.args[1], protString(c.args[2]))
	case "msync":
		fmt.Fprintf(&b, "0x%x, %d, %s)", c.args[0], c.args[1], msyncString(c.args[2]))
	case "mremap":
		fmt.Fprintf(&b, "0x%x, %d, %d) = 0x%x", c.args[0], c.args[1], c.args[2], uint64(c.ret))
	case "exit":
		b.WriteString("process gone)")
	default:
		fmt.Fprintf(&b, "0x%x, %d)", c.args[0], c.args[1])
	}
	b.WriteString(" at ")
	b.WriteString(strconv.FormatInt(c.ts, 10))
	return b.String()
}

func protString(p uint64) string {
	s := []byte("---")
	if p&0x1 != 0 {
		s[0] = 'r'
	}
	if p&protWrite != 0 {
		s[1] = 'w'
	}
	if p&protExec != 0 {
		s[2] = 'x'
	}
	return string(s)
}

func mapKind(f uint64) string {
	k := "private"
	if f&mapShared != 0 {
		k = "shared"
	}
	if f&mapAnonymous != 0 {
		k += " anon"
	}
	if f&mapFixed != 0 {
		k += " fixed"
	}
	return k
}

func msyncString(f uint64) string {
	var out []string
	if f&msAsync != 0 {
		out = append(out, "MS_ASYNC")
	}
	if f&msSync != 0 {
		out = append(out, "MS_SYNC")
	}
	if f&0x2 != 0 {
		out = append(out, "MS_INVALIDATE")
	}
	if len(out) == 0 {
		return "0"
	}
	return strings.Join(out, "|")
}

// span is [lo, hi).
type span struct{ lo, hi uint64 }

// addSpan adds s to the sorted, disjoint spans ss, merging (in place).
func addSpan(ss []span, s span) []span {
	if s.hi <= s.lo {
		return ss
	}
	i := sort.Search(len(ss), func(k int) bool { return ss[k].hi >= s.lo })
	j := i
	for j < len(ss) && ss[j].lo <= s.hi {
		s.lo, s.hi = min(s.lo, ss[j].lo), max(s.hi, ss[j].hi)
		j++
	}
	return slices.Replace(ss, i, j, s)
}

// cutSpan removes s from ss (in place).
func cutSpan(ss []span, s span) []span {
	i := sort.Search(len(ss), func(k int) bool { return ss[k].hi > s.lo })
	j := i
	var keep [2]span
	n := 0
	for j < len(ss) && ss[j].lo < s.hi {
		if ss[j].lo < s.lo {
			keep[n] = span{ss[j].lo, s.lo}
			n++
		}
		if ss[j].hi > s.hi {
			keep[n] = span{s.hi, ss[j].hi}
			n++
		}
		j++
	}
	return slices.Replace(ss, i, j, keep[:n]...)
}

// covered is how many bytes of s the spans ss cover.
func covered(ss []span, s span) uint64 {
	var n uint64
	for _, x := range ss {
		lo, hi := max(x.lo, s.lo), min(x.hi, s.hi)
		if hi > lo {
			n += hi - lo
		}
	}
	return n
}

func total(ss []span) uint64 {
	var n uint64
	for _, x := range ss {
		n += x.hi - x.lo
	}
	return n
}

// region is one mapping (or the part of one that calls split off).
type region struct {
	span
	prot   uint64
	shared bool
	anon   bool
	file   *event.File
	key    fileKey // the file's identity for aliases
	wasW   bool    // was writable at some time
	memfd  bool    // a memfd's: no file behind it to sync
	// msync coverage since it was last made writable (shared file
	// mappings): by MS_SYNC, and by MS_ASYNC.
	synced, asynced []span
	evidence        []call // in evStore
	evStore         [maxEvidence]call
}

// fileKey identifies a mapped file: by device and inode, else by the fd
// it was mapped from; the zero key is none.
type fileKey struct {
	dev, ino uint64
	fd       int64
	kind     uint8 // 0 none, 1 dev:ino, 2 fd
}

// maxEvidence bounds Limits.Evidence.
const maxEvidence = 8

// newRegion is a region from the free list, evidence storage ready.
func (t *Tracker) newRegion() *region {
	var r *region
	if n := len(t.free); n > 0 {
		r, t.free = t.free[n-1], t.free[:n-1]
		*r = region{synced: r.synced[:0], asynced: r.asynced[:0]}
	} else {
		r = &region{}
	}
	r.evidence = r.evStore[:0]
	return r
}

// clone copies r (its evidence into the copy's own storage).
func (t *Tracker) clone(r *region) *region {
	c := t.newRegion()
	synced, asynced := c.synced, c.asynced
	*c = *r
	c.synced, c.asynced = append(synced, r.synced...), append(asynced, r.asynced...)
	c.evidence = c.evStore[:len(r.evidence)]
	return c
}

// release puts r on the free list.
func (t *Tracker) release(r *region) {
	if len(t.free) < 1024 {
		t.free = append(t.free, r)
	}
}

// syncable is a shared mapping of a file whose pages msync writes back,
// writable at some time since it was mapped (made read-only again, what
// was written still needs its msync).
func (r *region) syncable() bool { return r.shared && !r.anon && !r.memfd && r.wasW }

// proc is one process.
type proc struct {
	pid     int32
	ident   event.Event // identity fields of its latest event (no args)
	regions []*region   // sorted by start, disjoint
	locked  []span
	onfault []span // the part of locked that mlock2 locked with MLOCK_ONFAULT
	lockAll uint64 // mlockall flags in force (0: none)
	lockEv  []call
	seen    uint64 // tracker tick of its latest event (for eviction)
}

// Tracker follows processes' mappings and emits findings. Not safe for
// concurrent use (the pipeline calls it under its lock).
type Tracker struct {
	set    Set
	lim    Limits
	emit   func(*event.Event)
	procs  map[int32]*proc
	tick   uint64
	out    event.Event
	counts map[string]uint64 // findings by name
	hooks  Hooks
	free   []*region // regions to reuse

	evictedProcs, evictedRegions uint64
}

// New makes a tracker of the insights in set that hands each derived
// event to emit (borrowed, as a sink's Write).
func New(set Set, lim Limits, emit func(*event.Event)) *Tracker {
	lim.setDefaults()
	lim.Evidence = min(max(lim.Evidence, 4), maxEvidence)
	return &Tracker{set: set, lim: lim, emit: emit, procs: map[int32]*proc{}, counts: map[string]uint64{}}
}

// Mapping is what became of a shared writable file mapping, for reports.
type Mapping struct {
	PID          int32
	Addr, Length uint64
	File         *event.File
	Synced       uint64 // bytes an MS_SYNC covered since it was last made writable
	AsyncOnly    uint64 // bytes only an MS_ASYNC covered
	Mapped       int64  // when it was mapped (ns)
	Ended        int64  // when it was unmapped or its process ended (0: still mapped)
	Verdict      string // "synced", "partly synced", "msync_async_only", "msync_missing", "still mapped"
}

// Hooks let a report see the tracker's state change (nil: not told).
type Hooks struct {
	Mapping func(Mapping)                           // a shared writable file mapping went away
	Locked  func(pid int32, ts int64, bytes uint64) // a process's locked bytes changed
}

// SetHooks sets the hooks.
func (t *Tracker) SetHooks(h Hooks) { t.hooks = h }

// Open tells the Mapping hook of every shared writable file mapping still
// mapped (the end of an input).
func (t *Tracker) Open() {
	if t.hooks.Mapping == nil {
		return
	}
	pids := make([]int32, 0, len(t.procs))
	for pid := range t.procs {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for _, pid := range pids {
		for _, r := range t.procs[pid].regions {
			if r.syncable() {
				m := t.mapping(t.procs[pid], r, 0)
				m.Verdict = "still mapped"
				t.hooks.Mapping(m)
			}
		}
	}
}

func (t *Tracker) mapping(p *proc, r *region, ended int64) Mapping {
	sync := covered(r.synced, r.span)
	return Mapping{PID: p.pid, Addr: r.lo, Length: r.hi - r.lo, File: r.file, Synced: sync,
		AsyncOnly: covered(addSpanAll(r.synced, r.asynced), r.span) - sync, Mapped: r.evidence[0].ts, Ended: ended}
}

func (t *Tracker) locked(p *proc, ts int64) {
	if t.hooks.Locked != nil {
		t.hooks.Locked(p.pid, ts, total(p.locked))
	}
}

func (t *Tracker) proc(ev *event.Event) *proc {
	t.tick++
	p := t.procs[ev.ProcessID]
	if p == nil {
		if len(t.procs) >= t.lim.Processes {
			t.evictOldest()
		}
		p = &proc{pid: ev.ProcessID}
		t.procs[ev.ProcessID] = p
	}
	p.seen = t.tick
	id := &p.ident
	id.Known = ev.Known &^ (event.HasEventID | event.HasReturn | event.HasDuration)
	id.Timestamp, id.ProcessorID, id.ProcessID, id.ThreadID = ev.Timestamp, ev.ProcessorID, ev.ProcessID, ev.ThreadID
	id.ParentProcessID, id.UserID, id.GroupID = ev.ParentProcessID, ev.UserID, ev.GroupID
	id.LoginUserID, id.SessionID = ev.LoginUserID, ev.SessionID
	if id.ProcessName != ev.ProcessName {
		id.ProcessName = strings.Clone(ev.ProcessName)
	}
	if id.ExecutablePath != ev.ExecutablePath {
		id.ExecutablePath = strings.Clone(ev.ExecutablePath)
	}
	id.HostName, id.Container, id.Arch, id.Source = ev.HostName, ev.Container, ev.Arch, ev.Source
	return p
}

func (t *Tracker) evictOldest() {
	var old *proc
	for _, p := range t.procs {
		if old == nil || p.seen < old.seen {
			old = p
		}
	}
	delete(t.procs, old.pid)
	t.evictedProcs++
}

func arg(ev *event.Event, i int) (uint64, bool) {
	if i >= len(ev.Args) || ev.Args[i].Kind == event.ArgNull || ev.Args[i].Kind == event.ArgString {
		return 0, false
	}
	return ev.Args[i].Value, true
}

func pageUp(n uint64) uint64 { return (n + pageMask) &^ pageMask }

// Observe takes one event of the stream.
func (t *Tracker) Observe(ev *event.Event) {
	if ev.Source == event.SourceAuperf || ev.Known&event.HasProcess == 0 {
		return
	}
	name := ev.Syscall
	switch name {
	case "mmap", "mmap2", "munmap", "mprotect", "pkey_mprotect", "mremap", "msync",
		"mlock", "mlock2", "munlock", "mlockall", "munlockall", "remap_file_pages":
	case "exit_group":
		if p := t.procs[ev.ProcessID]; p != nil {
			t.gone(p, ev.Timestamp)
		}
		return
	case "execve", "execveat":
		// A successful exec replaces the whole address space.
		if ev.Known&event.HasReturn != 0 && ev.ReturnValue == 0 {
			if p := t.procs[ev.ProcessID]; p != nil {
				t.gone(p, ev.Timestamp)
			}
		}
		return
	default:
		return
	}
	if ev.Known&event.HasReturn == 0 || ev.IsError() {
		return
	}
	p := t.proc(ev)
	a0, _ := arg(ev, 0)
	a1, _ := arg(ev, 1)
	a2, ok2 := arg(ev, 2)
	c := call{ts: ev.Timestamp, name: name, args: [3]uint64{a0, a1, a2}, ret: ev.ReturnValue}
	switch name {
	case "mmap", "mmap2":
		flags, ok := arg(ev, 3)
		if !ok || !ok2 {
			return
		}
		c.args = [3]uint64{a1, a2, flags}
		start := uint64(ev.ReturnValue)
		r := t.newRegion()
		r.span, r.prot, r.shared, r.anon = span{start, start + pageUp(a1)}, a2, flags&mapShared != 0, flags&mapAnonymous != 0
		r.file, r.wasW = ev.File, a2&protWrite != 0
		if !r.anon {
			r.memfd = ev.File != nil && strings.HasPrefix(ev.File.Path, "/memfd:")
			if f := ev.File; f != nil && f.From != "gone" {
				r.key = fileKey{dev: f.Dev, ino: f.Inode, kind: 1}
			} else if fd, ok := arg(ev, 4); ok {
				r.key = fileKey{fd: int64(int32(fd)), kind: 2}
			}
		}
		r.evidence = append(r.evidence, c)
		t.unmap(p, r.span, c) // MAP_FIXED replaces what was there
		t.insert(p, r)
		if a2&protWrite != 0 && a2&protExec != 0 {
			t.wx(p, r, "wx_mapping", "mapped writable and executable at once")
		}
		t.alias(p, r)
	case "munmap":
		t.unmap(p, span{a0, a0 + pageUp(a1)}, c)
	case "mprotect", "pkey_mprotect":
		if !ok2 {
			return
		}
		i, j := t.split(p, span{a0, a0 + pageUp(a1)})
		for _, r := range p.regions[i:j] {
			old := r.prot
			r.prot = a2
			t.addEvidence(r, c)
			if a2&protWrite != 0 && old&protWrite == 0 {
				r.synced, r.asynced = r.synced[:0], r.asynced[:0] // writable again: coverage starts anew
			}
			switch {
			case a2&protWrite != 0 && a2&protExec != 0 && (old&protWrite == 0 || old&protExec == 0):
				t.wx(p, r, "wx_mapping", "made writable and executable at once")
			case a2&protExec != 0 && old&protExec == 0 && r.wasW:
				t.wx(p, r, "x_after_w", "made executable after it was writable (the JIT/dropper pattern)")
			}
			if a2&protWrite != 0 {
				r.wasW = true
			}
			t.alias(p, r)
		}
	case "mremap":
		// Moving keeps the mapping's state; what it grows into is
		// part of it, what it shrinks off is unmapped.
		newLen := pageUp(a2)
		i, j := t.split(p, span{a0, a0 + pageUp(a1)})
		to := uint64(ev.ReturnValue)
		if i == j {
			return
		}
		r := p.regions[i]
		for _, o := range p.regions[i+1 : j] {
			t.release(o)
		}
		p.regions = slices.Delete(p.regions, i, j)
		shift := to - a0
		r.span = span{to, to + newLen}
		shiftSpans(r.synced, shift)
		shiftSpans(r.asynced, shift)
		t.addEvidence(r, c)
		t.unmap(p, r.span, c)
		t.insert(p, r)
	case "msync":
		if !ok2 {
			return
		}
		t.msync(p, span{a0, a0 + pageUp(a1)}, a2, c)
	case "mlock", "mlock2":
		s := span{a0 &^ pageMask, pageUp(a0 + a1)}
		p.locked = addSpan(p.locked, s)
		if name == "mlock2" && a2&mlockOnfault != 0 {
			p.onfault = addSpan(p.onfault, s)
		} else {
			p.onfault = cutSpan(p.onfault, s)
		}
		p.lockEv = keepEvidence(p.lockEv, c, t.lim.Evidence)
		t.locked(p, c.ts)
	case "munlock":
		s := span{a0 &^ pageMask, pageUp(a0 + a1)}
		p.locked, p.onfault = cutSpan(p.locked, s), cutSpan(p.onfault, s)
		p.lockEv = keepEvidence(p.lockEv, c, t.lim.Evidence)
		t.locked(p, c.ts)
	case "mlockall":
		p.lockAll = a0
		p.lockEv = keepEvidence(p.lockEv, c, t.lim.Evidence)
	case "munlockall":
		p.lockAll, p.locked, p.onfault = 0, nil, nil
		p.lockEv = keepEvidence(p.lockEv, c, t.lim.Evidence)
		t.locked(p, c.ts)
	case "remap_file_pages":
		if t.set&RemapFilePages != 0 {
			var file *event.File
			if r := t.find(p, a0); r != nil {
				file = r.file
			}
			t.finding(p, "remap_file_pages_deprecated", ev.Timestamp, a0, a1, file, "", []call{c},
				"remap_file_pages is deprecated: the kernel emulates it since 3.16 with a new mapping per call, and it rearranges file pages under a live mapping (TOCTOU-prone)")
		}
	}
}

func shiftSpans(ss []span, d uint64) {
	for i := range ss {
		ss[i].lo += d
		ss[i].hi += d
	}
}

func keepEvidence(ev []call, c call, max int) []call {
	if len(ev) < max {
		return append(ev, c)
	}
	// Keep the first three; the rest is the latest.
	copy(ev[3:], ev[4:])
	ev[len(ev)-1] = c
	return ev
}

func (t *Tracker) addEvidence(r *region, c call) {
	r.evidence = keepEvidence(r.evidence, c, t.lim.Evidence)
}

// find is the region holding addr.
func (t *Tracker) find(p *proc, addr uint64) *region {
	i := sort.Search(len(p.regions), func(i int) bool { return p.regions[i].hi > addr })
	if i < len(p.regions) && p.regions[i].lo <= addr {
		return p.regions[i]
	}
	return nil
}

func (t *Tracker) insert(p *proc, r *region) {
	if len(p.regions) >= t.lim.Regions {
		// Evict the lowest region (the oldest is not known cheaply;
		// any is as good a guess).
		p.regions = p.regions[1:]
		t.evictedRegions++
	}
	i := sort.Search(len(p.regions), func(i int) bool { return p.regions[i].lo >= r.lo })
	p.regions = slices.Insert(p.regions, i, r)
}

// split cuts the regions overlapping s at s's ends; the parts inside s
// are then p.regions[i:j].
func (t *Tracker) split(p *proc, s span) (i, j int) {
	rs := p.regions
	i = sort.Search(len(rs), func(k int) bool { return rs[k].hi > s.lo })
	if i < len(rs) && rs[i].lo < s.lo && rs[i].hi > s.lo {
		right := t.clone(rs[i])
		right.lo, rs[i].hi = s.lo, s.lo
		rs = slices.Insert(rs, i+1, right)
		i++
	}
	j = i
	for j < len(rs) && rs[j].lo < s.hi {
		if rs[j].hi > s.hi {
			right := t.clone(rs[j])
			right.lo, rs[j].hi = s.hi, s.hi
			rs = slices.Insert(rs, j+1, right)
		}
		j++
	}
	p.regions = rs
	return i, j
}

// unmap ends the regions in s (c: the call that did it).
func (t *Tracker) unmap(p *proc, s span, c call) {
	i, j := t.split(p, s)
	for _, r := range p.regions[i:j] {
		t.addEvidence(r, c)
		t.settle(p, r, c.ts)
		t.release(r)
	}
	p.regions = slices.Delete(p.regions, i, j)
}

// settle judges a shared writable file region that goes away (unmapped,
// replaced, or its process gone) by its msync coverage.
func (t *Tracker) settle(p *proc, r *region, ts int64) {
	if !r.syncable() {
		return
	}
	size := r.hi - r.lo
	sync := covered(r.synced, r.span)
	any := sync
	if len(r.asynced) > 0 {
		any = covered(addSpanAll(r.synced, r.asynced), r.span)
	}
	if t.hooks.Mapping != nil {
		m := t.mapping(p, r, ts)
		switch {
		case any == 0:
			m.Verdict = "msync_missing"
		case sync == 0:
			m.Verdict = "msync_async_only"
		case sync < size:
			m.Verdict = "partly synced"
		default:
			m.Verdict = "synced"
		}
		t.hooks.Mapping(m)
	}
	switch {
	case any == 0:
		if t.set&MsyncMissing != 0 {
			t.finding(p, "msync_missing", ts, r.lo, size, r.file, "", r.evidence,
				"a shared writable file mapping went away with no msync since it was made writable: the file may not hold what was written when the process relied on it")
		}
	case sync == 0:
		if t.set&MsyncAsyncOnly != 0 {
			t.finding(p, "msync_async_only", ts, r.lo, size, r.file, "", r.evidence,
				"a shared writable file mapping was synced only with MS_ASYNC, which does not wait for (and since 2.6.19 barely starts) the writeback")
		}
	}
}

func addSpanAll(a, b []span) []span {
	out := slices.Clone(a)
	for _, s := range b {
		out = addSpan(out, s)
	}
	return out
}

// msync records the coverage of an msync of s. A mapping of the file that
// the range covers only in part is msync_partial (a program that expects
// msync to write the whole file, as kernels before 2.6.17 did for
// MS_ASYNC's sake, loses the rest); one it leaves out entirely is judged
// when it goes away (msync_missing), since syncing each mapping with a
// call of its own is right.
func (t *Tracker) msync(p *proc, s span, flags uint64, c call) {
	i := sort.Search(len(p.regions), func(k int) bool { return p.regions[k].hi > s.lo })
	for _, r := range p.regions[i:] {
		if r.lo >= s.hi {
			break
		}
		if !r.syncable() {
			continue
		}
		t.addEvidence(r, c)
		in := span{max(r.lo, s.lo), min(r.hi, s.hi)}
		if flags&msSync != 0 {
			r.synced = addSpan(r.synced, in)
		} else {
			r.asynced = addSpan(r.asynced, in)
		}
		if n := in.hi - in.lo; n < r.hi-r.lo && t.set&MsyncPartial != 0 {
			t.finding(p, "msync_partial", c.ts, r.lo, r.hi-r.lo, r.file, "", r.evidence,
				fmt.Sprintf("msync(0x%x, %d) covered %d of this shared writable mapping's %d bytes: what was written to the rest is not synced (the kernel syncs the range given, not the file)", s.lo, s.hi-s.lo, n, r.hi-r.lo))
		}
	}
}

// wx reports a W^X finding on r.
func (t *Tracker) wx(p *proc, r *region, pattern, what string) {
	if t.set&MemWX == 0 {
		return
	}
	ts := r.evidence[len(r.evidence)-1].ts
	t.finding(p, "mem_wx", ts, r.lo, r.hi-r.lo, r.file, pattern, r.evidence, what)
}

// alias reports r writable while another region of the same file is
// executable, or the other way round.
func (t *Tracker) alias(p *proc, r *region) {
	if r.key.kind == 0 || r.prot&(protWrite|protExec) == 0 {
		return
	}
	for _, o := range p.regions {
		if o == r || o.key != r.key {
			continue
		}
		w, x := r, o
		if r.prot&protWrite == 0 || o.prot&protExec == 0 {
			w, x = o, r
		}
		if w.prot&protWrite != 0 && x.prot&protExec != 0 && w.prot&protExec == 0 {
			ev := append(slices.Clone(w.evidence), x.evidence...)
			t.wx(p, &region{span: r.span, file: r.file, evidence: ev}, "w_x_alias",
				fmt.Sprintf("the same file is mapped writable at 0x%x and executable at 0x%x: code can be written through one and run through the other", w.lo, x.lo))
			return
		}
	}
}

// Gone settles the process pid: its process exited (or exec'd).
func (t *Tracker) Gone(pid int32, ts int64) {
	if p := t.procs[pid]; p != nil {
		t.gone(p, ts)
	}
}

func (t *Tracker) gone(p *proc, ts int64) {
	c := call{ts: ts, name: "exit"}
	for _, r := range p.regions {
		t.addEvidence(r, c)
		t.settle(p, r, ts)
		t.release(r)
	}
	p.regions = nil
	if t.set&MlockInventory != 0 {
		ev := keepEvidence(slices.Clone(p.lockEv), c, t.lim.Evidence)
		for _, s := range p.locked {
			how := "locked"
			if covered(p.onfault, s) == s.hi-s.lo {
				how = "locked with MLOCK_ONFAULT"
			}
			t.finding(p, "mlock_inventory", ts, s.lo, s.hi-s.lo, nil, "", ev,
				fmt.Sprintf("the process ended with %d bytes %s that it never unlocked (a key buffer left in RAM until the kernel reclaimed it)", s.hi-s.lo, how))
		}
		if p.lockAll&(mclCurrent|mclFuture) != 0 {
			t.finding(p, "mlock_inventory", ts, 0, 0, nil, "", ev,
				"the process ended under mlockall("+mlockallString(p.lockAll)+") that it never undid with munlockall")
		}
	}
	if len(p.locked) > 0 {
		p.locked = nil
		t.locked(p, ts)
	}
	delete(t.procs, p.pid)
}

func mlockallString(f uint64) string {
	var out []string
	for _, x := range []struct {
		b uint64
		n string
	}{{mclCurrent, "MCL_CURRENT"}, {mclFuture, "MCL_FUTURE"}, {mclOnfault, "MCL_ONFAULT"}} {
		if f&x.b != 0 {
			out = append(out, x.n)
		}
	}
	return strings.Join(out, "|")
}

// Sweep settles every process followed that alive says is gone.
func (t *Tracker) Sweep(alive func(pid int32) bool, ts int64) {
	for pid, p := range t.procs {
		if !alive(pid) {
			t.gone(p, ts)
		}
	}
}

// finding emits one derived event.
func (t *Tracker) finding(p *proc, name string, ts int64, addr, length uint64, file *event.File, pattern string, evidence []call, explanation string) {
	t.counts[name]++
	ev := &t.out
	ev.Reset()
	id := &p.ident
	ev.Known = id.Known
	ev.Timestamp = ts
	ev.ProcessorID, ev.ProcessID, ev.ThreadID, ev.ParentProcessID = id.ProcessorID, id.ProcessID, id.ThreadID, id.ParentProcessID
	ev.UserID, ev.GroupID, ev.LoginUserID, ev.SessionID = id.UserID, id.GroupID, id.LoginUserID, id.SessionID
	ev.ProcessName, ev.ExecutablePath, ev.HostName, ev.Container = id.ProcessName, id.ExecutablePath, id.HostName, id.Container
	ev.Arch, ev.Source = id.Arch, id.Source
	ev.EventName = name
	ev.File = file
	var evs []string
	for _, c := range evidence {
		evs = append(evs, c.String())
	}
	a := ev.SetArgs(5)
	a[0] = event.Arg{Name: "addr", Type: "void*", Kind: event.ArgPointer, Value: addr}
	a[1] = event.Arg{Name: "length", Type: "size_t", Kind: event.ArgUint, Value: length}
	a[2] = event.Arg{Name: "pattern", Type: "string", Kind: event.ArgString, Str: pattern}
	a[3] = event.Arg{Name: "evidence", Type: "string", Kind: event.ArgString, Str: strings.Join(evs, "; ")}
	a[4] = event.Arg{Name: "explanation", Type: "string", Kind: event.ArgString, Str: explanation}
	if pattern == "" {
		ev.Args = append(a[:2], a[3:]...)
	}
	t.emit(ev)
}

// Counters are the tracker's part of auperf_stats: findings by insight,
// what it evicted, and the mlock inventory (bytes locked now in total and
// for the processes locking most).
func (t *Tracker) Counters() []event.Counter {
	var out []event.Counter
	for _, n := range names {
		if t.set&n.s != 0 && n.s != FileIdentity {
			out = append(out, event.Counter{Source: "insights", Name: n.name, Value: t.counts[n.name]})
		}
	}
	out = append(out,
		event.Counter{Source: "insights", Name: "evicted_processes", Value: t.evictedProcs},
		event.Counter{Source: "insights", Name: "evicted_regions", Value: t.evictedRegions})
	if t.set&MlockInventory == 0 {
		return out
	}
	type held struct {
		pid   int32
		bytes uint64
	}
	var all []held
	var sum, onfault, lockAll uint64
	for pid, p := range t.procs {
		if n := total(p.locked); n > 0 {
			all = append(all, held{pid, n})
			sum += n
		}
		onfault += total(p.onfault)
		if p.lockAll&(mclCurrent|mclFuture) != 0 {
			lockAll++
		}
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].bytes > all[j].bytes || all[i].bytes == all[j].bytes && all[i].pid < all[j].pid
	})
	out = append(out, event.Counter{Source: "insights", Name: "mlock_bytes", Value: sum},
		event.Counter{Source: "insights", Name: "mlock_onfault_bytes", Value: onfault},
		event.Counter{Source: "insights", Name: "mlockall_processes", Value: lockAll})
	for _, h := range all[:min(len(all), t.lim.TopLocking)] {
		out = append(out, event.Counter{Source: "insights", Name: "mlock_bytes_pid_" + strconv.Itoa(int(h.pid)), Value: h.bytes})
	}
	return out
}
