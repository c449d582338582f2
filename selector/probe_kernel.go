// Probes of the kernel itself: release, arch, our capabilities, seccomp,
// the command line and build config, ia32 emulation.

package selector

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/auperf/auperf/decode"
)

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

// probeIA32: 32-bit x86 processes (int 0x80) on x86_64 need
// CONFIG_IA32_EMULATION, which 6.7+ can also switch off at boot
// (ia32_emulation=, CONFIG_IA32_EMULATION_DEFAULT_DISABLED). Without a
// kernel config, /proc/sys/abi/vsyscall32 exists exactly when the kernel
// has ia32 emulation (arch/x86/entry/vdso/vdso32-setup.c).
func probeIA32(h *Host) (string, error) {
	if h.Arch != "x86_64" {
		if h.Arch != "aarch64" {
			// Recorded, so that the plan asks for no b32 rules: with
			// no 32-bit ABI of ours, the audit source would fall back
			// to native rules and report every call a second time.
			h.CompatErr = notSupported("", "arch %q: auperf decodes no 32-bit ABI here", h.Arch)
		}
		return "", notSupported("", "arch %s: ia32 emulation is x86_64's", h.Arch)
	}
	param, hasParam := h.cmdline["ia32_emulation"]
	on, valid := kernelBool(param)
	if hasParam && valid && !on {
		h.CompatErr = notSupported("", "ia32_emulation=%s on the kernel command line: 32-bit processes cannot run", param)
		return "", h.CompatErr
	}
	if cfg := h.kconfig(); cfg != nil {
		switch {
		case cfg["CONFIG_IA32_EMULATION"] != "y":
			h.CompatErr = notSupported("", "kernel built without CONFIG_IA32_EMULATION (%s): 32-bit processes cannot run", h.configSrc)
		case cfg["CONFIG_IA32_EMULATION_DEFAULT_DISABLED"] == "y" && !(hasParam && on):
			h.CompatErr = notSupported("", "CONFIG_IA32_EMULATION_DEFAULT_DISABLED and no ia32_emulation=1 on the kernel command line")
		default:
			return "CONFIG_IA32_EMULATION=y (" + h.configSrc + ")", nil
		}
		return "", h.CompatErr
	}
	if _, err := os.Stat(h.cfg.Proc("sys/abi/vsyscall32")); err == nil {
		return "/proc/sys/abi/vsyscall32 exists", nil
	} else if errors.Is(err, os.ErrNotExist) && isDir(h.cfg.Proc("sys/abi")) {
		h.CompatErr = notSupported("", "no /proc/sys/abi/vsyscall32: kernel without CONFIG_IA32_EMULATION")
		return "", h.CompatErr
	}
	h.CompatErr = errors.New("no kernel config and no /proc/sys/abi to tell")
	return "", h.CompatErr
}

// probeARM32: 32-bit arm (EABI) processes on arm64 need CONFIG_COMPAT,
// and a CPU that runs AArch32 at EL0 (many recent cores do not: exec of
// a 32-bit program then fails with ENOEXEC, and nothing is to be seen).
// arm64's syscall tracepoints skip compat syscalls
// (ARCH_TRACE_IGNORE_COMPAT_SYSCALLS), so audit b32 rules see them.
func probeARM32(h *Host) (string, error) {
	if h.Arch != "aarch64" {
		return "", notSupported("", "arch %s: arm EABI compat is arm64's", h.Arch)
	}
	cfg := h.kconfig()
	switch {
	case cfg == nil:
		h.CompatErr = errors.New("no kernel config to tell whether CONFIG_COMPAT is set")
	case cfg["CONFIG_COMPAT"] != "y":
		h.CompatErr = notSupported("", "kernel built without CONFIG_COMPAT (%s): 32-bit arm processes cannot run", h.configSrc)
	default:
		return "CONFIG_COMPAT=y (" + h.configSrc + "); whether this CPU runs 32-bit code shows when a 32-bit program starts", nil
	}
	return "", h.CompatErr
}

// decodeArch is the decode table of the host's native syscalls.
func (h *Host) decodeArch() decode.Arch {
	if h.Arch == "aarch64" {
		return decode.ArchARM64
	}
	return decode.ArchX86_64
}

// probeLockdown reads the kernel lockdown level: securityfs's
// /sys/kernel/security/lockdown ("none [integrity] confidentiality"), else
// lockdown= on the command line (securityfs not mounted). Confidentiality
// forbids tracefs (LOCKDOWN_TRACEFS): the syscall tracepoints' ids and
// formats cannot be read, so the perf source cannot work; audit can.
func probeLockdown(h *Host) (string, error) {
	if b, err := os.ReadFile(h.cfg.HostPath("/sys/kernel/security/lockdown")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
				h.lockdown = strings.Trim(f, "[]")
				return h.lockdown + " (/sys/kernel/security/lockdown)", nil
			}
		}
	}
	if v, ok := h.cmdline["lockdown"]; ok && (v == "integrity" || v == "confidentiality") {
		h.lockdown = v
		return v + " (lockdown= on the kernel command line)", nil
	}
	if h.cmdline != nil {
		h.lockdown = "none"
		return "none (no lockdown= on the kernel command line; securityfs not readable)", nil
	}
	return "", errors.New("securityfs not readable and no kernel command line")
}
