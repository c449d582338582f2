// The plan: per event the best source and why, each source's part, and
// planning again after a mount or a failed perf start.

package selector

import (
	"errors"
	"fmt"
	"strings"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/internal/host"
)

// Source is a mechanism that reports syscalls, or the user's choice of one.
type Source string

const (
	SourceAuto  Source = "auto"  // --source auto: the best per event
	SourcePerf  Source = "perf"  // syscall tracepoints via perf_event_open
	SourceAudit Source = "audit" // the kernel audit subsystem over netlink
	SourceNone  Source = "none"  // in a plan: the event cannot be traced here
)

// ParseSource parses --source.
func ParseSource(s string) (Source, error) {
	switch Source(s) {
	case "", SourceAuto:
		return SourceAuto, nil
	case SourcePerf, SourceAudit:
		return Source(s), nil
	}
	return "", fmt.Errorf("unknown source %q (want auto, perf or audit)", s)
}

// EventPlan is how one requested event is traced.
type EventPlan struct {
	Name   string `json:"name"`
	Source Source `json:"source"` // perf, audit or none
	Reason string `json:"reason"` // why this source (and why not the better one)
	// Tracepoints is the tracepoint name (sys_enter_<it>), for perf.
	Tracepoint string `json:"tracepoint,omitempty"`
	EnterID    uint64 `json:"enterId,omitempty"` // 0 when tracefs is not mounted yet
	ExitID     uint64 `json:"exitId,omitempty"`
	// B32 are the i386 syscall names whose audit b32 rules cover this
	// event's 32-bit callers (empty when 32-bit callers go unseen).
	B32 []string `json:"b32,omitempty"`
}

// PerfPlan is the perf source's part of a plan.
type PerfPlan struct {
	Events []string `json:"events"`
	// TraceFS is where the tracepoints are; State "mountable" means run
	// mounts FSType on Path first (and unmounts it on exit), then looks
	// the tracepoint ids up.
	TraceFS host.TraceFS `json:"tracefs"`
}

// AuditPlan is the audit source's part of a plan.
type AuditPlan struct {
	// Events get b64 (native) rules; B32 are the i386 names that get b32
	// rules, for 32-bit processes (which syscall tracepoints never report).
	Events []string `json:"events"`
	// B32Events are the events (native names) whose 32-bit callers the
	// b32 rules catch; B32 are the i386 syscall names of those rules.
	B32Events []string `json:"b32Events"`
	B32       []string `json:"b32"`
	Multicast bool     `json:"multicast"` // read alongside the audit daemon
	Owner     string   `json:"owner,omitempty"`
	Enabled   uint32   `json:"enabled"` // as found; 0 means run turns it on and back off
}

// Plan is what `run` starts: per event a source and why, and each source's
// part. Both sources may be in one plan, for different events (and audit
// for the 32-bit side of perf's events).
type Plan struct {
	Requested Source      `json:"requested"`
	Events    []EventPlan `json:"events"`
	Perf      *PerfPlan   `json:"perf"`  // nil: perf is not started
	Audit     *AuditPlan  `json:"audit"` // nil: audit is not started
	Notes     []string    `json:"notes"` // caveats a user must know (unseen processes, ...)

	Host *Host `json:"-"`
}

// Select probes the host and plans events. With force perf or audit it
// fails with an *UnusableError when that source cannot work here.
func Select(cfg Config, events []string, force Source) (*Plan, error) {
	return Probe(cfg, events).Plan(events, force)
}

// Usable returns an error when the plan traces nothing.
func (p *Plan) Usable() error {
	if p.Perf != nil || p.Audit != nil {
		return nil
	}
	// Events usually fail for one shared reason: say each reason once, with
	// the events it applies to, so the refusal stays one readable line.
	var reasons []string
	names := map[string][]string{}
	for _, e := range p.Events {
		if _, seen := names[e.Reason]; !seen {
			reasons = append(reasons, e.Reason)
		}
		names[e.Reason] = append(names[e.Reason], e.Name)
	}
	why := make([]string, len(reasons))
	for i, r := range reasons {
		who := strings.Join(names[r], ",")
		if len(names[r]) == len(p.Events) && len(p.Events) > 1 {
			who = "all events"
		}
		why[i] = who + ": " + r
	}
	return fmt.Errorf("no event can be traced here (%s)", strings.Join(why, "; "))
}

