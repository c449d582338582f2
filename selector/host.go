package selector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/auperf/auperf/internal/host"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/perfsrc"
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
	IA32Err    error  // nil when 32-bit x86 processes can run

	Results []Result

	config    map[string]string
	configSrc string
	cmdline   map[string]string
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

func parseCmdline(path string) map[string]string {
	s, err := readTrim(path)
	m := map[string]string{}
	if err != nil {
		return m
	}
	for _, f := range strings.Fields(s) {
		if f == "--" { // the rest is init's
			break
		}
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

// kernelBool parses a boot parameter as the kernel's kstrtobool does.
func kernelBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "y", "yes", "on", "true":
		return true, true
	case "0", "n", "no", "off", "false":
		return false, true
	}
	return false, false
}

func (h *Host) kconfig() map[string]string {
	if h.config == nil && h.configSrc == "" {
		h.config, h.configSrc = h.cfg.kernelConfig(h.Release)
		if h.config == nil {
			h.configSrc = "-"
		}
	}
	return h.config
}

func probeRelease(h *Host) (string, error) {
	rel, err := readTrim(h.cfg.Proc("sys/kernel/osrelease"))
	if err != nil {
		return "", fmt.Errorf("read kernel release: %w", err)
	}
	h.Release = rel
	if h.Version, err = ParseRelease(rel); err != nil {
		return rel, err
	}
	return rel, nil
}

func probeArch(h *Host) (string, error) {
	// /proc/sys/kernel/arch exists since 6.1; before, ask uname.
	if a, err := readTrim(h.cfg.Proc("sys/kernel/arch")); err == nil && a != "" {
		h.Arch = a
		return a, nil
	}
	a, err := h.cfg.Kernel.Machine()
	h.Arch = a
	return a, err
}

func probeCaps(h *Host) (string, error) {
	st, err := readStatus(h.cfg.Proc("self/status"))
	if err == nil {
		h.Caps, err = parseCaps(st)
	}
	if s, ok := st["Seccomp"]; ok {
		h.Seccomp, _ = strconv.Atoi(s)
	}
	if err != nil {
		h.capsErr = fmt.Errorf("read capabilities: %w", err)
		return "", h.capsErr
	}
	var have, lack []string
	for _, c := range capNames {
		if h.Caps.Has(c.bit) {
			have = append(have, c.name)
		} else {
			lack = append(lack, c.name)
		}
	}
	v := fmt.Sprintf("CapEff=%016x", uint64(h.Caps))
	if len(have) > 0 {
		v += " has " + strings.Join(have, ",")
	}
	if len(lack) > 0 {
		v += " lacks " + strings.Join(lack, ",")
	}
	return v, nil
}

func probeSeccomp(h *Host) (string, error) {
	switch h.Seccomp {
	case -1:
		return "", errSkip
	case 0:
		return "0 (no filter)", nil
	case 1:
		return "1 (strict)", nil
	}
	return fmt.Sprintf("%d (a filter is active: it may refuse perf_event_open)", h.Seccomp), nil
}

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

func probeAuditNetlink(h *Host) (string, error) {
	st, err := h.cfg.Kernel.AuditStatus()
	if err == nil {
		h.Audit = st
		return "AUDIT_GET answered", nil
	}
	errno := errnoOf(err)
	switch errno {
	case unix.EPROTONOSUPPORT, unix.EAFNOSUPPORT, unix.EINVAL:
		h.AuditErr = notSupported("", "no audit netlink socket (%s): kernel built without CONFIG_AUDIT", unix.ErrnoName(errno))
	case unix.ECONNREFUSED:
		h.AuditErr = notSupported("", "audit netlink refused (ECONNREFUSED): not in the initial user namespace (a container)")
	case unix.EPERM:
		why := "not in the initial pid namespace (a container)"
		if h.capsErr == nil && !h.Caps.Has(CapAuditControl) {
			why = "no CAP_AUDIT_CONTROL"
		}
		h.AuditErr = notSupported("", "audit status request denied (EPERM): %s", why)
	default:
		h.AuditErr = err
	}
	return "", h.AuditErr
}

