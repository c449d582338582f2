package perfsrc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/elastic/go-perf"
	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

// DefaultRingPages is the ring size per CPU, in pages (2 MiB with 4 KiB pages):
// room for ~12,000 syscalls per CPU between two reads. Hosts with more than
// 16 CPUs get smaller rings by default (32 MiB in all, at least
// minRingPages each), and a default ring halves until the kernel lets us
// lock it (perf_event_mlock_kb for users without CAP_IPC_LOCK).
const DefaultRingPages = 512

const (
	minRingPages   = 16
	ringBudgetPage = 16 * DefaultRingPages
)

// defaultRingPages is the default ring size for n CPUs.
func defaultRingPages(n int) int {
	p := DefaultRingPages
	for p > minRingPages && p*n > ringBudgetPage {
		p /= 2
	}
	return p
}

// Config configures a perf source.
type Config struct {
	Events []string // syscall names; nil: decode.DefaultEvents
	// Filter: in Tree mode the source feeds Filter.Procs from FORK/EXIT
	// records and skips other processes before decoding; the pipeline
	// applies Filter.Match to the rest (tracepoint filters see threads,
	// not processes, so nothing of it is pushed into the kernel).
	Filter    filter.Spec
	Paths     Paths
	RingPages int // per CPU, a power of two; 0: DefaultRingPages
	// Self is the process whose events are never reported (0: this one).
	Self int
	// SkipMissing drops events whose tracepoints this kernel lacks
	// (listed by Missing) instead of failing; at least one must remain.
	SkipMissing bool
	// Compat makes the source behave as on older kernels (for tests, and
	// as a way around a kernel that misbehaves).
	Compat Compat
	// PollInterval bounds how long a record may wait in a quiet ring
	// (0: 100ms). Busy rings wake the poller by watermark.
	PollInterval time.Duration
}

// Compat selects the fallbacks auperf uses on older kernels.
type Compat struct {
	PerfClock  bool // no use_clockid (before 4.1): perf's clock, calibrated to wall time
	NoDummy    bool // no dummy event (before 3.12): side-band on a tracepoint event
	NoCommExec bool // no comm_exec (before 3.16): a leader's COMM may be an exec
}

// Source reads syscall tracepoints through perf_event_open.
type Source struct {
	cfg     Config
	arch    decode.Arch
	dir     string // tracefs
	mounted bool
	calls   []*Syscall
	missing []string      // events skipped: no tracepoints (SkipMissing)
	tps     []*tracepoint // indexed by tracepoint id
	self    int32

	attachOnce sync.Once
	attachErr  error
	events     []*perf.Event
	rings      []*ring
	cpus       []int
	wake       int   // eventfd that ends the poll
	clockOff   int64 // added to perf timestamps to make wall time
	clock      int32 // the clock id in use, -1: perf's own
	calib      calibration
	noCommExec bool // the kernel cannot flag exec COMM records (before 3.16)
	noDummy    bool // no dummy event (before 3.12): a tracepoint event carries the side-band
	autoRing   bool // RingPages is the default: may shrink to what the kernel lets us lock
	tpEvents   []*perf.Event
	openCPU    func(cpu int) error // opens, maps and filters one CPU's events (attach)
	cpuMu      sync.Mutex          // cpus and lost grow (a CPU comes online) while Stats reads them
	cpuFailed  map[int]bool        // CPUs that came online but could not be attached
	execNr     [2]int32            // execve, execveat (-1: none)
	selfTids   []int32             // our threads in the kernel filter

	// Poller state (one goroutine).
	queues  [][]rec
	heads   []int
	active  []int  // merge's scratch: the queues it still takes from
	lastMax uint64 // highest timestamp read in the previous round
	pending map[int32]rec
	orphans map[int32]orphan // exits waiting for a late enter
	stale   map[int32]orphan // enters replaced by a newer one, waiting for a late exit
	roundNo uint64
	procs   *procTable
	sweep   sweep
	ev      event.Event
	raw     decode.Raw
	h       event.Handler

	// Counters, read by Stats from other goroutines.
	nSamples, nEmitted, nSelf, nFiltered, nUnpaired, nUnfinished atomic.Uint64
	// samples and emitted are counted by the loop that runs rounds and
	// published into nSamples and nEmitted once per round: an atomic add
	// per record cost more than the pairing of it.
	samples, emitted uint64
	lost             []atomic.Uint64 // per CPU index
}

var _ event.Source = (*Source)(nil)

// tracepoint is one sys_enter_/sys_exit_ event, as the hot path needs it.
type tracepoint struct {
	call  *Syscall
	enter bool
	nrOff int
	args  []int    // offsets of the 8-byte argument words (enter), or ret (exit)
	names []string // argument names from the format (generic decoding)
}

// rec is one record of a ring, parsed and queued for the time-ordered merge.
type rec struct {
	ts       uint64
	kind     uint8
	cpu      int32
	pid, tid int32
	nr       int32
	tp       *tracepoint
	words    [6]uint64 // args (enter), ret (exit), ppid (fork), count (lost)
	str      string    // comm / file name
}

const (
	kEnter uint8 = iota
	kExit
	kComm
	kCommExec
	kFork
	kProcExit
	kMmapExec
	kLost
)

