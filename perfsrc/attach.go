// Attach: the kernel side of the perf source. Per CPU, a side-band dummy
// event owning the CPU's ring and one event per tracepoint writing into
// it; the kernel self-filter on each; the eventfd that ends the poll.
// Everything opened here is closed by kernel.close, also on a failed
// attach.

package perfsrc

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/elastic/go-perf"
	"golang.org/x/sys/unix"
)

// kernel is what attach opened.
type kernel struct {
	events    []*perf.Event
	rings     []*ring
	tpEvents  []*perf.Event
	wake      int // eventfd that ends the poll (-1: none)
	self      selfFilter
	openCPU   func(cpu int) error // opens, maps and filters one CPU's events
	cpuFailed map[int]bool        // CPUs that came online but could not be attached
	// Per ring (the index of rings and of the pairer's queues): the CPU
	// and the events that write into it. A retired ring (its CPU went
	// offline: the kernel took its events off for good) is nil.
	ringCPU    []int
	ringEvents [][]*perf.Event
	offline    map[int]int64 // attached CPUs seen offline (when, last), re-attached when back
}

// attach opens the events of every CPU (a default ring halves until the
// kernel lets us lock it), seeds the process table and starts the clock.
func (s *Source) attach() error {
	for {
		err := s.attachRings()
		if err == nil {
			return nil
		}
		s.k.close()
		// Unprivileged (CAP_PERFMON) users may lock only
		// perf_event_mlock_kb per CPU: a default ring shrinks.
		if s.autoRing && errors.Is(err, unix.EPERM) && errors.Is(err, errRingMap) && s.cfg.RingPages > minRingPages {
			s.cfg.RingPages /= 2
			continue
		}
		return err
	}
}

func (s *Source) attachRings() error {
	k := &kernel{wake: -1}
	s.k = k
	p, err := s.newPairer(nil)
	if err != nil {
		return err
	}
	s.run = p
	p.noCommExec = s.cfg.Compat.NoCommExec
	noDummy := s.cfg.Compat.NoDummy

	watermark := uint32(s.cfg.RingPages * os.Getpagesize() / 4)
	clk, useClock, clockID, err := pickClock(s.calls[0].Enter, s.cpus[0], s.cfg.Compat.PerfClock)
	if err != nil {
		return err
	}
	p.clock = clk
	// Side-band records (COMM, FORK, EXIT, executable MMAP) come from a
	// dummy event that owns the CPU's ring; before 3.12 there is no dummy
	// event and the first tracepoint event carries them instead.
	attr := func(typ perf.EventType, config uint64, label string, raw, sideband bool) *perf.Attr {
		a := &perf.Attr{
			Label:        label,
			Type:         typ,
			Config:       config,
			SampleFormat: perf.SampleFormat{Tid: true, Time: true, CPU: true, Raw: raw},
			Options:      perf.Options{Disabled: true, SampleIDAll: true, Watermark: true, UseClockID: useClock},
			Wakeup:       watermark,
			ClockID:      clockID,
		}
		if sideband {
			a.Options.Comm, a.Options.CommExec, a.Options.Task, a.Options.Mmap = true, !p.noCommExec, true, true
		}
		a.SetSamplePeriod(1)
		return a
	}
	// open opens one event; an EINVAL with the side-band options may be
	// comm_exec, a reserved bit before 3.16: then every COMM of a leader
	// may be an exec (see pairer.process).
	open := func(typ perf.EventType, config uint64, label string, raw, sideband bool, cpu int) (*perf.Event, error) {
		ev, err := perfOpen(attr(typ, config, label, raw, sideband), perf.AllThreads, cpu, nil)
		if err != nil && sideband && errors.Is(err, unix.EINVAL) && !p.noCommExec {
			p.noCommExec = true
			ev, err = perfOpen(attr(typ, config, label, raw, sideband), perf.AllThreads, cpu, nil)
		}
		return ev, err
	}
	k.self.tids = ownThreads(s.cfg.Paths.ProcFS, s.self)
	own := func(ev *perf.Event) error {
		k.events = append(k.events, ev)
		fd, _ := ev.FD()
		r, err := mapRing(fd, s.cfg.RingPages)
		if err != nil {
			return err
		}
		k.rings = append(k.rings, r)
		return nil
	}
	k.openCPU = func(cpu int) error {
		ne := len(k.events)
		defer func() {
			if len(k.rings) > len(k.ringCPU) {
				k.ringCPU = append(k.ringCPU, cpu)
				k.ringEvents = append(k.ringEvents, slices.Clone(k.events[ne:]))
			}
		}()
		var lead *perf.Event
		if !noDummy {
			ev, err := open(perf.SoftwareEvent, uint64(perf.Dummy), "", false, true, cpu)
			switch {
			case err == nil:
				lead = ev
				if err := own(lead); err != nil {
					return err
				}
			case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT):
				noDummy = true
			default:
				return fmt.Errorf("open perf side-band event on cpu %d: %w", cpu, err)
			}
		}
		for _, c := range s.calls {
			for _, f := range []*Format{c.Enter, c.Exit} {
				sideband := lead == nil
				ev, err := open(perf.TracepointEvent, f.ID, f.Name, true, sideband, cpu)
				if err != nil {
					return fmt.Errorf("open tracepoint syscalls:%s on cpu %d: %w", f.Name, cpu, err)
				}
				if sideband {
					lead = ev
					if err := own(ev); err != nil {
						return err
					}
				} else {
					k.events = append(k.events, ev)
					if err := ev.SetOutput(lead); err != nil {
						return fmt.Errorf("share ring of cpu %d with %s: %w", cpu, f.Name, err)
					}
				}
				k.tpEvents = append(k.tpEvents, ev)
				k.self.add(ev)
			}
		}
		return nil
	}
	p.selfExit = k.self.exited
	for _, cpu := range s.cpus {
		if err := k.openCPU(cpu); err != nil {
			return err
		}
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	k.wake = wake
	for _, ev := range k.events {
		if err := ev.Enable(); err != nil {
			return fmt.Errorf("enable perf event: %w", err)
		}
	}
	// Seed after enabling: a process born in between is in both, and the
	// records (replayed in time order) are newer than what /proc said.
	p.procs.seed()
	clk.calibrate()
	return nil
}