// EventsOf lists the events planned for src.
func (p *Plan) EventsOf(src Source) []string {
	var out []string
	for _, e := range p.Events {
		if e.Source == src {
			out = append(out, e.Name)
		}
	}
	return out
}

// Plan picks a source per event: perf where the event's tracepoints exist
// and perf_event_open works, else audit where audit is usable, else none
// (with the reason). Audit also gets b32 rules for the events' 32-bit
// callers when ia32 emulation is on, unless force is perf.
func (h *Host) Plan(events []string, force Source) (*Plan, error) {
	if force == "" {
		force = SourceAuto
	}
	p := &Plan{Requested: force, Host: h, Events: []EventPlan{}, Notes: []string{}}
	perfErr, auditErr := h.perfUsable(), h.auditUse
	switch force {
	case SourcePerf:
		if perfErr != nil {
			return nil, &UnusableError{Source: SourcePerf, Err: perfErr}
		}
		auditErr = errors.New("--source perf")
	case SourceAudit:
		if auditErr != nil {
			return nil, &UnusableError{Source: SourceAudit, Err: auditErr}
		}
		perfErr = errors.New("--source audit")
	}
	for _, ev := range events {
		ep := EventPlan{Name: ev, Source: SourceNone}
		evErr := h.eventErr(ev)
		switch {
		case isMissingSyscall(evErr):
			// The kernel lacks the syscall: no source can see a call.
			ep.Reason = reason(evErr)
		case perfErr == nil && (evErr == nil || h.TraceFS.State == host.TraceFSMountable && !errors.Is(evErr, ErrNotSupported)):
			ep.Source = SourcePerf
			ep.Tracepoint = decode.TracepointName(h.decodeArch(), ev)
			if ep.Tracepoint == "" {
				ep.Tracepoint = ev
			}
			if tp, ok := h.Tracepoints[ev]; ok {
				ep.EnterID, ep.ExitID = tp.Enter, tp.Exit
				ep.Reason = fmt.Sprintf("syscalls:sys_enter_%s/sys_exit_%s (ids %d/%d) and perf_event_open work", ep.Tracepoint, ep.Tracepoint, tp.Enter, tp.Exit)
			} else {
				ep.Reason = fmt.Sprintf("tracefs not mounted: run mounts %s on %s and opens syscalls:sys_enter_%s/sys_exit_%s", h.TraceFS.FSType, h.TraceFS.Path, ep.Tracepoint, ep.Tracepoint)
			}
		case auditErr == nil:
			if _, ok := decode.SyscallNumber(h.decodeArch(), ev); !ok {
				ep.Reason = "no perf tracepoints and audit knows no syscall " + ev
				break
			}
			ep.Source = SourceAudit
			switch {
			case force == SourceAudit:
				ep.Reason = "--source audit"
			case perfErr != nil:
				ep.Reason = "perf unusable: " + reason(perfErr)
			default:
				ep.Reason = "perf: " + reason(evErr)
			}
		default:
			why := []string{}
			if force != SourceAudit {
				pe := perfErr
				if pe == nil {
					pe = evErr
				}
				why = append(why, "perf: "+reason(pe))
			}
			if force != SourcePerf {
				why = append(why, "audit: "+reason(auditErr))
			}
			ep.Reason = strings.Join(why, "; ")
		}
		p.Events = append(p.Events, ep)
	}

	if evs := p.EventsOf(SourcePerf); len(evs) > 0 {
		p.Perf = &PerfPlan{Events: evs, TraceFS: h.TraceFS}
	} else if force == SourcePerf {
		return nil, &UnusableError{Source: SourcePerf, Err: fmt.Errorf("none of the requested events can be traced by perf (%s)", noneReasons(p))}
	}

	// 32-bit callers: syscall tracepoints report native syscalls only.
	var b32, b32Events []string
	compat, hasCompat := decode.CompatArch(h.decodeArch())
	wantB32 := false
	switch h.cfg.B32 {
	case B32On:
		wantB32 = true
	case B32Auto:
		// Not audit turned on for them alone: see B32Mode.
		wantB32 = h.Audit.Enabled != 0 || len(p.EventsOf(SourceAudit)) > 0
	}
	b32Possible := auditErr == nil && h.CompatErr == nil && hasCompat
	if b32Possible && wantB32 {
		for i := range p.Events {
			if p.Events[i].Source == SourceNone {
				continue
			}
			names := decode.CompatNames(compat, p.Events[i].Name)
			if len(names) == 0 {
				continue
			}
			p.Events[i].B32 = names
			b32 = append(b32, names...)
			b32Events = append(b32Events, p.Events[i].Name)
		}
	}
	if evs := p.EventsOf(SourceAudit); len(evs) > 0 || len(b32) > 0 {
		p.Audit = &AuditPlan{Events: evs, B32Events: b32Events, B32: b32, Multicast: h.Multicast, Owner: h.AuditOwner, Enabled: h.Audit.Enabled}
		for _, l := range []*[]string{&p.Audit.Events, &p.Audit.B32Events, &p.Audit.B32} {
			if *l == nil {
				*l = []string{}
			}
		}
		if h.AuditBoot != nil {
			p.Notes = append(p.Notes, "audit: "+reason(h.AuditBoot))
		}
	}
	if p.Audit != nil && h.Audit.Enabled == 0 {
		p.Notes = append(p.Notes, LastingCostNote)
	}
	switch {
	case b32Possible && !wantB32 && force != SourcePerf && h.cfg.B32 == B32Off:
		p.Notes = append(p.Notes, "32-bit ("+compatName(compat)+") syscalls are not seen: --b32 off")
	case b32Possible && !wantB32 && force != SourcePerf:
		p.Notes = append(p.Notes, "32-bit ("+compatName(compat)+") syscalls are not seen: audit is off, and turning it on for them alone would slow every process started afterwards until reboot; --b32 on sees them")
	case h.CompatErr == nil && p.Perf != nil && len(b32) == 0 && force == SourcePerf:
		p.Notes = append(p.Notes, "32-bit ("+compatName(compat)+") syscalls are not seen: syscall tracepoints report native syscalls only, and --source perf leaves audit out")
	case h.CompatErr == nil && p.Perf != nil && len(b32) == 0:
		p.Notes = append(p.Notes, "32-bit ("+compatName(compat)+") syscalls are not seen: syscall tracepoints report native syscalls only, and audit is unusable ("+reason(auditErr)+")")
	case h.CompatErr != nil && !errors.Is(h.CompatErr, ErrNotSupported):
		p.Notes = append(p.Notes, "could not tell whether 32-bit processes can run ("+h.CompatErr.Error()+"): no audit b32 rules")
	}
	if force == SourceAudit && len(p.EventsOf(SourceAudit)) == 0 {
		return nil, &UnusableError{Source: SourceAudit, Err: fmt.Errorf("none of the requested events can be traced by audit (%s)", noneReasons(p))}
	}
	return p, nil
}

