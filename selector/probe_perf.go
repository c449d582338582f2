// Probes of the perf side: tracefs, the syscall tracepoints (all of them and
// per event), perf_event_paranoid, perf_event_open through the perf source's
// own open path, use_clockid, and whether perf is usable.

package selector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/internal/host"
	"github.com/auperf/auperf/perfsrc"
)

func probeTraceFS(h *Host) (string, error) {
	if h.cfg.TraceFS != "" {
		h.TraceFS = host.TraceFS{State: host.TraceFSMounted, Path: h.cfg.TraceFS, FSType: "tracefs", Dir: h.cfg.TraceFS}
		if !isDir(filepath.Join(h.cfg.TraceFS, "events")) {
			h.TraceFSErr = notSupported("", "%s (configured) has no events directory", h.cfg.TraceFS)
		}
		return h.cfg.TraceFS + " (configured)", h.TraceFSErr
	}
	ms, err := host.ReadMounts(h.cfg.Paths)
	if err != nil {
		h.TraceFSErr = fmt.Errorf("read mounts: %w", err)
		return "", h.TraceFSErr
	}
	t, why := host.LocateTraceFS(h.cfg.Paths, ms)
	h.TraceFS = t
	if h.lockdown == "confidentiality" && t.State != host.TraceFSMounted {
		// A tracefs mounted before lockdown stays readable (checked
		// below); a new mount shows no events.
		h.TraceFSErr = notSupported("", "kernel lockdown (confidentiality) forbids tracefs: mounting it shows no events")
		return "absent", h.TraceFSErr
	}
	switch t.State {
	case host.TraceFSMounted:
		if _, err := os.ReadDir(filepath.Join(t.Dir, "events")); err != nil {
			h.TraceFSErr = notSupported("", "%s is mounted but not readable: %v", t.Path, errors.Unwrap(err))
		}
		return fmt.Sprintf("%s (%s, mounted)", t.Path, t.FSType), h.TraceFSErr
	case host.TraceFSMountable:
		v := fmt.Sprintf("%s (%s, not mounted: run mounts it)", t.Path, t.FSType)
		if h.capsErr == nil && !h.Caps.Has(CapSysAdmin) {
			h.TraceFSErr = notSupported("", "tracefs is not mounted and mounting it on %s needs CAP_SYS_ADMIN", t.Path)
		}
		return v, h.TraceFSErr
	}
	h.TraceFSErr = notSupported("", "%s", why)
	return "absent", h.TraceFSErr
}

func probeSyscallTracepoints(h *Host) (string, error) {
	if h.TraceFSErr != nil {
		return "", errSkip
	}
	if h.TraceFS.State == host.TraceFSMountable {
		// Cannot look inside before mounting: ask the build config.
		switch h.kconfig()["CONFIG_FTRACE_SYSCALLS"] {
		case "y":
			return "CONFIG_FTRACE_SYSCALLS=y (" + h.configSrc + ")", nil
		case "":
			if h.config == nil {
				return "", errors.New("tracefs is not mounted and there is no kernel config to ask")
			}
			fallthrough
		default:
			h.SyscallsErr = notSupported("", "kernel built without CONFIG_FTRACE_SYSCALLS (%s): no syscall tracepoints", h.configSrc)
			return "", h.SyscallsErr
		}
	}
	dir := filepath.Join(h.TraceFS.Dir, "events", "syscalls")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		h.SyscallsErr = notSupported("", "no events/syscalls in %s: kernel built without CONFIG_FTRACE_SYSCALLS", h.TraceFS.Path)
		return "", h.SyscallsErr
	}
	if err != nil {
		h.SyscallsErr = fmt.Errorf("read syscall tracepoints: %w", err)
		return "", h.SyscallsErr
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "sys_enter_") {
			n++
		}
	}
	return fmt.Sprintf("%d syscalls have enter tracepoints", n), nil
}

func probeEventTracepoints(h *Host, ev string) (string, error) {
	err := h.eventTracepoints(ev)
	if err != nil {
		h.EventErr[ev] = err
		if !isMissingSyscall(err) && (h.TraceFSErr != nil || h.SyscallsErr != nil || h.TraceFS.State != host.TraceFSMounted) {
			return "", errSkip // the tracefs row already says why
		}
		return "", err
	}
	tp := h.Tracepoints[ev]
	return fmt.Sprintf("ids %d/%d", tp.Enter, tp.Exit), nil
}

func (h *Host) eventTracepoints(ev string) error {
	if ns := missingSyscall(h.Version, ev); ns != nil {
		return ns
	}
	switch {
	case h.TraceFSErr != nil:
		return h.TraceFSErr
	case h.SyscallsErr != nil:
		return h.SyscallsErr
	case h.TraceFS.State == host.TraceFSMountable:
		return errors.New("tracefs is not mounted yet: run looks after mounting it")
	}
	tp := decode.TracepointName(h.decodeArch(), ev)
	if tp == "" {
		return notSupported("", "%s has no %s entry point: it has no tracepoints", h.Arch, ev)
	}
	s, err := perfsrc.ReadSyscall(h.TraceFS.Dir, tp)
	if errors.Is(err, perfsrc.ErrNoTracepoint) {
		return notSupported("", "no syscalls:sys_enter_%s/sys_exit_%s tracepoints", tp, tp)
	}
	if err != nil {
		return err
	}
	h.Tracepoints[ev] = Tracepoints{Enter: s.Enter.ID, Exit: s.Exit.ID}
	return nil
}