// New checks cfg and reads the tracepoint formats; it attaches nothing.
// Errors: ErrNoTracefs, ErrNoTracepoint (wrapped, naming the syscall).
func New(cfg Config) (*Source, error) {
	if cfg.Events == nil {
		cfg.Events = decode.DefaultEvents
	}
	// A tracepoint opened twice would report every call twice.
	seen := make(map[string]bool, len(cfg.Events))
	events := make([]string, 0, len(cfg.Events))
	for _, e := range cfg.Events {
		if !seen[e] {
			seen[e] = true
			events = append(events, e)
		}
	}
	cfg.Events = events
	if cfg.RingPages < 0 || cfg.RingPages > 0 && bits.OnesCount(uint(cfg.RingPages)) != 1 {
		return nil, fmt.Errorf("perf ring size %d pages: not a power of two", cfg.RingPages)
	}
	if cfg.Self == 0 {
		cfg.Self = os.Getpid()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	s := &Source{cfg: cfg, arch: decode.NativeArch(), self: int32(cfg.Self), wake: -1}
	if s.arch == decode.ArchUnknown {
		return nil, fmt.Errorf("perf source: syscall tracepoints of %s are not supported", runtime.GOARCH)
	}
	for _, name := range cfg.Events {
		if _, ok := decode.SyscallNumber(s.arch, name); !ok {
			return nil, fmt.Errorf("unknown syscall %q for %s", name, s.arch)
		}
	}
	cpus, err := onlineCPUs(filepath.Join(cfg.Paths.sys(), "devices/system/cpu/online"))
	if err != nil {
		return nil, err
	}
	s.cpus = cpus
	if s.cfg.RingPages == 0 {
		s.cfg.RingPages = defaultRingPages(len(cpus))
		s.autoRing = true
	}
	s.lost = make([]atomic.Uint64, len(cpus))
	dir, mounted, err := FindTracefs(cfg.Paths)
	if err != nil {
		return nil, err
	}
	s.dir, s.mounted = dir, mounted
	maxID := uint64(0)
	for _, name := range cfg.Events {
		c, err := ReadSyscall(dir, name)
		if err != nil && cfg.SkipMissing && errors.Is(err, ErrNoTracepoint) {
			s.missing = append(s.missing, name)
			continue
		}
		if err != nil {
			s.unmount()
			return nil, err
		}
		s.calls = append(s.calls, c)
		maxID = max(maxID, c.Enter.ID, c.Exit.ID)
	}
	if len(s.calls) == 0 {
		s.unmount()
		return nil, fmt.Errorf("syscalls %s: %w", strings.Join(s.missing, ","), ErrNoTracepoint)
	}
	if maxID > 1<<20 {
		s.unmount()
		return nil, fmt.Errorf("tracepoint id %d out of range", maxID)
	}
	if err := s.index(maxID); err != nil {
		s.unmount()
		return nil, err
	}
	return s, nil
}

// index builds the table of tracepoints by id, from s.calls.
func (s *Source) index(maxID uint64) error {
	s.tps = make([]*tracepoint, maxID+1)
	for i, name := range []string{"execve", "execveat"} {
		s.execNr[i] = -1
		if nr, ok := decode.SyscallNumber(s.arch, name); ok {
			s.execNr[i] = int32(nr)
		}
	}
	for _, c := range s.calls {
		for _, f := range []*Format{c.Enter, c.Exit} {
			tp := &tracepoint{call: c, enter: f == c.Enter, nrOff: f.SyscallNr().Offset}
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
			s.tps[f.ID] = tp
		}
	}
	return nil
}

// Name is "perf".
func (s *Source) Name() string { return event.SourcePerf }

// Events lists the syscalls this source traces.
func (s *Source) Events() []string {
	out := make([]string, len(s.calls))
	for i, c := range s.calls {
		out[i] = c.Name
	}
	return out
}

// Missing lists the events skipped for want of tracepoints (SkipMissing).
func (s *Source) Missing() []string { return s.missing }

func (s *Source) unmount() {
	if s.mounted {
		Unmount(s.dir)
		s.mounted = false
	}
}

// Attach opens and enables the events. Run calls it when the caller did
// not; calling it first lets a caller start a command only once tracing is
// on (`-- COMMAND`).
func (s *Source) Attach() error {
	s.attachOnce.Do(func() {
		for {
			s.attachErr = s.attach()
			if s.attachErr == nil {
				return
			}
			s.closeEvents()
			// Unprivileged (CAP_PERFMON) users may lock only
			// perf_event_mlock_kb per CPU: a default ring shrinks.
			if s.autoRing && errors.Is(s.attachErr, unix.EPERM) && errors.Is(s.attachErr, errRingMap) && s.cfg.RingPages > minRingPages {
				s.cfg.RingPages /= 2
				continue
			}
			s.detach()
			return
		}
	})
	return s.attachErr
}

func (s *Source) attach() error {
	cpus := s.cpus
	s.queues = make([][]rec, len(cpus))
	s.heads = make([]int, len(cpus))
	s.pending = make(map[int32]rec, 256)
	s.orphans = make(map[int32]orphan)
	s.stale = make(map[int32]orphan)
	s.procs = newProcTable(s.cfg.Paths.proc())

	watermark := uint32(s.cfg.RingPages * os.Getpagesize() / 4)
	useClock, clockID, err := s.pickClock(cpus[0])
	if err != nil {
		return err
	}
	// Side-band records (COMM, FORK, EXIT, executable MMAP) come from a
	// dummy event that owns the CPU's ring; before 3.12 there is no dummy
	// event and the first tracepoint event carries them instead.
	sidebandOpts := func(o *perf.Options) {
		o.Comm, o.CommExec, o.Task, o.Mmap = true, !s.noCommExec, true, true
	}
	dummy := func() *perf.Attr {
		a := &perf.Attr{
			Type:         perf.SoftwareEvent,
			Config:       uint64(perf.Dummy),
			SampleFormat: perf.SampleFormat{Tid: true, Time: true, CPU: true},
			Options:      perf.Options{Disabled: true, SampleIDAll: true, Watermark: true, UseClockID: useClock},
			Wakeup:       watermark,
			ClockID:      clockID,
		}
		sidebandOpts(&a.Options)
		a.SetSamplePeriod(1)
		return a
	}
	tracepointAttr := func(f *Format, sideband bool) *perf.Attr {
		a := &perf.Attr{
			Label:        f.Name,
			Type:         perf.TracepointEvent,
			Config:       f.ID,
			SampleFormat: perf.SampleFormat{Tid: true, Time: true, CPU: true, Raw: true},
			Options:      perf.Options{Disabled: true, SampleIDAll: true, Watermark: true, UseClockID: useClock},
			Wakeup:       watermark,
			ClockID:      clockID,
		}
		if sideband {
			sidebandOpts(&a.Options)
		}
		a.SetSamplePeriod(1)
		return a
	}
	// open opens one event; an EINVAL with the side-band options may be
	// comm_exec, a reserved bit before 3.16: then every COMM of a leader
	// may be an exec (see process).
	open := func(attr func() *perf.Attr, sideband bool, cpu int) (*perf.Event, error) {
		ev, err := perf.Open(attr(), perf.AllThreads, cpu, nil)
		if err != nil && sideband && errors.Is(err, unix.EINVAL) && !s.noCommExec {
			s.noCommExec = true
			ev, err = perf.Open(attr(), perf.AllThreads, cpu, nil)
		}
		return ev, err
	}
	s.noDummy = s.cfg.Compat.NoDummy
	s.noCommExec = s.cfg.Compat.NoCommExec
	s.selfTids = s.ownThreads()
	s.openCPU = func(cpu int) error {
		flt := s.kernelFilter()
		var lead *perf.Event
		if !s.noDummy {
			ev, err := open(dummy, true, cpu)
			switch {
			case err == nil:
				lead = ev
			case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT):
				s.noDummy = true
			default:
				return fmt.Errorf("open perf side-band event on cpu %d: %w", cpu, err)
			}
		}
		own := func(ev *perf.Event) error {
			s.events = append(s.events, ev)
			fd, _ := ev.FD()
			r, err := mapRing(fd, s.cfg.RingPages)
			if err != nil {
				return err
			}
			s.rings = append(s.rings, r)
			return nil
		}
		if lead != nil {
			if err := own(lead); err != nil {
				return err
			}
		}
		for _, c := range s.calls {
			for _, f := range []*Format{c.Enter, c.Exit} {
				sideband := lead == nil
				ev, err := open(func() *perf.Attr { return tracepointAttr(f, sideband) }, sideband, cpu)
				if err != nil {
					return fmt.Errorf("open tracepoint syscalls:%s on cpu %d: %w", f.Name, cpu, err)
				}
				if sideband {
					lead = ev
					if err := own(ev); err != nil {
						return err
					}
				} else {
					s.events = append(s.events, ev)
					if err := ev.SetOutput(lead); err != nil {
						return fmt.Errorf("share ring of cpu %d with %s: %w", cpu, f.Name, err)
					}
				}
				s.tpEvents = append(s.tpEvents, ev)
				if flt != "" {
					// A kernel that refuses the filter costs only the
					// user-space drop of our own events.
					setFilter(ev, flt)
				}
			}
		}
		return nil
	}
	for _, cpu := range cpus {
		if err := s.openCPU(cpu); err != nil {
			return err
		}
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	s.wake = wake
	for _, ev := range s.events {
		if err := ev.Enable(); err != nil {
			return fmt.Errorf("enable perf event: %w", err)
		}
	}
	// Seed after enabling: a process born in between is in both, and the
	// records (replayed in time order) are newer than what /proc said.
	s.procs.seed()
	s.calibrate()
	return nil
}

// pickClock chooses the timestamp clock: CLOCK_REALTIME where tracepoints
// accept it (they may not: it is not NMI-safe), else CLOCK_MONOTONIC (4.1+),
// else the perf clock; the last two are turned into wall time with an
// offset taken now (the perf clock's offset is only approximate).
func (s *Source) pickClock(cpu int) (bool, int32, error) {
	f := s.calls[0].Enter
	var err error
	for _, try := range []struct {
		use bool
		id  int32
	}{{true, unix.CLOCK_REALTIME}, {true, unix.CLOCK_MONOTONIC}, {false, 0}} {
		if s.cfg.Compat.PerfClock && try.use {
			continue
		}
		a := &perf.Attr{Type: perf.TracepointEvent, Config: f.ID,
			SampleFormat: perf.SampleFormat{Tid: true, Time: true, CPU: true, Raw: true},
			Options:      perf.Options{Disabled: true, SampleIDAll: true, UseClockID: try.use},
			ClockID:      try.id}
		a.SetSamplePeriod(1)
		var ev *perf.Event
		ev, err = perf.Open(a, perf.AllThreads, cpu, nil)
		if err != nil {
			continue
		}
		ev.Close()
		s.clockOff = 0
		if !try.use || try.id != unix.CLOCK_REALTIME {
			s.clockOff = realtimeOffset()
		}
		s.clock = try.id
		if !try.use {
			s.clock = -1
		}
		return try.use, try.id, nil
	}
	return false, 0, fmt.Errorf("open tracepoint syscalls:%s on cpu %d: %w", f.Name, cpu, err)
}

// calibration maps perf's own clock (kernels without use_clockid) to wall
// time: our thread renames itself to its own name, which the kernel stamps
// in a COMM record with the perf clock; the wall clock read just before and
// after brackets that stamp.
type calibration struct {
	tid      int32
	t0, t1   int64 // wall clock around the rename
	pending  bool
	lastWall int64
}

const calibrateEvery = int64(10 * time.Second)

// calibrate starts a calibration (perf clock only).
func (s *Source) calibrate() {
	now := wallNow()
	if s.clock != -1 || (s.calib.pending && now-s.calib.lastWall < calibrateEvery) {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var name [16]byte
	if err := unix.Prctl(unix.PR_GET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
		return
	}
	t0 := wallNow()
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
		return
	}
	t1 := wallNow()
	s.calib = calibration{tid: int32(unix.Gettid()), t0: t0, t1: t1, pending: true, lastWall: t1}
}

// retime keeps the offset of a non-wall clock current: a calibration for
// perf's clock, the realtime-monotonic offset after a clock step.
func (s *Source) retime() {
	switch s.clock {
	case -1:
		if wallNow()-s.calib.lastWall >= calibrateEvery {
			s.calibrate()
		}
	case unix.CLOCK_MONOTONIC:
		// One read per round; a careful one when it looks moved.
		if off, _ := offsetSandwich(); off-s.clockOff > offsetSlack || s.clockOff-off > offsetSlack {
			if off = realtimeOffset(); off-s.clockOff > offsetSlack || s.clockOff-off > offsetSlack {
				s.clockOff = off
			}
		}
	}
}

// offsetSlack is how far the realtime-monotonic offset may move (a clock
// step) before timestamps follow it.
const offsetSlack = int64(10 * time.Microsecond)

// realtimeOffset is CLOCK_REALTIME - CLOCK_MONOTONIC. Each try reads
// realtime between two monotonic reads and the tightest pair wins: a
// thread preempted between two plain reads (a VM's vCPU can lose
// milliseconds) would shift every timestamp of the run by that much.
func realtimeOffset() int64 {
	var best, off int64 = -1, 0
	for range 5 {
		if o, w := offsetSandwich(); best < 0 || w < best {
			best, off = w, o
		}
	}
	return off
}

// offsetSandwich reads realtime between two monotonic reads: the offset,
// and the window it may be wrong by.
func offsetSandwich() (off, window int64) {
	var m1, rt, m2 unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m1)
	unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m2)
	window = m2.Nano() - m1.Nano()
	return rt.Nano() - (m1.Nano() + window/2), window
}

func wallNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	return ts.Nano()
}

// ownThreads lists our threads now (nil if there are too many for a filter).
func (s *Source) ownThreads() []int32 {
	ents, err := os.ReadDir(filepath.Join(s.cfg.Paths.proc(), strconv.Itoa(int(s.self)), "task"))
	if err != nil || len(ents) > 64 {
		return nil
	}
	var out []int32
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, int32(n))
		}
	}
	return out
}

// kernelFilter is the tracepoint filter: our own threads at attach
// (common_pid is a thread id; threads the Go runtime starts later are
// dropped in user space). A thread of ours that exits leaves the filter
// (ownThreadExited) before its id can be reused by another process.
func (s *Source) kernelFilter() string {
	var b strings.Builder
	for _, tid := range s.selfTids {
		if b.Len() > 0 {
			b.WriteString(" && ")
		}
		b.WriteString("common_pid != ")
		b.WriteString(strconv.Itoa(int(tid)))
	}
	return b.String()
}

// ownThreadExited takes an exited thread of ours out of the kernel filter.
func (s *Source) ownThreadExited(tid int32) {
	i := slices.Index(s.selfTids, tid)
	if i < 0 {
		return
	}
	s.selfTids = slices.Delete(s.selfTids, i, i+1)
	flt := s.kernelFilter()
	if flt == "" {
		flt = "common_pid != 0" // no thread to exclude: 0 is the idle task
	}
	for _, ev := range s.tpEvents {
		setFilter(ev, flt)
	}
}