// Replan probes again after run has mounted tracefs at dir (the plan said
// "mountable") and plans the same events the same way, now with the real
// tracepoints and a real perf_event_open.
func (p *Plan) Replan(dir string) (*Plan, error) {
	cfg := p.Host.cfg
	cfg.TraceFS = dir
	return Probe(cfg, p.Host.events).Plan(p.Host.events, p.Requested)
}

// WithoutPerf plans again as if perf were unusable, because starting the
// perf source failed with why (something the probes could not foresee):
// auto moves perf's events to audit; forced perf gets an *UnusableError.
func (p *Plan) WithoutPerf(why error) (*Plan, error) {
	h := *p.Host
	h.PerfErr = &NotSupportedError{Feature: "perf source", Reason: "the perf source failed to start: " + why.Error()}
	return h.Plan(h.events, p.Requested)
}

// eventErr is why event ev has no usable tracepoints (nil if it has).
func (h *Host) eventErr(ev string) error {
	if err, ok := h.EventErr[ev]; ok {
		return err
	}
	if _, ok := h.Tracepoints[ev]; ok {
		return nil
	}
	// Not probed (Plan called with other events than Probe): look now.
	err := h.eventTracepoints(ev)
	if err != nil {
		h.EventErr[ev] = err
	}
	return err
}

func noneReasons(p *Plan) string {
	var why []string
	for _, e := range p.Events {
		if e.Source == SourceNone {
			why = append(why, e.Name+": "+e.Reason)
		}
	}
	return strings.Join(why, "; ")
}

// LastingCostNote is said whenever the plan turns audit on itself.
const LastingCostNote = "lasting cost: turning audit on makes every process started from now until reboot take the slower audit syscall path, also after auperf turns audit off again (the kernel's audit_ever_enabled; see the README)"

// compatName is how notes name a compat ABI: ia32 (x86's own word), arm.
func compatName(a decode.Arch) string {
	if a == decode.ArchI386 {
		return "ia32"
	}
	return a.String()
}