func probeParanoid(h *Host) (string, error) {
	s, err := readTrim(h.cfg.Proc("sys/kernel/perf_event_paranoid"))
	if errors.Is(err, os.ErrNotExist) {
		return "", notSupported("", "no /proc/sys/kernel/perf_event_paranoid: kernel built without CONFIG_PERF_EVENTS")
	}
	if err != nil {
		return "", fmt.Errorf("read perf_event_paranoid: %w", err)
	}
	if h.Paranoid, err = strconv.Atoi(s); err != nil {
		return s, fmt.Errorf("parse perf_event_paranoid %q: %w", s, err)
	}
	return s, nil
}

// perfPermitted predicts from perf_event_paranoid and capabilities whether
// system-wide raw tracepoint samples are allowed: without CAP_PERFMON (5.8+)
// or CAP_SYS_ADMIN only perf_event_paranoid=-1 allows them
// (kernel/trace/trace_event_perf.c, perf_trace_event_perm).
func (h *Host) perfPermitted() error {
	if r, _ := h.Result("perf_event_paranoid"); r.Err != nil {
		return r.Err
	}
	if h.capsErr != nil {
		return h.capsErr
	}
	if h.Caps.Has(CapSysAdmin) || (h.Caps.Has(CapPerfmon) && !h.Version.Less(5, 8)) || h.Paranoid <= -1 {
		return nil
	}
	return notSupported("perf_event_open", "perf_event_paranoid=%d and no CAP_PERFMON or CAP_SYS_ADMIN: system-wide tracepoint samples need one of them or perf_event_paranoid=-1", h.Paranoid)
}

func probePerfOpen(h *Host) (string, error) {
	h.PerfErr = h.perfOpen()
	if h.PerfErr == nil {
		return "opened and closed " + h.perfProbeTP + " on CPU 0 for all processes", nil
	}
	return h.perfProbeTP, h.PerfErr
}

func (h *Host) perfOpen() error {
	predicted := h.perfPermitted()
	var id uint64
	for _, ev := range h.events {
		if tp, ok := h.Tracepoints[ev]; ok {
			id, h.perfProbeTP = tp.Enter, "syscalls:sys_enter_"+ev
			break
		}
	}
	if id == 0 && h.TraceFS.State == host.TraceFSMounted && h.SyscallsErr == nil {
		// None of the requested events has tracepoints: try any syscall's.
		dir := filepath.Join(h.TraceFS.Dir, "events", "syscalls")
		if ents, err := os.ReadDir(dir); err == nil {
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), "sys_enter_") {
					continue
				}
				if f, err := perfsrc.ReadFormat(h.TraceFS.Dir, "syscalls", e.Name()); err == nil {
					id, h.perfProbeTP = f.ID, "syscalls:"+e.Name()
					break
				}
			}
		}
	}
	if id == 0 {
		if errors.Is(predicted, ErrNotSupported) {
			return predicted
		}
		if predicted != nil {
			return predicted
		}
		return errors.New("not tried: no syscall tracepoint to open (tracefs not mounted or no syscall tracepoints)")
	}
	err := h.cfg.Kernel.PerfOpenTracepoint(id)
	if err == nil {
		return nil
	}
	errno := errnoOf(err)
	name := unix.ErrnoName(errno)
	switch errno {
	case unix.EACCES, unix.EPERM:
		why := "denied"
		if predicted != nil {
			why += ": " + reason(predicted)
		} else if h.Seccomp == 2 {
			why += ": a seccomp filter is active (Seccomp: 2), as a container runtime's default profile installs"
		}
		return notSupported("", "perf_event_open on %s %s (%s)", h.perfProbeTP, why, name)
	case unix.ENOSYS:
		why := "kernel built without CONFIG_PERF_EVENTS"
		if h.Seccomp == 2 {
			why = "a seccomp filter refuses it (Seccomp: 2)"
		}
		return notSupported("", "perf_event_open is not available (ENOSYS): %s", why)
	case unix.ENOENT, unix.ENODEV, unix.EOPNOTSUPP:
		return notSupported("", "perf_event_open cannot attach to %s (%s): kernel without perf support for tracepoints", h.perfProbeTP, name)
	}
	return err
}

func probeClockID(h *Host) (string, error) {
	if h.Version.IsZero() {
		return "", errSkip
	}
	if h.Version.Less(4, 1) {
		return "perf clock converted to wall time", &NotSupportedError{
			Reason:    fmt.Sprintf("kernel %s has no perf use_clockid (added in 4.1): perf timestamps are converted from the perf clock", h.Version.Short()),
			MinKernel: "4.1",
		}
	}
	return "use_clockid available", nil
}

// perfUsable says whether the perf source can work at all here (each event
// still needs its own tracepoints).
func (h *Host) perfUsable() error {
	for _, err := range []error{h.TraceFSErr, h.SyscallsErr} {
		if err != nil {
			return err
		}
	}
	if h.PerfErr != nil && (errors.Is(h.PerfErr, ErrNotSupported) || h.TraceFS.State == host.TraceFSMounted) {
		return h.PerfErr
	}
	return nil
}

// isMissingSyscall reports an error saying the kernel predates a syscall.
func isMissingSyscall(err error) bool {
	var ns *NotSupportedError
	return errors.As(err, &ns) && strings.HasPrefix(ns.Feature, "syscall ")
}
