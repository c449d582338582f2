// Options: the run settings as a user writes them, checked. One parser
// for event lists and one for filters, used by run, probe, events and
// decode, so that their rules cannot drift.

package trace

import (
	"fmt"
	"strings"
	"time"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/insight"
	"github.com/auperf/auperf/selector"
)

// UsageError is a bad invocation or setting: the command exits 2 with its
// one line.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// Settings are the run settings as the flags (and the config file's keys)
// name them, unchecked. The zero value is run's defaults.
type Settings struct {
	Source            string   // auto (""), perf or audit
	Events            string   // comma-separated; "" = the memory family
	SourceEvents      []string // perf=LIST / audit=LIST (hidden, for tests and support)
	PIDs              []int
	Comms             []string
	UIDs              []int
	Failed            bool
	Duration          time.Duration
	StatsInterval     time.Duration
	RingPages         int  // 0: the default
	RingPagesSet      bool // RingPages was given (0 is then refused)
	AuditBackpressure string
	AuditBacklogLimit int
	AuditLean         string
	AuditTaskFilter   string
	B32               string   // auto (""), on, off
	Insights          string   // insight.ParseSet's list ("": the default)
	Command           []string // -- COMMAND ARGS
}

// DefaultInsights is --insights' default.
const DefaultInsights = "all"

// Options are checked settings: what Start and the command need.
type Options struct {
	Source            selector.Source
	Events            []string // nil: the default events
	Filter            filter.Spec
	Duration          time.Duration
	StatsInterval     time.Duration
	RingPages         int
	AuditBackpressure auditsrc.Backpressure
	AuditBacklogLimit uint32
	AuditLean         auditsrc.Lean
	AuditTaskFilter   auditsrc.Lean
	B32               selector.B32Mode
	Insights          insight.Set
	// Overrides (--source-events) split the events by hand.
	Overrides map[selector.Source][]string
	Command   []string
}

// Options checks s (no kernel touched). In command mode the filter is the
// tree of our own child: Self is our pid.
func (s Settings) Options(self int) (Options, error) {
	var o Options
	var err error
	if o.Source, err = selector.ParseSource(s.Source); err != nil {
		return o, Usagef("--source: %v", err)
	}
	if o.B32, err = selector.ParseB32(s.B32); err != nil {
		return o, Usagef("--b32 %v", err)
	}
	if strings.TrimSpace(s.Events) != "" {
		if o.Events, err = ParseEvents("--events", s.Events, NativeNames); err != nil {
			return o, err
		}
	}
	for _, spec := range s.SourceEvents {
		src, list, ok := strings.Cut(spec, "=")
		if !ok || src != string(selector.SourcePerf) && src != string(selector.SourceAudit) {
			return o, Usagef("--source-events %q: want perf=LIST or audit=LIST", spec)
		}
		evs, err := ParseEvents("--source-events", list, NativeNames)
		if err != nil {
			return o, err
		}
		if o.Overrides == nil {
			o.Overrides = map[selector.Source][]string{}
		}
		o.Overrides[selector.Source(src)] = append(o.Overrides[selector.Source(src)], evs...)
	}
	if len(o.Overrides) > 0 && o.Source != selector.SourceAuto {
		return o, Usagef("--source-events needs --source auto")
	}
	if o.AuditBackpressure, err = auditsrc.ParseBackpressure(s.AuditBackpressure); err != nil {
		return o, Usagef("--audit-backpressure: %v", err)
	}
	if o.AuditLean, err = auditsrc.ParseLean(s.AuditLean); err != nil {
		return o, Usagef("--audit-lean: %v", err)
	}
	if o.AuditTaskFilter, err = auditsrc.ParseLean(s.AuditTaskFilter); err != nil {
		return o, Usagef("--audit-task-filter: %v", err)
	}
	list := s.Insights
	if strings.TrimSpace(list) == "" {
		list = DefaultInsights
	}
	if o.Insights, err = insight.ParseSet(list); err != nil {
		return o, Usagef("--insights: %v", err)
	}
	if n := s.AuditBacklogLimit; n < 0 || n > 1<<32-1 {
		return o, Usagef("--audit-backlog-limit %d: out of range", n)
	}
	o.AuditBacklogLimit = uint32(s.AuditBacklogLimit)
	if o.Filter, err = ParseFilter(s.PIDs, s.UIDs, s.Comms, s.Failed); err != nil {
		return o, err
	}
	if s.RingPagesSet || s.RingPages != 0 {
		if n := s.RingPages; n <= 0 || n&(n-1) != 0 {
			return o, Usagef("--ring-pages %d: want a power of two", n)
		}
		o.RingPages = s.RingPages
	}
	if s.Duration < 0 || s.StatsInterval < 0 {
		return o, Usagef("--duration and --stats-interval must not be negative")
	}
	o.Duration, o.StatsInterval = s.Duration, s.StatsInterval
	if len(s.Command) > 0 {
		if len(o.Filter.PIDs) > 0 {
			return o, Usagef("--pid and -- COMMAND exclude each other")
		}
		// The command is our only child: its tree is rooted at us (and
		// our own events are dropped by every source anyway).
		o.Filter.PIDs = []int{self}
		o.Filter.Tree = true
		o.Command = s.Command
	}
	o.Filter.Init()
	return o, nil
}

// Names is a set of syscall names an event list may hold.
type Names struct {
	What  string // "a x86_64 syscall name": what a name must be, for errors
	Known func(name string) bool
}

// NativeNames are the syscalls of this machine's arch: what run, probe and
// events trace.
var NativeNames = Names{
	What: "a " + decode.NativeArch().String() + " syscall name",
	Known: func(name string) bool {
		_, ok := decode.SyscallNumber(decode.NativeArch(), name)
		return ok
	},
}

// AnyNames are the syscalls of any arch auperf decodes: what decode
// accepts, since a log may come from another host.
var AnyNames = Names{
	What: "a syscall of x86_64, i386 or arm64",
	Known: func(name string) bool {
		for _, a := range []decode.Arch{decode.ArchX86_64, decode.ArchI386, decode.ArchARM64, decode.ArchARM} {
			if _, ok := decode.SyscallNumber(a, name); ok {
				return true
			}
		}
		return false
	},
}

// ParseEvents parses a comma-separated list of syscall names (spaces and
// empty items ignored), each one of names; flag names the setting in
// errors. An empty list is an error.
func ParseEvents(flag, s string, names Names) ([]string, error) {
	var out []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !names.Known(n) {
			return nil, Usagef("unknown event %q: not %s", n, names.What)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, Usagef("%s is empty", flag)
	}
	return out, nil
}

// ParseFilter checks the filter settings (--pid, --uid, --comm, --failed).
func ParseFilter(pids, uids []int, comms []string, failed bool) (filter.Spec, error) {
	var f filter.Spec
	for _, pid := range pids {
		if pid <= 0 {
			return f, Usagef("--pid %d: want a positive process id", pid)
		}
		f.PIDs = append(f.PIDs, pid)
	}
	for _, uid := range uids {
		if uid < 0 || uid > 1<<32-1 {
			return f, Usagef("--uid %d: out of range", uid)
		}
		f.UIDs = append(f.UIDs, uint32(uid))
	}
	for _, comm := range comms {
		if comm == "" || len(comm) > 15 {
			return f, Usagef("--comm %q: want a process name of 1 to 15 bytes (the kernel's comm)", comm)
		}
		f.Comms = append(f.Comms, comm)
	}
	f.Failed = failed
	return f, nil
}
