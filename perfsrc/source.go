// The perf source as the rest of auperf sees it: its configuration, its
// constructor, and the source contract (Attach, Run, Close, Stats,
// Warnings; see internal/source). The work is done in attach.go (kernel
// events and rings), loop.go (the poller), pair.go and emit.go (the pure
// core), clock.go, selffilter.go and hotplug.go.

package perfsrc

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-perf"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/host"
	"github.com/auperf/auperf/internal/source"
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
	// Filter is what the user asked to see. In Tree mode the source
	// feeds Filter.Procs from FORK/EXIT records and skips other
	// processes before decoding; the rest of it is matched on each event
	// (tracepoint filters see threads, not processes, so nothing of it
	// is pushed into the kernel).
	Filter filter.Spec
	// Paths are the host's procfs, sysfs and tracefs (zero: the real
	// host; an empty TraceFS is found, and mounted unless NoMount).
	Paths   host.Paths
	NoMount bool
	// RingPages is the ring size per CPU, a power of two; 0:
	// DefaultRingPages.
	RingPages int
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
	mounted bool   // New mounted tracefs at dir
	calls   []*Syscall
	missing []string // events skipped: no tracepoints (SkipMissing)
	self    int32
	cpus    []int // online at New
	// autoRing: RingPages is the default, which may shrink to what the
	// kernel lets us lock.
	autoRing bool

	mu      sync.Mutex
	state   source.State
	running bool // Run's loop reads the rings: Close must not unmap them

	// kmu guards k's events and rings against a change while Close
	// disables them from another goroutine (CPU hotplug changes them).
	kmu sync.Mutex
	k   *kernel // perf events, rings, eventfd: what attach opened
	run *pairer // the core, fed by the poller
}

var _ source.Source = (*Source)(nil)

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
	cfg.Paths = cfg.Paths.WithDefaults()
	s := &Source{cfg: cfg, arch: decode.NativeArch(), self: int32(cfg.Self)}
	if s.arch == decode.ArchUnknown {
		return nil, fmt.Errorf("perf source: syscall tracepoints of %s are not supported", runtime.GOARCH)
	}
	for _, name := range cfg.Events {
		if _, ok := decode.SyscallNumber(s.arch, name); !ok {
			return nil, fmt.Errorf("unknown syscall %q for %s", name, s.arch)
		}
	}
	cpus, err := onlineCPUs(cfg.Paths.Sys("devices/system/cpu/online"))
	if err != nil {
		return nil, err
	}
	s.cpus = cpus
	if s.cfg.RingPages == 0 {
		s.cfg.RingPages = defaultRingPages(len(cpus))
		s.autoRing = true
	}
	dir, mounted, err := FindTracefs(cfg.Paths, !cfg.NoMount)
	if err != nil {
		return nil, err
	}
	s.dir, s.mounted = dir, mounted
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
	}
	if len(s.calls) == 0 {
		s.unmount()
		return nil, fmt.Errorf("syscalls %s: %w", strings.Join(s.missing, ","), ErrNoTracepoint)
	}
	// The core is made now so that a bad format is refused before
	// anything is attached; attach gives it the kernel's facts.
	if _, err := s.newPairer(nil); err != nil {
		s.unmount()
		return nil, err
	}
	return s, nil
}

// newPairer makes the core for this source's calls and CPUs.
func (s *Source) newPairer(h event.Handler) (*pairer, error) {
	spec := s.cfg.Filter
	spec.Init()
	return newPairer(pairConfig{Arch: s.arch, Self: s.self, Calls: s.calls, CPUs: s.cpus, Filter: spec,
		Procs: newProcTable(s.cfg.Paths.ProcFS), Handler: h})
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

// Warnings: the perf source has nothing to say about the host that its
// errors do not say.
func (s *Source) Warnings() []string { return nil }

func (s *Source) unmount() {
	if s.mounted {
		Unmount(s.dir)
		s.mounted = false
	}
}

// Attach opens and enables the events, so that a command started
// afterwards is traced from its first call. It is idempotent (a second
// call returns the first's result); Run calls it when the caller did not.
func (s *Source) Attach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Attach(func() error {
		err := s.attach()
		if err != nil {
			s.detach()
		}
		return err
	})
}

// Close releases what New and Attach took (perf events, a tracefs mount).
// It is idempotent; after it, Attach and Run return source.ErrClosed. Run
// releases them itself when it returns.
//
// Called while Run's loop runs (a panic elsewhere, a stop that timed out),
// it only disables the events and unmounts: the loop still reads the
// rings, and unmapping them under it would crash the process; the loop
// releases them when it returns, and the kernel at exit.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Close()
	if s.running {
		s.kmu.Lock()
		if s.k != nil {
			for _, ev := range s.k.events {
				ev.Disable()
			}
		}
		s.kmu.Unlock()
		s.unmount()
		return nil
	}
	s.detach()
	return nil
}

// detach closes the kernel side and unmounts a tracefs we mounted.
func (s *Source) detach() {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	if s.k != nil {
		s.k.close()
	}
	s.unmount()
}

// Stats returns the source's counters (see internal/source): received is
// tracepoint records (an enter or an exit each), lost is ring records.
func (s *Source) Stats() []event.Counter {
	src := event.SourcePerf
	s.mu.Lock()
	p := s.run
	s.mu.Unlock()
	if p == nil {
		return []event.Counter{source.Counter(src, source.Received, 0), source.Counter(src, source.Emitted, 0),
			source.Counter(src, source.Filtered, 0), source.Counter(src, source.DroppedSelf, 0),
			source.Counter(src, source.Lost, 0)}
	}
	out := []event.Counter{
		source.Counter(src, source.Received, p.nSamples.Load()),
		source.Counter(src, source.Emitted, p.nEmitted.Load()),
		source.Counter(src, source.Filtered, p.nFiltered.Load()),
		source.Counter(src, source.DroppedSelf, p.nSelf.Load()),
		source.Counter(src, "exit_without_enter", p.nUnpaired.Load()),
		source.Counter(src, "enter_without_exit", p.nUnfinished.Load()),
	}
	var total uint64
	p.cpuMu.Lock()
	defer p.cpuMu.Unlock()
	// One counter per CPU, also for a CPU attached again after hotplug.
	at := map[int]int{}
	for i := range p.lost {
		n := p.lost[i].Load()
		total += n
		if j, ok := at[p.cpus[i]]; ok {
			out[j].Value += n
			continue
		}
		at[p.cpus[i]] = len(out)
		out = append(out, source.Counter(src, source.LostPrefix+"ring_cpu"+strconv.Itoa(p.cpus[i]), n))
	}
	return append(out, source.Counter(src, source.Lost, total))
}

// Lost is the number of records the kernel reported lost so far.
func (s *Source) Lost() uint64 {
	s.mu.Lock()
	p := s.run
	s.mu.Unlock()
	if p == nil {
		return 0
	}
	return p.lostTotal()
}

// perfOpen is go-perf's Open; the selector's probe opens through it too
// (OpenTracepoint), so that a probe that passes means attach can open.
var perfOpen = perf.Open
