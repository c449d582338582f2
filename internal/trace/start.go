// Start: the plan's sources attached so that everything from now on is
// traced: tracefs mounted when the plan says it must be (and the plan made
// again with the real tracepoints), perf attached (in auto mode its events
// move to audit when it fails), then audit; the traced command started;
// and all of it closed again.

package trace

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/internal/host"
	"github.com/auperf/auperf/internal/source"
	"github.com/auperf/auperf/perfsrc"
	"github.com/auperf/auperf/selector"
)

// AuditSource is the audit source as Start uses it: a source that can also
// start the traced command inside an audit session of its own.
type AuditSource interface {
	source.Source
	StartCommand(cmd *exec.Cmd) error
}

// Env is everything Start reaches the host through. HostEnv is the real
// host; tests give fake sources and mounts.
type Env struct {
	// Select probes the host (read-only) and plans the events.
	Select func(events []string, force selector.Source, b32 selector.B32Mode) (*selector.Plan, error)
	// Replan plans p again once tracefs is mounted at dir.
	Replan func(p *selector.Plan, dir string) (*selector.Plan, error)
	// Mount mounts a tracefs the plan found mountable and returns the
	// tracefs directory and how to undo the mount.
	Mount    func(t host.TraceFS) (dir string, undo func(), err error)
	NewPerf  func(perfsrc.Config) (source.Source, error)
	NewAudit func(auditsrc.Config) (AuditSource, error)
	// Warn tells the user something (one line, no prefix).
	Warn func(string)
}