func probeAuditEnabled(h *Host) (string, error) {
	if h.AuditErr != nil {
		return "", errSkip
	}
	switch h.Audit.Enabled {
	case 0:
		return "0 (off: run turns it on and back off on exit)", nil
	case 1:
		return "1", nil
	case 2:
		return "2 (locked)", notSupported("", "audit is locked (enabled=2): no rule can be added until reboot")
	}
	return "", fmt.Errorf("unknown audit enabled value %d", h.Audit.Enabled)
}

func probeAuditOwner(h *Host) (string, error) {
	if h.AuditErr != nil {
		return "", errSkip
	}
	pid := h.Audit.PID
	if pid == 0 {
		return "none: auperf receives audit records itself (unicast)", nil
	}
	comm, err := readTrim(h.cfg.Proc(strconv.FormatUint(uint64(pid), 10), "comm"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("pid %d, not running: a stale registration; auperf takes over (unicast)", pid), nil
	}
	if err != nil {
		return "", fmt.Errorf("read audit daemon's name: %w", err)
	}
	h.AuditOwner, h.Multicast = comm, true
	return fmt.Sprintf("%s (pid %d): auperf reads alongside it (multicast)", comm, pid), nil
}

func probeAuditControl(h *Host) (string, error) {
	if h.AuditErr != nil || h.capsErr != nil {
		return "", errSkip
	}
	if !h.Caps.Has(CapAuditControl) {
		return "", notSupported("", "no CAP_AUDIT_CONTROL: auperf cannot add audit rules")
	}
	return "CAP_AUDIT_CONTROL", nil
}

func probeAuditMulticast(h *Host) (string, error) {
	if h.AuditErr != nil {
		return "", errSkip
	}
	if !h.Multicast {
		return "not needed (no audit daemon)", nil
	}
	if h.Version.Less(3, 16) {
		return "", &NotSupportedError{
			Reason:    fmt.Sprintf("%s owns audit and kernel %s has no audit multicast (added in 3.16): stop it to use audit", h.AuditOwner, h.Version.Short()),
			MinKernel: "3.16",
		}
	}
	if h.capsErr == nil && !h.Caps.Has(CapAuditRead) {
		return "", notSupported("", "%s owns audit and reading alongside it needs CAP_AUDIT_READ", h.AuditOwner)
	}
	return "kernel 3.16+ and CAP_AUDIT_READ", nil
}

// probeAuditReaders: as the audit daemon with nobody else reading audit,
// run excludes PROCTITLE and EOE records while it runs (auditsrc's lean
// records); another multicast listener (journald, a second auperf) keeps
// them. Those are sockets of this network namespace: run also checks
// that it is the initial one, where the kernel multicasts.
func probeAuditReaders(h *Host) (string, error) {
	if h.AuditErr != nil || h.Multicast {
		return "", errSkip
	}
	if h.Audit.Enabled == 2 {
		return "audit locked: run adds no rule, not even exclusions", nil
	}
	f, err := os.Open(h.cfg.Proc("net", "netlink"))
	if err != nil {
		return "", fmt.Errorf("count audit readers: %w", err)
	}
	defer f.Close()
	n, ok := auditsrc.AuditListeners(f)
	switch {
	case !ok:
		return "", fmt.Errorf("count audit readers: %s not understood", f.Name())
	case n > 0:
		return fmt.Sprintf("%d multicast listener(s) besides auperf: run keeps PROCTITLE and EOE records for them", n), nil
	case !auditsrc.LeanEvents(h.events):
		return "none besides auperf; run keeps PROCTITLE and EOE records (not every event is of the memory family)", nil
	}
	return "none besides auperf: run excludes PROCTITLE and EOE records while it runs (two keyless exclude rules; --audit-lean off keeps them)", nil
}

func probeAuditSyscall(h *Host) (string, error) {
	if h.AuditErr != nil {
		return "", errSkip
	}
	cfg := h.kconfig()
	if cfg == nil {
		return "", errors.New("no kernel config (/proc/config.gz, /boot/config-<release>) to check CONFIG_AUDITSYSCALL")
	}
	if cfg["CONFIG_AUDITSYSCALL"] != "y" {
		return "", notSupported("", "kernel built without CONFIG_AUDITSYSCALL (%s): audit records no syscalls", h.configSrc)
	}
	return "CONFIG_AUDITSYSCALL=y (" + h.configSrc + ")", nil
}

// probeAuditBoot: a task forked while audit had never been enabled gets no
// audit context (kernel/auditsc.c, audit_alloc) and is never audited, so
// what matters is audit=1 on the kernel command line. /proc/self/loginuid
// is no evidence: pam_loginuid sets it whether audit is on or off.
func probeAuditBoot(h *Host) (string, error) {
	if h.AuditErr != nil {
		return "", errSkip
	}
	v, ok := h.cmdline["audit"]
	if on, valid := kernelBool(v); ok && valid && on {
		return "audit=1 on the kernel command line: every process is audited", nil
	}
	now := "audit is off now, and unless it was on earlier since boot every process already running is invisible to audit"
	if h.Audit.Enabled != 0 {
		now = "processes started before audit was first enabled are invisible to audit"
	}
	if ok {
		h.AuditBoot = notSupported("", "audit=%s on the kernel command line: %s", v, now)
	} else {
		h.AuditBoot = notSupported("", "not enabled at boot (no audit=1 on the kernel command line): %s", now)
	}
	return "", h.AuditBoot
}

// probeIA32: 32-bit x86 processes (int 0x80) on x86_64 need
// CONFIG_IA32_EMULATION, which 6.7+ can also switch off at boot
// (ia32_emulation=, CONFIG_IA32_EMULATION_DEFAULT_DISABLED). Without a
// kernel config, /proc/sys/abi/vsyscall32 exists exactly when the kernel
// has ia32 emulation (arch/x86/entry/vdso/vdso32-setup.c).
func probeIA32(h *Host) (string, error) {
	if h.Arch != "x86_64" {
		return "", notSupported("", "arch %q: auperf knows no 32-bit ABI here", h.Arch)
	}
	param, hasParam := h.cmdline["ia32_emulation"]
	on, valid := kernelBool(param)
	if hasParam && valid && !on {
		h.IA32Err = notSupported("", "ia32_emulation=%s on the kernel command line: 32-bit processes cannot run", param)
		return "", h.IA32Err
	}
	if cfg := h.kconfig(); cfg != nil {
		switch {
		case cfg["CONFIG_IA32_EMULATION"] != "y":
			h.IA32Err = notSupported("", "kernel built without CONFIG_IA32_EMULATION (%s): 32-bit processes cannot run", h.configSrc)
		case cfg["CONFIG_IA32_EMULATION_DEFAULT_DISABLED"] == "y" && !(hasParam && on):
			h.IA32Err = notSupported("", "CONFIG_IA32_EMULATION_DEFAULT_DISABLED and no ia32_emulation=1 on the kernel command line")
		default:
			return "CONFIG_IA32_EMULATION=y (" + h.configSrc + ")", nil
		}
		return "", h.IA32Err
	}
	if _, err := os.Stat(h.cfg.Proc("sys/abi/vsyscall32")); err == nil {
		return "/proc/sys/abi/vsyscall32 exists", nil
	} else if errors.Is(err, os.ErrNotExist) && isDir(h.cfg.Proc("sys/abi")) {
		h.IA32Err = notSupported("", "no /proc/sys/abi/vsyscall32: kernel without CONFIG_IA32_EMULATION")
		return "", h.IA32Err
	}
	h.IA32Err = errors.New("no kernel config and no /proc/sys/abi to tell")
	return "", h.IA32Err
}

// auditUsable says whether auperf can put its rules into audit and read
// their records.
func (h *Host) auditUsable() error {
	if h.AuditErr != nil {
		return h.AuditErr
	}
	for _, name := range []string{"audit_enabled", "audit_control", "audit_multicast", "audit_syscall"} {
		if r, ok := h.Result(name); ok && errors.Is(r.Err, ErrNotSupported) {
			return r.Err
		}
	}
	return nil
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

// decodeArch is the decode table of the host's native syscalls.
func (h *Host) decodeArch() decode.Arch {
	if h.Arch == "aarch64" {
		return decode.ArchARM64
	}
	return decode.ArchX86_64
}

// isMissingSyscall reports an error saying the kernel predates a syscall.
func isMissingSyscall(err error) bool {
	var ns *NotSupportedError
	return errors.As(err, &ns) && strings.HasPrefix(ns.Feature, "syscall ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
