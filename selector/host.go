// The probe run: every probe against one host, each answer recorded as a
// row of `auperf probe`.

package selector

import (
	"errors"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/internal/host"
)

// Result is one probe's answer, a row of `auperf probe`.
type Result struct {
	Name  string // "perf_event_open", "tracepoints msync", ...
	Value string // what was found, for a human
	Err   error  // nil, a *NotSupportedError, or "could not tell"
}

// Status is "ok", "no" (not supported) or "unknown" (could not tell).
func (r Result) Status() string {
	switch {
	case r.Err == nil:
		return "ok"
	case errors.Is(r.Err, ErrNotSupported):
		return "no"
	}
	return "unknown"
}

// Tracepoints are a syscall's enter and exit tracepoint ids.
type Tracepoints struct {
	Enter, Exit uint64
}

// Host is what the probes found. Its fields are the facts the plan uses;
// Results is the same in order, with reasons, for people.
type Host struct {
	cfg Config

	Release  string
	Version  Version
	Arch     string
	Caps     Caps
	capsErr  error
	Seccomp  int // /proc/self/status Seccomp: 0 none, 1 strict, 2 filter; -1 unknown
	Paranoid int // perf_event_paranoid

	TraceFS     host.TraceFS
	TraceFSErr  error
	SyscallsErr error                  // events/syscalls (CONFIG_FTRACE_SYSCALLS)
	Tracepoints map[string]Tracepoints // per event that has both
	EventErr    map[string]error       // per event that has not
	PerfErr     error                  // perf_event_open on a syscall tracepoint
	perfProbeTP string                 // the tracepoint tried

	Audit      auditsrc.Status
	AuditErr   error  // netlink / AUDIT_GET
	AuditOwner string // comm of the audit daemon, "" if none
	Multicast  bool   // an audit daemon owns audit: read alongside it
	auditUse   error  // audit usable for our rules (nil) or why not
	AuditBoot  error  // nil when audit=1 at boot
	CompatErr  error  // nil when 32-bit processes of the native arch's compat ABI can run (ia32 on x86_64, arm on arm64)

	Results []Result

	config    map[string]string
	configSrc string
	cmdline   map[string]string
	lockdown  string // "none", "integrity", "confidentiality" ("" unknown)
	events    []string
}

// errSkip marks a probe whose question does not arise here (it is left out
// of the table).
var errSkip = errors.New("skip")

// Events are the events the probes were run for.
func (h *Host) Events() []string { return h.events }

// Probe runs every probe against the host that cfg describes. events are
// the syscalls whose tracepoints it looks up. It only reads: it mounts
// nothing, changes no audit setting and closes the perf event it opens.
func Probe(cfg Config, events []string) *Host {
	cfg = cfg.withDefaults()
	h := &Host{cfg: cfg, Seccomp: -1, events: events,
		Tracepoints: map[string]Tracepoints{}, EventErr: map[string]error{}}
	h.cmdline = parseCmdline(cfg.Proc("cmdline"))
	probes := []struct {
		name string
		fn   func(*Host) (string, error)
	}{
		{"kernel_release", probeRelease},
		{"arch", probeArch},
		{"capabilities", probeCaps},
		{"seccomp", probeSeccomp},
		{"lockdown", probeLockdown},
		{"tracefs", probeTraceFS},
		{"syscall_tracepoints", probeSyscallTracepoints},
	}
	for _, p := range probes {
		h.record(p.name, p.fn)
	}
	for _, ev := range events {
		h.record("tracepoints "+ev, func(h *Host) (string, error) { return probeEventTracepoints(h, ev) })
	}
	for _, p := range []struct {
		name string
		fn   func(*Host) (string, error)
	}{
		{"perf_event_paranoid", probeParanoid},
		{"perf_event_open", probePerfOpen},
		{"perf_clockid", probeClockID},
		{"audit_netlink", probeAuditNetlink},
		{"audit_enabled", probeAuditEnabled},
		{"audit_owner", probeAuditOwner},
		{"audit_control", probeAuditControl},
		{"audit_multicast", probeAuditMulticast},
		{"audit_readers", probeAuditReaders},
		{"audit_syscall", probeAuditSyscall},
		{"audit_boot", probeAuditBoot},
		{"ia32_emulation", probeIA32},
		{"arm32_compat", probeARM32},
	} {
		h.record(p.name, p.fn)
	}
	h.auditUse = h.auditUsable()
	return h
}

func (h *Host) record(name string, fn func(*Host) (string, error)) {
	v, err := fn(h)
	if errors.Is(err, errSkip) {
		return
	}
	if ns, ok := err.(*NotSupportedError); ok && ns.Feature == "" {
		ns.Feature = name
	}
	h.Results = append(h.Results, Result{Name: name, Value: v, Err: err})
}

// Result returns the named probe's result (false if it did not run).
func (h *Host) Result(name string) (Result, bool) {
	for _, r := range h.Results {
		if r.Name == name {
			return r, true
		}
	}
	return Result{}, false
}