// HostEnv is the running host: the selector's probes, real mounts, and the
// perf and audit sources; warnings go to warn.
func HostEnv(warn func(string)) Env {
	return Env{
		Select: func(events []string, force selector.Source, b32 selector.B32Mode) (*selector.Plan, error) {
			return selector.Select(selector.Config{B32: b32}, events, force)
		},
		Replan: (*selector.Plan).Replan,
		Mount: func(t host.TraceFS) (string, func(), error) {
			dir, err := host.MountTraceFS(t)
			if err != nil {
				return "", nil, err
			}
			return dir, func() { host.Unmount(t.Dir) }, nil
		},
		NewPerf: func(c perfsrc.Config) (source.Source, error) {
			s, err := perfsrc.New(c)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		NewAudit: func(c auditsrc.Config) (AuditSource, error) {
			s, err := auditsrc.New(c)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Warn: warn,
	}
}

// Session is a started plan: the attached sources, and what to undo.
type Session struct {
	Plan    *selector.Plan
	Sources []source.Source

	env     Env
	opts    Options
	audit   AuditSource // nil when audit is not in the plan
	warned  int         // audit warnings told
	unmount func()      // a tracefs we mounted
}

// Start attaches the plan's sources. On error nothing of theirs is left
// attached or mounted, and the error is a UsageError when the plan cannot
// work (exit status 2).
func Start(env Env, plan *selector.Plan, opts Options) (*Session, error) {
	s := &Session{Plan: plan, env: env, opts: opts, unmount: func() {}}
	if s.Plan.Perf != nil {
		if err := s.attachPerf(); err != nil {
			s.unmount()
			s.unmount = func() {}
			var ue *selector.UnusableError
			if errors.As(err, &ue) {
				return nil, Usagef("%v", err)
			}
			np, perr := s.Plan.WithoutPerf(err)
			if perr != nil {
				return nil, Usagef("%v", perr)
			}
			if np, perr = overridePlan(np, opts.Overrides); perr != nil {
				return nil, perr
			}
			env.Warn(fmt.Sprintf("the perf source failed to start (%v): the audit source traces its events instead", err))
			s.Plan = np
		}
	}
	if ap := s.Plan.Audit; ap != nil {
		err := s.attachAudit(ap)
		switch {
		case err == nil:
		case len(s.Sources) > 0 && len(ap.Events) == 0:
			// Only the 32-bit side was audit's: perf still works.
			env.Warn(fmt.Sprintf("the audit source failed to start (%v): 32-bit (ia32) syscalls are not seen", err))
		default:
			s.Close()
			return nil, Usagef("audit source: %v", err)
		}
	}
	if len(s.Sources) == 0 {
		s.Close()
		if err := s.Plan.Usable(); err != nil {
			return nil, Usagef("%v", err)
		}
		return nil, Usagef("no source could start")
	}
	for _, e := range s.Plan.Events {
		if e.Source == selector.SourceNone {
			env.Warn(fmt.Sprintf("%s is not traced: %s", e.Name, e.Reason))
		}
	}
	for _, n := range s.Plan.Notes {
		// Audit's own notes come again, more precisely, from the
		// audit source's warnings.
		if !strings.HasPrefix(n, "audit: ") {
			env.Warn(n)
		}
	}
	return s, nil
}

// attachPerf mounts tracefs when the plan says run must, plans again with
// the real tracepoints, and attaches the perf source.
func (s *Session) attachPerf() error {
	tf := s.Plan.Perf.TraceFS
	if tf.State == host.TraceFSMountable {
		dir, undo, err := s.env.Mount(tf)
		if err != nil {
			return err
		}
		s.unmount = undo
		np, err := s.env.Replan(s.Plan, dir)
		if err != nil {
			return err
		}
		if np, err = overridePlan(np, s.opts.Overrides); err != nil {
			return err
		}
		s.Plan = np
		if np.Perf == nil {
			undo()
			s.unmount = func() {}
			return nil
		}
		tf = np.Perf.TraceFS
	}
	o := s.opts
	src, err := s.env.NewPerf(perfsrc.Config{Events: s.Plan.Perf.Events, Filter: o.Filter, RingPages: o.RingPages,
		Paths: host.Paths{TraceFS: tf.Dir}})
	if err != nil {
		return err
	}
	if err := src.Attach(); err != nil {
		src.Close()
		return err
	}
	s.Sources = append(s.Sources, src)
	return nil
}

// attachAudit makes and attaches the audit source of plan part ap: native
// rules only for the events audit traces itself, b32 rules for the 32-bit
// side of every planned event.
func (s *Session) attachAudit(ap *selector.AuditPlan) error {
	o := s.opts
	cfg := auditsrc.Config{Events: ap.Events, B32Events: ap.B32Events, Filter: o.Filter,
		Backpressure: o.AuditBackpressure, BacklogLimit: o.AuditBacklogLimit, StartsCommand: o.Filter.Tree,
		Lean: o.AuditLean, TaskFilter: o.AuditTaskFilter, Warn: s.env.Warn}
	if len(ap.Events) > 0 {
		cfg.Archs = append(cfg.Archs, decode.NativeArch())
	}
	if compat, ok := decode.CompatArch(decode.NativeArch()); ok && len(ap.B32Events) > 0 {
		cfg.Archs = append(cfg.Archs, compat)
	}
	if len(cfg.Archs) == 0 {
		// Only a 32-bit side where auperf knows no 32-bit ABI: audit
		// would fall back to native rules, beside perf's.
		return fmt.Errorf("no audit arch for %d b32 events on %s", len(ap.B32Events), decode.NativeArch())
	}
	if len(ap.Events) == 0 {
		cfg.Events = ap.B32Events // (nil would mean the default events)
	}
	if ap.Multicast {
		cfg.Mode = auditsrc.ModeMulticast
	}
	src, err := s.env.NewAudit(cfg)
	if err != nil {
		return err
	}
	if err := src.Attach(); err != nil {
		src.Close() // (Attach undid what it did)
		return err
	}
	s.audit = src
	s.Sources = append(s.Sources, src)
	s.tellAuditWarnings()
	return nil
}

// StartCommand starts the traced command. Only one source may fork it:
// audit, when it runs, forks it into an audit session of its own (its
// rules follow that session); perf needs nothing more than the command
// being our child, which it is either way (it follows FORK records from
// our pid).
func (s *Session) StartCommand(cmd *exec.Cmd) error {
	if s.audit == nil {
		return cmd.Start()
	}
	err := s.audit.StartCommand(cmd)
	s.tellAuditWarnings()
	return err
}

// tellAuditWarnings tells the audit source's warnings not told yet.
func (s *Session) tellAuditWarnings() {
	w := s.audit.Warnings()
	for _, l := range w[min(s.warned, len(w)):] {
		s.env.Warn(l)
	}
	s.warned = len(w)
}

// Close closes every source (undoing what Attach changed, for sources that
// did not run; a source that ran has undone it already) and unmounts a
// tracefs we mounted. It is idempotent.
func (s *Session) Close() error {
	var errs []error
	for _, src := range s.Sources {
		if err := src.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s source: %w", src.Name(), err))
		}
	}
	s.unmount()
	s.unmount = func() {}
	return errors.Join(errs...)
}
