package decode

import "runtime"

// Arch is the ABI a syscall was made in. A 64-bit kernel may serve several
// (x86_64 and i386 through int 0x80); audit tells which, perf only sees the
// native one.
type Arch uint8

const (
	ArchUnknown Arch = iota
	ArchX86_64
	ArchI386
	ArchARM64
	ArchARM // 32-bit arm EABI: arm64's compat processes

	archCount // number of Arch values, for per-arch tables
)

// AUDIT_ARCH_* from include/uapi/linux/audit.h: EM_* machine number,
// __AUDIT_ARCH_64BIT (0x80000000) and __AUDIT_ARCH_LE (0x40000000).
const (
	auditArchX86_64  = 0xc000003e // EM_X86_64 (62)
	auditArchI386    = 0x40000003 // EM_386 (3)
	auditArchAARCH64 = 0xc00000b7 // EM_AARCH64 (183)
	auditArchARM     = 0x40000028 // EM_ARM (40), little-endian
)

// String is the name written in an event's "arch" (audit's and uname's
// spelling).
func (a Arch) String() string {
	switch a {
	case ArchX86_64:
		return "x86_64"
	case ArchI386:
		return "i386"
	case ArchARM64:
		return "aarch64"
	case ArchARM:
		return "arm"
	}
	return "unknown"
}

// ArchByName is the Arch whose String is name.
func ArchByName(name string) (Arch, bool) {
	for a := ArchX86_64; a < archCount; a++ {
		if a.String() == name {
			return a, true
		}
	}
	return ArchUnknown, false
}

// AuditArch is the AUDIT_ARCH_* value audit reports for a.
func (a Arch) AuditArch() uint32 {
	switch a {
	case ArchX86_64:
		return auditArchX86_64
	case ArchI386:
		return auditArchI386
	case ArchARM64:
		return auditArchAARCH64
	case ArchARM:
		return auditArchARM
	}
	return 0
}

// ArchFromAudit maps an AUDIT_ARCH_* value to an Arch (ArchUnknown if it is
// none of ours).
func ArchFromAudit(v uint32) Arch {
	switch v {
	case auditArchX86_64:
		return ArchX86_64
	case auditArchI386:
		return ArchI386
	case auditArchAARCH64:
		return ArchARM64
	case auditArchARM:
		return ArchARM
	}
	return ArchUnknown
}

// AuditRuleArch is the value of "-F arch=" in an audit rule for a: "b64" or
// "b32" ("" for ArchUnknown).
func (a Arch) AuditRuleArch() string {
	switch a {
	case ArchX86_64, ArchARM64:
		return "b64"
	case ArchI386, ArchARM:
		return "b32"
	}
	return ""
}

// wordBits is the width of a register (long, pointer, size_t) in a.
func (a Arch) wordBits() int {
	if a == ArchI386 || a == ArchARM {
		return 32
	}
	return 64
}

// NativeArch is the kernel's native ABI, taken as the one auperf itself is
// built for: the arch that perf's syscall tracepoints report and that
// audit's b64 rules name. (An i386 auperf on an x86_64 kernel is not a
// supported build.)
func NativeArch() Arch {
	switch runtime.GOARCH {
	case "amd64":
		return ArchX86_64
	case "arm64":
		return ArchARM64
	}
	return ArchUnknown
}

// ArchCount bounds the Arch values: tables indexed by Arch have this many
// entries.
const ArchCount = int(archCount)

// CompatArch is the 32-bit ABI a kernel of native arch a also runs
// (ia32 on x86_64, arm EABI on arm64), which syscall tracepoints never
// report and audit's b32 rules see.
func CompatArch(a Arch) (Arch, bool) {
	switch a {
	case ArchX86_64:
		return ArchI386, true
	case ArchARM64:
		return ArchARM, true
	}
	return ArchUnknown, false
}

// IsCompat reports whether a is the 32-bit ABI of another arch.
func (a Arch) IsCompat() bool { return a == ArchI386 || a == ArchARM }
