// Package source is the one contract every event source of auperf keeps
// (perfsrc, auditsrc, and the fakes of the orchestration tests), and the
// names of the counters they report.
//
// The life of a source:
//
//	New (the source's own constructor: checks its config, touches nothing)
//	Attach  -> kernel state taken (perf events open, audit rules loaded);
//	           idempotent: a second call returns the first call's result
//	Run     -> events to the handler until ctx is done; attaches first when
//	           Attach was not called; drains, detaches and restores before it
//	           returns; after Close it returns ErrClosed and traces nothing
//	Close   -> undoes what Attach did for a source that will not Run (or
//	           after Run); idempotent, and safe at any point
//
// SetFilter replaces the user's filter while the source runs (a reload):
// events handed on after it returns match the new filter, and nothing the
// new filter wants is missed across the change. It refuses what it cannot
// change without re-attaching (the process tree of a traced command).
//
// Stats may be called at any time from any goroutine. Warnings are what the
// user should read about the host (audit off at boot, another daemon): they
// may grow at Attach and when a command is started.
//
// Loss is delivered in-stream (auperf_lost events, see event.NewLost) and
// counted under the names below.
package source

import (
	"context"
	"errors"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

// Source is an event source.
type Source interface {
	Name() string
	Attach() error
	Run(ctx context.Context, h event.Handler) error
	Close() error
	Stats() []event.Counter
	Warnings() []string
	SetFilter(f filter.Spec) error
}

// ErrClosed is what Attach and Run return after Close.
var ErrClosed = errors.New("source closed")

// Counter names that every source reports, in the unit of its events unless
// the name says otherwise. Each source adds its own details after them
// (perf: lost_ring_cpuN, enter_without_exit; audit: lost_backlog, ...).
const (
	// Received is what the source read from the kernel: tracepoint
	// records (perf, an enter or an exit each) or audit records.
	Received = "received"
	// Emitted is the events handed on to the pipeline.
	Emitted = "emitted"
	// Filtered is the events the source dropped for the user's filter
	// before handing them on (what the kernel could not filter).
	Filtered = "filtered"
	// DroppedSelf is the events of auperf's own process that reached the
	// source anyway (the Go runtime's own mmap/munmap/madvise).
	DroppedSelf = "dropped_self"
	// Lost is the total the source reported lost in-stream; LostPrefix
	// plus a cause names the part of one cause.
	Lost       = "lost"
	LostPrefix = "lost_"
)

// Counter makes one counter of source src.
func Counter(src, name string, v uint64) event.Counter {
	return event.Counter{Source: src, Name: name, Value: v}
}

// State keeps the contract's rules for Attach and Close: a source's
// Attach runs its attach function once (a second call returns the first
// call's result), and not at all after Close. The source holds its own
// lock around the calls.
type State struct {
	attached, closed bool
	err              error
}

// Attach runs attach unless it ran already (then it returns that run's
// result); after Close it returns ErrClosed.
func (st *State) Attach(attach func() error) error {
	if st.closed {
		return ErrClosed
	}
	if !st.attached {
		st.attached = true
		st.err = attach()
	}
	return st.err
}

// Close marks the source closed.
func (st *State) Close() { st.closed = true }

// Closed reports whether Close was called.
func (st *State) Closed() bool { return st.closed }
