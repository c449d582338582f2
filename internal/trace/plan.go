// The plan: the selector's per-event choice of source (probing the host,
// read-only), a forced source that cannot work refused, and the events
// split by hand when --source-events says so.

package trace

import (
	"slices"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/selector"
)

// Plan probes the host through env and plans opts' events: --source
// forces one, and a forced source that cannot work here, or a plan that
// traces nothing, is a one-line refusal (UsageError).
func Plan(env Env, opts Options) (*selector.Plan, error) {
	events := opts.Events
	if len(opts.Overrides) > 0 {
		events = slices.Concat(opts.Overrides[selector.SourcePerf], opts.Overrides[selector.SourceAudit])
	}
	if events == nil {
		events = slices.Clone(decode.DefaultEvents)
	}
	plan, err := env.Select(events, opts.Source, opts.B32)
	if err != nil {
		return nil, Usagef("%v", err)
	}
	if plan, err = overridePlan(plan, opts.Overrides); err != nil {
		return nil, err
	}
	if err := plan.Usable(); err != nil {
		return nil, Usagef("%v", err)
	}
	return plan, nil
}

// overridePlan gives each source the events --source-events names (the
// audit b32 rules stay as planned).
func overridePlan(p *selector.Plan, ov map[selector.Source][]string) (*selector.Plan, error) {
	if len(ov) == 0 {
		return p, nil
	}
	np := *p
	np.Events = slices.Clone(p.Events)
	np.Perf, np.Audit = nil, nil
	if evs := ov[selector.SourcePerf]; len(evs) > 0 {
		if p.Perf == nil {
			return nil, Usagef("--source-events perf=...: perf cannot work here")
		}
		pp := *p.Perf
		pp.Events = evs
		np.Perf = &pp
	}
	var ap selector.AuditPlan
	if p.Audit != nil {
		ap = *p.Audit
	} else if p.Host != nil {
		ap = selector.AuditPlan{Multicast: p.Host.Multicast, Owner: p.Host.AuditOwner, Enabled: p.Host.Audit.Enabled}
	}
	ap.Events = ov[selector.SourceAudit]
	if len(ap.Events) > 0 || len(ap.B32Events) > 0 {
		np.Audit = &ap
	}
	for i, e := range np.Events {
		for src, evs := range ov {
			if slices.Contains(evs, e.Name) {
				np.Events[i].Source, np.Events[i].Reason = src, "--source-events"
			}
		}
	}
	return &np, nil
}