// setFilter is PERF_EVENT_IOC_SET_FILTER, which go-perf lacks.
func setFilter(ev *perf.Event, flt string) error {
	fd, err := ev.FD()
	if err != nil {
		return err
	}
	p, err := unix.BytePtrFromString(flt)
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.PERF_EVENT_IOC_SET_FILTER), uintptr(unsafe.Pointer(p)))
	runtime.KeepAlive(p)
	if e != 0 {
		return fmt.Errorf("PERF_EVENT_IOC_SET_FILTER %q: %w", flt, e)
	}
	return nil
}

// Close releases what New and Attach took (perf events, a tracefs mount)
// for a source that will not Run; Run releases them itself.
func (s *Source) Close() error {
	s.detach()
	return nil
}

func (s *Source) detach() {
	s.closeEvents()
	if s.wake >= 0 {
		unix.Close(s.wake)
		s.wake = -1
	}
	s.unmount()
}

// closeEvents disables, unmaps and closes every perf event.
func (s *Source) closeEvents() {
	for _, ev := range s.events {
		ev.Disable()
	}
	for _, r := range s.rings {
		r.unmap()
	}
	for _, ev := range s.events {
		ev.Close()
	}
	s.events, s.rings, s.tpEvents = nil, nil, nil
}

// onlineCPUs parses a cpu list file ("0-3,5").
func onlineCPUs(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read online cpus: %w", err)
	}
	var out []int
	for _, part := range strings.Split(strings.TrimSpace(string(data)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("parse online cpus %q: %w", data, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("parse online cpus %q: %w", data, err)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no online cpus")
	}
	return out, nil
}

// Run attaches (unless Attach was called), delivers events to h until ctx
// is done, then drains the rings, reports syscalls still running (without
// a return value), detaches and returns.
func (s *Source) Run(ctx context.Context, h event.Handler) error {
	if err := s.Attach(); err != nil {
		return err
	}
	s.h = h
	// Wake the poller when ctx ends; the waker is gone before detach
	// closes the eventfd.
	wake := s.wake
	runDone := make(chan struct{})
	var waker sync.WaitGroup
	waker.Add(1)
	go func() {
		defer waker.Done()
		select {
		case <-ctx.Done():
			one := [8]byte{1}
			unix.Write(wake, one[:])
		case <-runDone:
		}
	}()
	defer func() {
		close(runDone)
		waker.Wait()
		s.detach()
	}()

	pollFds := func() []unix.PollFd {
		pfds := make([]unix.PollFd, len(s.rings)+1)
		for i, r := range s.rings {
			pfds[i] = unix.PollFd{Fd: int32(r.fd), Events: unix.POLLIN}
		}
		pfds[len(s.rings)] = unix.PollFd{Fd: int32(s.wake), Events: unix.POLLIN}
		return pfds
	}
	pfds := pollFds()
	timeout := int(s.cfg.PollInterval / time.Millisecond)
	nextPlug := wallNow() + hotplugEvery
	for {
		_, err := unix.Poll(pfds, timeout)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("poll perf rings: %w", err)
		}
		if pfds[len(s.rings)].Revents != 0 || ctx.Err() != nil {
			break
		}
		s.round(false)
		if now := wallNow(); now >= nextPlug {
			nextPlug = now + hotplugEvery
			if s.addOnlineCPUs() {
				pfds = pollFds()
			}
		}
	}
	for _, ev := range s.events {
		ev.Disable()
	}
	s.round(false)
	s.round(true)
	s.flushPending()
	return nil
}