// openProbe opens tracepoint id on cpu for all processes with the sample
// format attach uses, through the same open path (go-perf's Open, with its
// PERF_EVENT_IOC_ID), and closes it.
func openProbe(id uint64, cpu int, useClock bool, clockID int32) error {
	a := &perf.Attr{Type: perf.TracepointEvent, Config: id,
		SampleFormat: perf.SampleFormat{Tid: true, Time: true, CPU: true, Raw: true},
		Options:      perf.Options{Disabled: true, SampleIDAll: true, UseClockID: useClock},
		ClockID:      clockID}
	a.SetSamplePeriod(1)
	ev, err := perfOpen(a, perf.AllThreads, cpu, nil)
	if err != nil {
		return err
	}
	return ev.Close()
}

// OpenTracepoint opens the tracepoint event id on CPU 0 for all processes
// as attach opens the source's events, and closes it: the selector's
// perf_event_open probe, so that a probe that passes means attach can
// open. The error keeps the errno (errors.Is(err, unix.EACCES)).
func OpenTracepoint(id uint64) error {
	if err := openProbe(id, 0, false, 0); err != nil {
		return fmt.Errorf("open tracepoint %d: %w", id, err)
	}
	return nil
}

// close disables, unmaps and closes every perf event and the eventfd;
// safe to call again.
func (k *kernel) close() {
	if k == nil {
		return
	}
	k.closeFrom(0, 0, 0)
	if k.wake >= 0 {
		unix.Close(k.wake)
		k.wake = -1
	}
}

// closeFrom closes the events and rings from the given indexes on (a CPU
// that failed to attach, or all of them) and forgets them.
func (k *kernel) closeFrom(ne, nr, nt int) {
	for _, ev := range k.events[ne:] {
		ev.Disable()
	}
	for _, r := range k.rings[nr:] {
		if r != nil {
			r.unmap()
		}
	}
	for _, ev := range k.events[ne:] {
		ev.Close()
	}
	clear(k.events[ne:])
	k.events, k.rings, k.tpEvents = k.events[:ne], k.rings[:nr], k.tpEvents[:nt]
	if len(k.ringCPU) > nr {
		k.ringCPU, k.ringEvents = k.ringCPU[:nr], k.ringEvents[:nr]
	}
}

// retire closes ring i and its events: its CPU went offline, and the
// kernel does not bring the events of an offline CPU back. The ring was
// drained first. The events leave events and tpEvents: go-perf's Close
// would close their fd numbers again, by then maybe another file's.
func (k *kernel) retire(i int) {
	gone := map[*perf.Event]bool{}
	for _, ev := range k.ringEvents[i] {
		ev.Disable()
		gone[ev] = true
	}
	k.rings[i].unmap()
	for _, ev := range k.ringEvents[i] {
		ev.Close()
	}
	isGone := func(ev *perf.Event) bool { return gone[ev] }
	k.events = slices.DeleteFunc(k.events, isGone)
	k.tpEvents = slices.DeleteFunc(k.tpEvents, isGone)
	k.self.events = slices.DeleteFunc(k.self.events, isGone)
	k.rings[i], k.ringEvents[i] = nil, nil
}
