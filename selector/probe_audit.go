// Probes of the audit side: the netlink protocol, enabled, who owns the
// audit pid, control and multicast permission, other readers, syscall
// auditing, audit at boot, and whether audit is usable.

package selector

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/auditsrc"
)

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
	return "none besides auperf: run excludes PROCTITLE and EOE records while it runs (two keyless exclude rules; --audit-lean off keeps them), and with -- COMMAND leaves processes started outside the command without an audit context (a task rule; --audit-task-filter off)", nil
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