// hotplugEvery is how often Run looks for CPUs brought online.
const hotplugEvery = int64(time.Second)

// addOnlineCPUs attaches the CPUs that came online since attach (a CPU
// offline at attach would otherwise be missed, its calls not even counted
// lost). It reports whether it added one.
func (s *Source) addOnlineCPUs() bool {
	if s.openCPU == nil {
		return false
	}
	online, err := onlineCPUs(filepath.Join(s.cfg.Paths.sys(), "devices/system/cpu/online"))
	if err != nil {
		return false
	}
	added := false
	for _, cpu := range online {
		if slices.Contains(s.cpus, cpu) || s.cpuFailed[cpu] {
			continue
		}
		ne, nr, nt := len(s.events), len(s.rings), len(s.tpEvents)
		err := s.openCPU(cpu)
		if err == nil && len(s.rings) != nr+1 {
			err = errors.New("no ring")
		}
		for i := ne; err == nil && i < len(s.events); i++ {
			err = s.events[i].Enable()
		}
		if err != nil {
			// Left untraced, as before; not retried every second.
			for _, ev := range s.events[ne:] {
				ev.Disable()
			}
			for _, r := range s.rings[nr:] {
				r.unmap()
			}
			for _, ev := range s.events[ne:] {
				ev.Close()
			}
			clear(s.events[ne:])
			s.events, s.rings, s.tpEvents = s.events[:ne], s.rings[:nr], s.tpEvents[:nt]
			if s.cpuFailed == nil {
				s.cpuFailed = make(map[int]bool)
			}
			s.cpuFailed[cpu] = true
			continue
		}
		s.queues = append(s.queues, nil)
		s.heads = append(s.heads, 0)
		s.cpuMu.Lock()
		lost := make([]atomic.Uint64, len(s.lost)+1)
		for i := range s.lost {
			lost[i].Store(s.lost[i].Load())
		}
		s.lost = lost
		s.cpus = append(slices.Clip(s.cpus), cpu)
		s.cpuMu.Unlock()
		added = true
	}
	return added
}

