package decode

import "strings"

// AuditKey is the key every audit rule of auperf carries, so that auperf
// deletes only its own rules.
const AuditKey = "auperf"

// CatalogEntry describes one event for `auperf events`: its arguments, the
// perf tracepoints that report it and the audit rules that capture it.
type CatalogEntry struct {
	Name, Description string
	Args              []ArgSpec
	Tracepoints       []string
	AuditRules        []string
}

// genericDescription is the description of a syscall auperf has no spec
// for.
const genericDescription = "decoded generically: raw argument words, names from the tracepoint format"

// compatAliases lists, for an event, the 32-bit syscalls that do its work
// under other names: 32-bit libcs map memory with mmap2 (i386's syscall 90
// "mmap" is the old one-struct-pointer form; arm's EABI has no mmap).
var compatAliases = map[string][]string{
	"mmap": {"mmap", "mmap2"},
}

// CompatNames returns the syscall names of the 32-bit ABI compat that
// auperf's audit b32 rules use for event (i386: mmap -> mmap, mmap2; arm:
// mmap -> mmap2), or nil if compat has none.
func CompatNames(compat Arch, event string) []string {
	cands := []string{event}
	if names, ok := compatAliases[event]; ok {
		cands = names
	}
	var out []string
	for _, n := range cands {
		if _, ok := SyscallNumber(compat, n); ok {
			out = append(out, n)
		}
	}
	return out
}

// I386Names is CompatNames of i386.
func I386Names(event string) []string { return CompatNames(ArchI386, event) }

// Catalog describes the named events (DefaultEvents if names is nil), in
// the order given, for this machine's arch (NativeArch): its tracepoints
// and audit rules, and the b32 rules of its 32-bit (compat) callers. A name no table knows still gets an entry, with no
// tracepoints and no rules; callers validate names with SyscallNumber.
func Catalog(names []string) []CatalogEntry {
	if names == nil {
		names = DefaultEvents
	}
	out := make([]CatalogEntry, 0, len(names))
	for _, name := range names {
		e := CatalogEntry{Name: name, Description: genericDescription}
		if s, ok := Spec(name); ok {
			e.Description = s.Description
			e.Args = s.Args
		}
		native := NativeArch()
		if _, ok := SyscallNumber(native, name); ok {
			if tp := TracepointName(native, name); tp != "" {
				e.Tracepoints = []string{"syscalls:sys_enter_" + tp, "syscalls:sys_exit_" + tp}
			}
			e.AuditRules = append(e.AuditRules, AuditRule(native, []string{name}))
		}
		if compat, ok := CompatArch(native); ok {
			if names := CompatNames(compat, name); names != nil {
				e.AuditRules = append(e.AuditRules, AuditRule(compat, names))
			}
		}
		out = append(out, e)
	}
	return out
}

// AuditRule is the auditctl rule that captures the named syscalls of arch
// a, with auperf's key.
func AuditRule(a Arch, names []string) string {
	return "-a always,exit -F arch=" + a.AuditRuleArch() + " -S " + strings.Join(names, ",") + " -k " + AuditKey
}

// TracepointName returns the name tracefs gives syscall name of arch a
// (syscalls/sys_enter_<it>, sys_exit_<it>): the name of its SYSCALL_DEFINE,
// which is the table name for most, but not all (x86_64's stat is
// "newstat", umount2 is "umount"); "" for a syscall the kernel does not
// implement (no entry point). Only native syscalls have tracepoints, so for
// arches other than x86_64 it returns name unchanged.
func TracepointName(a Arch, name string) string {
	if a == ArchX86_64 {
		if tp, ok := tracefsX86_64[name]; ok {
			return tp
		}
	}
	return name
}