// round reads every ring, then processes, in time order across CPUs, the
// records that are safe to order: those not later than the newest record of
// the previous round (a record stamped before that was in its ring by the
// time this round read it). final processes everything.
func (s *Source) round(final bool) {
	s.roundNo++
	s.retime()
	var newest uint64
	for i := range s.queues {
		if i < len(s.rings) {
			s.rings[i].drain(i, s)
		}
		if q := s.queues[i]; len(q) > 0 {
			newest = max(newest, q[len(q)-1].ts)
		}
	}
	limit := s.lastMax
	if final {
		limit = math.MaxUint64
	}
	s.lastMax = max(s.lastMax, newest)
	s.merge(limit)
	s.expireOrphans(final)
	if !final {
		s.sweepGone()
	}
	s.nSamples.Store(s.samples)
	s.nEmitted.Store(s.emitted)
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
func (s *Source) lostSweep(ts uint64) {
	w := &s.sweep
	if w.lastTS == 0 || ts >= w.lastTS+sweepEvery {
		w.wanted, w.lastTS = true, max(ts, 1)
	}
}

func (s *Source) sweepGone() {
	w := &s.sweep
	if w.round != 0 && s.roundNo >= w.round+2 {
		for _, c := range w.tids {
			if e, ok := s.pending[c.tid]; ok && e.ts == c.ts {
				delete(s.pending, c.tid)
				s.emitUnfinished(&e)
			}
		}
		for _, c := range w.procs {
			if s.procs.m[c.pid] == c.p {
				delete(s.procs.m, c.pid)
				if t := s.cfg.Filter.Procs; t != nil {
					t.Exit(int(c.pid))
				}
			}
		}
		w.procs, w.tids, w.round = w.procs[:0], w.tids[:0], 0
	}
	if !w.wanted || w.round != 0 {
		return
	}
	w.wanted, w.round = false, s.roundNo
	for pid, p := range s.procs.m {
		if !s.procs.alive(pid, 0) {
			w.procs = append(w.procs, sweepProc{pid, p})
		}
	}
	for tid, e := range s.pending {
		if !s.procs.alive(e.pid, tid) {
			w.tids = append(w.tids, sweepTid{tid, e.ts})
		}
	}
}

// record parses one raw ring record into the CPU's queue (no allocation for
// samples).
func (s *Source) record(cpu int, typ uint32, misc uint16, b []byte) {
	q := &s.queues[cpu]
	switch perf.RecordType(typ) {
	case perf.RecordTypeSample:
		// pid, tid u32; time u64; cpu, res u32; raw size u32; raw
		if len(b) < 28 {
			return
		}
		size := int(binary.NativeEndian.Uint32(b[24:28]))
		if 28+size > len(b) || size < 8 {
			return
		}
		raw := b[28 : 28+size]
		id := binary.NativeEndian.Uint16(raw[0:2])
		if int(id) >= len(s.tps) || s.tps[id] == nil {
			return
		}
		tp := s.tps[id]
		s.samples++
		*q = append(*q, rec{})
		r := &(*q)[len(*q)-1]
		r.pid = int32(binary.NativeEndian.Uint32(b[0:4]))
		r.tid = int32(binary.NativeEndian.Uint32(b[4:8]))
		r.ts = binary.NativeEndian.Uint64(b[8:16])
		r.cpu = int32(binary.NativeEndian.Uint32(b[16:20]))
		r.tp = tp
		if tp.nrOff+4 <= len(raw) {
			r.nr = int32(binary.NativeEndian.Uint32(raw[tp.nrOff:]))
		}
		if tp.enter {
			r.kind = kEnter
		} else {
			r.kind = kExit
		}
		for i, off := range tp.args {
			if off+8 <= len(raw) {
				r.words[i] = binary.NativeEndian.Uint64(raw[off:])
			}
		}
	case perf.RecordTypeLost:
		// id u64, lost u64, sample_id
		if len(b) < 16+24 {
			return
		}
		n := binary.NativeEndian.Uint64(b[8:16])
		s.lost[cpu].Add(n)
		*q = append(*q, rec{kind: kLost, ts: sampleTime(b), cpu: int32(s.cpus[cpu]), words: [6]uint64{n}})
	case perf.RecordTypeComm:
		// pid, tid u32; comm (NUL padded); sample_id (24 bytes)
		if len(b) < 8+24 {
			return
		}
		r := rec{kind: kComm, ts: sampleTime(b)}
		r.pid = int32(binary.NativeEndian.Uint32(b[0:4]))
		r.tid = int32(binary.NativeEndian.Uint32(b[4:8]))
		r.str = cString(b[8 : len(b)-24])
		if misc&(1<<13) != 0 { // PERF_RECORD_MISC_COMM_EXEC
			r.kind = kCommExec
		}
		*q = append(*q, r)
	case perf.RecordTypeFork, perf.RecordTypeExit:
		// pid, ppid, tid, ptid u32; time u64; sample_id
		if len(b) < 24 {
			return
		}
		r := rec{kind: kFork, ts: binary.NativeEndian.Uint64(b[16:24])}
		if perf.RecordType(typ) == perf.RecordTypeExit {
			r.kind = kProcExit
		}
		r.pid = int32(binary.NativeEndian.Uint32(b[0:4]))
		r.words[0] = uint64(binary.NativeEndian.Uint32(b[4:8]))
		r.tid = int32(binary.NativeEndian.Uint32(b[8:12]))
		*q = append(*q, r)
	case perf.RecordTypeMmap:
		// pid, tid u32; addr, len, pgoff u64; filename; sample_id
		if len(b) < 32+24 || misc&(1<<13) != 0 { // PERF_RECORD_MISC_MMAP_DATA: not executable
			return
		}
		r := rec{kind: kMmapExec, ts: sampleTime(b)}
		r.pid = int32(binary.NativeEndian.Uint32(b[0:4]))
		r.tid = int32(binary.NativeEndian.Uint32(b[4:8]))
		r.str = cString(b[32 : len(b)-24])
		*q = append(*q, r)
	}
}

// sampleTime reads the time of a non-sample record's trailing sample_id
// (pid/tid, time, cpu/res: 24 bytes).
func sampleTime(b []byte) uint64 {
	return binary.NativeEndian.Uint64(b[len(b)-16 : len(b)-8])
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// merge processes queued records with ts <= limit in time order, the oldest
// head among the CPU queues first (the lower CPU on a tie), and keeps the
// rest for the next round. Only queues with something to give are scanned
// for each record: on a large host most CPUs have nothing this round.
func (s *Source) merge(limit uint64) {
	heads := s.heads
	clear(heads)
	act := s.active[:0]
	for i, q := range s.queues {
		if len(q) > 0 && q[0].ts <= limit {
			act = append(act, i)
		}
	}
	for len(act) > 0 {
		at, best := 0, act[0]
		bestTS := s.queues[best][heads[best]].ts
		for j, i := range act[1:] {
			if ts := s.queues[i][heads[i]].ts; ts < bestTS || ts == bestTS && i < best {
				at, best, bestTS = j+1, i, ts
			}
		}
		s.process(&s.queues[best][heads[best]])
		heads[best]++
		if q := s.queues[best]; heads[best] == len(q) || q[heads[best]].ts > limit {
			act[at] = act[len(act)-1]
			act = act[:len(act)-1]
		}
	}
	s.active = act
	for i, q := range s.queues {
		n := copy(q, q[heads[i]:])
		clear(q[n:])
		s.queues[i] = q[:n]
	}
}

// process handles one record in time order.
func (s *Source) process(r *rec) {
	if r.kind == kEnter || r.kind == kExit {
		if r.pid == s.self {
			s.nSelf.Add(1)
			return
		}
		if s.skip(r.pid) {
			s.nFiltered.Add(1)
			return
		}
	}
	switch r.kind {
	case kEnter:
		if o, ok := s.orphans[r.tid]; ok {
			delete(s.orphans, r.tid)
			if o.r.nr == r.nr && o.r.ts >= r.ts {
				// The exit was handled first: this enter was
				// late in its ring (a vCPU stalled between
				// stamping and committing it).
				s.emit(r, &o.r)
				return
			}
			s.emitOrphan(&o.r)
		}
		if old, ok := s.pending[r.tid]; ok {
			// Its exit is lost, or late in its ring: held a while
			// (expireOrphans), then reported as it is.
			if st, ok := s.stale[r.tid]; ok {
				s.emitUnfinished(&st.r)
			}
			s.stale[r.tid] = orphan{r: old, round: s.roundNo}
		}
		s.pending[r.tid] = *r
	case kExit:
		if e, ok := s.pending[r.tid]; ok && e.nr == r.nr && e.ts <= r.ts {
			delete(s.pending, r.tid)
			s.emit(&e, r)
			return
		}
		if st, ok := s.stale[r.tid]; ok && st.r.nr == r.nr && st.r.ts <= r.ts {
			// A late exit of the call before the pending one.
			delete(s.stale, r.tid)
			s.emit(&st.r, r)
			return
		}
		if r.nr == s.execNr[0] || r.nr == s.execNr[1] {
			// An exec from a thread other than the leader returns
			// in the leader's thread id: its enter is pending
			// under the old one, which no record will ever end.
			for tid, e := range s.pending {
				if e.pid == r.pid && e.nr == r.nr && e.ts <= r.ts {
					delete(s.pending, tid)
					s.emit(&e, r)
					return
				}
			}
		}
		// Entered before we started, or its enter was lost, or it is
		// late: held a while (expireOrphans).
		if o, ok := s.orphans[r.tid]; ok {
			s.emitOrphan(&o.r)
		}
		s.orphans[r.tid] = orphan{r: *r, round: s.roundNo}
	case kComm, kCommExec:
		if r.pid == s.self {
			if s.calib.pending && r.tid == s.calib.tid && r.kind == kComm {
				s.clockOff = s.calib.t0 + (s.calib.t1-s.calib.t0)/2 - int64(r.ts)
				s.calib.pending = false
			}
			return
		}
		if r.pid == r.tid || r.kind == kCommExec {
			// Without the exec flag a leader's rename may be an exec:
			// the next executable mapping names the binary.
			s.procs.comm(r.pid, r.str, r.kind == kCommExec || s.noCommExec)
		}
	case kFork:
		ppid := int32(r.words[0])
		if r.pid != ppid {
			s.procs.fork(ppid, r.pid)
			if t := s.cfg.Filter.Procs; t != nil {
				t.Fork(int(ppid), int(r.pid))
			}
		} else {
			s.procs.thread(r.pid)
		}
	case kProcExit:
		if r.pid == s.self {
			s.ownThreadExited(r.tid)
			return
		}
		if st, ok := s.stale[r.tid]; ok {
			delete(s.stale, r.tid)
			s.emitUnfinished(&st.r)
		}
		if old, ok := s.pending[r.tid]; ok {
			// The thread died inside the syscall: no return.
			delete(s.pending, r.tid)
			s.emitUnfinished(&old)
		}
		if s.procs.exit(r.pid, r.pid == r.tid) {
			if t := s.cfg.Filter.Procs; t != nil {
				t.Exit(int(r.pid))
			}
		}
	case kMmapExec:
		s.procs.mmapExec(r.pid, r.str)
	case kLost:
		event.NewLost(&s.ev, s.wallTime(r.ts), event.SourcePerf, int(r.cpu), r.words[0], "ring")
		s.h(&s.ev)
		s.lostSweep(r.ts)
	}
}

// skip is the cheap part of the user's filter, applied before decoding:
// the process tree of `-- COMMAND`.
func (s *Source) skip(pid int32) bool {
	f := &s.cfg.Filter
	return f.Tree && f.Procs != nil && !f.Procs.Contains(int(pid))
}

func (s *Source) wallTime(ts uint64) int64 { return int64(ts) + s.clockOff }

// emit reports one syscall: enter and exit paired, an enter alone (still
// running or its exit lost: no return value), or an exit alone (unknown
// arguments).
func (s *Source) emit(enter, exit *rec) {
	ev := &s.ev
	ev.Reset()
	first := enter
	if first == nil {
		first = exit
	}
	raw := &s.raw
	*raw = decode.Raw{Arch: s.arch, Nr: first.nr}
	var names []string
	if enter != nil {
		raw.Args = enter.words
		raw.Known = uint8(1<<len(enter.tp.args) - 1)
		names = enter.tp.names
	} else {
		names = s.enterNames(exit.tp)
	}
	if exit != nil {
		raw.Ret = int64(exit.words[0])
		raw.HasRet = true
	}
	decode.Decode(ev, raw, names)
	ev.Timestamp = s.wallTime(first.ts)
	ev.ProcessorID = first.cpu
	ev.ProcessID = first.pid
	ev.ThreadID = first.tid
	ev.Known |= event.HasProcessor | event.HasProcess | event.HasThread
	if enter != nil && exit != nil {
		ev.DurationNs = int64(exit.ts - enter.ts)
		ev.Known |= event.HasDuration
	}
	p := s.procs.get(first.pid)
	ev.ProcessName = p.comm
	ev.ExecutablePath = p.exe
	if p.hasPPID {
		ev.ParentProcessID = p.ppid
		ev.Known |= event.HasParent
	}
	if p.hasUID {
		ev.UserID = p.uid
		ev.Known |= event.HasUser
	}
	ev.Source = event.SourcePerf
	s.emitted++
	s.h(ev)
}

// enterNames finds the argument names of an exit's syscall (from its enter
// format).
func (s *Source) enterNames(exit *tracepoint) []string {
	if f := exit.call.Enter; f != nil {
		if tp := s.tps[f.ID]; tp != nil {
			return tp.names
		}
	}
	return nil
}

// orphan is an exit whose enter was not seen (yet).
type orphan struct {
	r     rec
	round uint64
}

// orphanHold is how long (record time) an exit waits for a late enter.
const orphanHold = uint64(100 * time.Millisecond)

// expireOrphans reports the exits whose enter will not come: held two
// rounds and orphanHold, or all of them at the end.
func (s *Source) expireOrphans(final bool) {
	expired := func(o *orphan) bool {
		return final || s.roundNo-o.round >= 2 && s.lastMax > o.r.ts+orphanHold
	}
	for tid, o := range s.orphans {
		if expired(&o) {
			delete(s.orphans, tid)
			s.emitOrphan(&o.r)
		}
	}
	for tid, o := range s.stale {
		if expired(&o) {
			delete(s.stale, tid)
			s.emitUnfinished(&o.r)
		}
	}
}

// emitUnfinished reports an enter alone: no return value.
func (s *Source) emitUnfinished(r *rec) {
	s.nUnfinished.Add(1)
	s.emit(r, nil)
}

// emitOrphan reports an exit alone: its arguments unknown, not guessed.
func (s *Source) emitOrphan(r *rec) {
	s.nUnpaired.Add(1)
	s.emit(nil, r)
}

// flushPending reports the syscalls still running at stop, without return.
func (s *Source) flushPending() {
	for tid, r := range s.pending {
		delete(s.pending, tid)
		s.emitUnfinished(&r)
	}
}

// Stats returns the source's counters.
func (s *Source) Stats() []event.Counter {
	src := event.SourcePerf
	out := []event.Counter{
		{Source: src, Name: "received", Value: s.nSamples.Load()},
		{Source: src, Name: "emitted", Value: s.nEmitted.Load()},
		{Source: src, Name: "dropped_self", Value: s.nSelf.Load()},
		{Source: src, Name: "filtered", Value: s.nFiltered.Load()},
		{Source: src, Name: "exit_without_enter", Value: s.nUnpaired.Load()},
		{Source: src, Name: "enter_without_exit", Value: s.nUnfinished.Load()},
	}
	var total uint64
	s.cpuMu.Lock()
	defer s.cpuMu.Unlock()
	for i := range s.lost {
		n := s.lost[i].Load()
		total += n
		out = append(out, event.Counter{Source: src, Name: "lost_ring_cpu" + strconv.Itoa(s.cpus[i]), Value: n})
	}
	out = append(out, event.Counter{Source: src, Name: "lost", Value: total})
	return out
}

// Lost is the number of records the kernel reported lost so far.
func (s *Source) Lost() uint64 {
	s.cpuMu.Lock()
	defer s.cpuMu.Unlock()
	var total uint64
	for i := range s.lost {
		total += s.lost[i].Load()
	}
	return total
}
