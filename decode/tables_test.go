package decode

import (
	"strconv"
	"strings"
	"testing"
)

// The expected tables below are written from the kernel headers each
// table cites (and strace's xlat order), not derived from the tables under
// test.

type nv struct {
	name  string
	value uint64
}

func checkFlags(t *testing.T, what string, fs *FlagSet, want []nv) {
	t.Helper()
	if len(fs.Flags) != len(want) {
		t.Errorf("%s: %d flags, want %d", what, len(fs.Flags), len(want))
	}
	for i, w := range want {
		if i < len(fs.Flags) && (fs.Flags[i].Name != w.name || fs.Flags[i].Value != w.value) {
			t.Errorf("%s[%d] = %s=%#x, want %s=%#x", what, i, fs.Flags[i].Name, fs.Flags[i].Value, w.name, w.value)
		}
		if got := decodeStr(fs, w.value); got != w.name {
			t.Errorf("%s: decode(%#x) = %q, want %q", what, w.value, got, w.name)
		}
	}
}

func checkValues(t *testing.T, what string, vs *ValueSet, want []nv) {
	t.Helper()
	if len(vs.Values) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(vs.Values), len(want))
	}
	for i, w := range want {
		if i < len(vs.Values) && (vs.Values[i].Name != w.name || vs.Values[i].Value != w.value) {
			t.Errorf("%s[%d] = %s=%d, want %s=%d", what, i, vs.Values[i].Name, vs.Values[i].Value, w.name, w.value)
		}
		if got := decodeStr(vs, w.value); got != w.name {
			t.Errorf("%s: decode(%d) = %q, want %q", what, w.value, got, w.name)
		}
	}
}

type appender interface {
	AppendDecoded([]byte, uint64) []byte
}

func decodeStr(d appender, v uint64) string { return string(d.AppendDecoded(nil, v)) }

// include/uapi/asm-generic/mman-common.h
var wantProt = []nv{
	{"PROT_READ", 0x1}, {"PROT_WRITE", 0x2}, {"PROT_EXEC", 0x4}, {"PROT_SEM", 0x8},
	{"PROT_GROWSDOWN", 0x01000000}, {"PROT_GROWSUP", 0x02000000},
}

func TestProtTable(t *testing.T) {
	checkFlags(t, "prot x86", ProtX86, wantProt)
	// arch/arm64/include/uapi/asm/mman.h
	checkFlags(t, "prot arm64", ProtARM64, append(append([]nv(nil), wantProt...), nv{"PROT_BTI", 0x10}, nv{"PROT_MTE", 0x20}))
	for _, c := range []struct {
		v    uint64
		want string
	}{
		{0, "PROT_NONE"},
		{3, "PROT_READ|PROT_WRITE"},
		{7, "PROT_READ|PROT_WRITE|PROT_EXEC"},
		{0x10, "0x10"}, // arch-reserved on x86
		{0x11, "PROT_READ|0x10"},
		{0x01000001, "PROT_READ|PROT_GROWSDOWN"},
		// an int of -1, sign-extended to 64 bits: 32 bits are its value
		{0xffffffffffffffff, "PROT_READ|PROT_WRITE|PROT_EXEC|PROT_SEM|PROT_GROWSDOWN|PROT_GROWSUP|0xfcfffff0"},
		{0xffffffff00000000, "PROT_NONE"},
	} {
		if got := decodeStr(ProtX86, c.v); got != c.want {
			t.Errorf("prot(%#x) = %q, want %q", c.v, got, c.want)
		}
	}
	if got := decodeStr(ProtARM64, 0x31); got != "PROT_READ|PROT_BTI|PROT_MTE" {
		t.Errorf("arm64 prot(0x31) = %q", got)
	}
}

func TestMmapFlagsTable(t *testing.T) {
	// MAP_TYPE values: include/uapi/linux/mman.h (MAP_DROPPABLE since 6.11).
	checkValues(t, "map types", mapTypes, []nv{
		{"MAP_SHARED", 0x01}, {"MAP_PRIVATE", 0x02}, {"MAP_SHARED_VALIDATE", 0x03}, {"MAP_DROPPABLE", 0x08},
	})
	// Flags in strace's mmap_flags.in order; values from mman-common.h,
	// asm-generic/mman.h and arch/x86/include/uapi/asm/mman.h.
	x86 := []nv{
		{"MAP_FIXED", 0x10}, {"MAP_ANONYMOUS", 0x20}, {"MAP_32BIT", 0x40}, {"MAP_ABOVE4G", 0x80},
		{"MAP_NORESERVE", 0x4000}, {"MAP_POPULATE", 0x8000}, {"MAP_NONBLOCK", 0x10000},
		{"MAP_GROWSDOWN", 0x100}, {"MAP_DENYWRITE", 0x800}, {"MAP_EXECUTABLE", 0x1000},
		{"MAP_LOCKED", 0x2000}, {"MAP_STACK", 0x20000}, {"MAP_HUGETLB", 0x40000}, {"MAP_SYNC", 0x80000},
		{"MAP_UNINITIALIZED", 0x4000000}, {"MAP_FIXED_NOREPLACE", 0x100000},
	}
	checkFlags(t, "map flags x86", mapFlagsX86, x86)
	var generic []nv
	for _, f := range x86 {
		if f.name != "MAP_32BIT" && f.name != "MAP_ABOVE4G" {
			generic = append(generic, f)
		}
	}
	checkFlags(t, "map flags generic", mapFlagsGeneric, generic)
	checkValues(t, "huge sizes", hugeSizes, []nv{
		{"MAP_HUGE_16KB", 14}, {"MAP_HUGE_64KB", 16}, {"MAP_HUGE_512KB", 19}, {"MAP_HUGE_1MB", 20},
		{"MAP_HUGE_2MB", 21}, {"MAP_HUGE_8MB", 23}, {"MAP_HUGE_16MB", 24}, {"MAP_HUGE_32MB", 25},
		{"MAP_HUGE_256MB", 28}, {"MAP_HUGE_512MB", 29}, {"MAP_HUGE_1GB", 30}, {"MAP_HUGE_2GB", 31},
		{"MAP_HUGE_16GB", 34},
	})
}

func TestMmapFlagsDecode(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		want string
	}{
		{0x01, "MAP_SHARED"},
		{0x02, "MAP_PRIVATE"},
		{0x03, "MAP_SHARED_VALIDATE"},
		{0x08, "MAP_DROPPABLE"},
		{0x21, "MAP_SHARED|MAP_ANONYMOUS"},
		{0x22, "MAP_PRIVATE|MAP_ANONYMOUS"},
		{0x32, "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS"},
		{0x80003, "MAP_SHARED_VALIDATE|MAP_SYNC"},
		{0x100022, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE"},
		{0x20122, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN|MAP_STACK"},
		{0x42, "MAP_PRIVATE|MAP_32BIT"},
		// the MAP_TYPE field is a value: 0 and 4 are not mapping types
		{0x20, "0|MAP_ANONYMOUS"},
		{0x04, "0x4"},
		{0x0f, "0xf"},
		// MAP_HUGE_SHIFT (26) size field
		{0x22 | 0x40000 | 21<<26, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_2MB"},
		{0x22 | 0x40000 | 30<<26, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_1GB"},
		{0x22 | 0x40000 | 34<<26, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_16GB"},
		{0x22 | 0x40000 | 22<<26, "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|22<<MAP_HUGE_SHIFT"},
		// unknown bits
		{0x22 | 0x200, "MAP_PRIVATE|MAP_ANONYMOUS|0x200"},
		{0x02 | 0x400 | 0x200000, "MAP_PRIVATE|0x200400"},
		// int: only 32 bits count
		{0xffffffff00000022, "MAP_PRIVATE|MAP_ANONYMOUS"},
	} {
		if got := decodeStr(MmapFlagsX86, c.v); got != c.want {
			t.Errorf("mmap flags(%#x) = %q, want %q", c.v, got, c.want)
		}
	}
	if got := decodeStr(MmapFlagsARM64, 0x42); got != "MAP_PRIVATE|0x40" {
		t.Errorf("arm64 mmap flags(0x42) = %q, want MAP_PRIVATE|0x40 (no MAP_32BIT)", got)
	}
}

func TestMsyncMlockMremapTables(t *testing.T) {
	// include/uapi/asm-generic/mman-common.h; strace's mctl_sync.in order.
	checkFlags(t, "msync", MsyncFlags, []nv{{"MS_SYNC", 4}, {"MS_ASYNC", 1}, {"MS_INVALIDATE", 2}})
	checkFlags(t, "mlock2", MlockFlags, []nv{{"MLOCK_ONFAULT", 1}})
	// include/uapi/asm-generic/mman.h
	checkFlags(t, "mlockall", MlockallFlags, []nv{{"MCL_CURRENT", 1}, {"MCL_FUTURE", 2}, {"MCL_ONFAULT", 4}})
	// include/uapi/linux/mman.h
	checkFlags(t, "mremap", MremapFlags, []nv{{"MREMAP_MAYMOVE", 1}, {"MREMAP_FIXED", 2}, {"MREMAP_DONTUNMAP", 4}})

	for _, c := range []struct {
		d    appender
		v    uint64
		want string
	}{
		{MsyncFlags, 0, "0"},
		{MsyncFlags, 6, "MS_SYNC|MS_INVALIDATE"},
		{MsyncFlags, 3, "MS_ASYNC|MS_INVALIDATE"},
		{MsyncFlags, 7, "MS_SYNC|MS_ASYNC|MS_INVALIDATE"},
		{MsyncFlags, 0x14, "MS_SYNC|0x10"},
		{MsyncFlags, 0xffffffffffffffff, "MS_SYNC|MS_ASYNC|MS_INVALIDATE|0xfffffff8"},
		{MlockFlags, 0, "0"},
		{MlockFlags, 2, "0x2"},
		{MlockFlags, 3, "MLOCK_ONFAULT|0x2"},
		{MlockallFlags, 0, "0"},
		{MlockallFlags, 3, "MCL_CURRENT|MCL_FUTURE"},
		{MlockallFlags, 7, "MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT"},
		{MlockallFlags, 8, "0x8"},
		{MremapFlags, 0, "0"},
		{MremapFlags, 3, "MREMAP_MAYMOVE|MREMAP_FIXED"},
		{MremapFlags, 5, "MREMAP_MAYMOVE|MREMAP_DONTUNMAP"},
		{MremapFlags, 9, "MREMAP_MAYMOVE|0x8"},
	} {
		if got := decodeStr(c.d, c.v); got != c.want {
			t.Errorf("decode(%#x) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestMadviseTable(t *testing.T) {
	// include/uapi/asm-generic/mman-common.h (6.18)
	checkValues(t, "madvise", MadviseAdvice, []nv{
		{"MADV_NORMAL", 0}, {"MADV_RANDOM", 1}, {"MADV_SEQUENTIAL", 2}, {"MADV_WILLNEED", 3},
		{"MADV_DONTNEED", 4}, {"MADV_FREE", 8}, {"MADV_REMOVE", 9}, {"MADV_DONTFORK", 10},
		{"MADV_DOFORK", 11}, {"MADV_MERGEABLE", 12}, {"MADV_UNMERGEABLE", 13}, {"MADV_HUGEPAGE", 14},
		{"MADV_NOHUGEPAGE", 15}, {"MADV_DONTDUMP", 16}, {"MADV_DODUMP", 17}, {"MADV_WIPEONFORK", 18},
		{"MADV_KEEPONFORK", 19}, {"MADV_COLD", 20}, {"MADV_PAGEOUT", 21}, {"MADV_POPULATE_READ", 22},
		{"MADV_POPULATE_WRITE", 23}, {"MADV_DONTNEED_LOCKED", 24}, {"MADV_COLLAPSE", 25},
		{"MADV_HWPOISON", 100}, {"MADV_SOFT_OFFLINE", 101}, {"MADV_GUARD_INSTALL", 102},
		{"MADV_GUARD_REMOVE", 103},
	})
	for _, c := range []struct {
		v    uint64
		want string
	}{
		{0, "MADV_NORMAL"}, // a value: zero has a name
		{5, "0x5"},
		{26, "0x1a"},
		{0xffffffffffffffff, "0xffffffff"}, // int -1
		{0xffffffff00000004, "MADV_DONTNEED"},
	} {
		if got := decodeStr(MadviseAdvice, c.v); got != c.want {
			t.Errorf("madvise(%#x) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestErrnoNames(t *testing.T) {
	seen := map[int]bool{}
	for _, line := range strings.Split(strings.TrimSpace(errnoHeaderText), "\n") {
		f := strings.Fields(line)
		v, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatal(err)
		}
		seen[v] = true
		if got := ErrnoName(v); got != f[0] {
			t.Errorf("ErrnoName(%d) = %q, want %q", v, got, f[0])
		}
	}
	if len(seen) != 133-2+19 { // 1..133 less the unused 41 and 58, plus 19 kernel-internal
		t.Errorf("header list has %d errnos", len(seen))
	}
	for v := -1; v < 4100; v++ {
		if !seen[v] && ErrnoName(v) != "" {
			t.Errorf("ErrnoName(%d) = %q, want \"\"", v, ErrnoName(v))
		}
	}
	if ErrnoName(11) != "EAGAIN" || ErrnoName(35) != "EDEADLK" {
		t.Errorf("aliases: 11=%s 35=%s", ErrnoName(11), ErrnoName(35))
	}
}

func TestSyscallNumbers(t *testing.T) {
	for _, c := range []struct {
		a    Arch
		name string
		nr   int
	}{
		// arch/x86/entry/syscalls/syscall_64.tbl
		{ArchX86_64, "read", 0}, {ArchX86_64, "mmap", 9}, {ArchX86_64, "mprotect", 10},
		{ArchX86_64, "munmap", 11}, {ArchX86_64, "mremap", 25}, {ArchX86_64, "msync", 26},
		{ArchX86_64, "mincore", 27}, {ArchX86_64, "madvise", 28}, {ArchX86_64, "mlock", 149},
		{ArchX86_64, "munlock", 150}, {ArchX86_64, "mlockall", 151}, {ArchX86_64, "munlockall", 152},
		{ArchX86_64, "remap_file_pages", 216}, {ArchX86_64, "mlock2", 325},
		{ArchX86_64, "pkey_mprotect", 329}, {ArchX86_64, "rseq", 334}, {ArchX86_64, "uretprobe", 335},
		{ArchX86_64, "pidfd_send_signal", 424}, {ArchX86_64, "mseal", 462}, {ArchX86_64, "file_setattr", 469},
		// arch/x86/entry/syscalls/syscall_32.tbl
		{ArchI386, "restart_syscall", 0}, {ArchI386, "mmap", 90}, {ArchI386, "munmap", 91},
		{ArchI386, "mprotect", 125}, {ArchI386, "msync", 144}, {ArchI386, "mlock", 150},
		{ArchI386, "munlock", 151}, {ArchI386, "mlockall", 152}, {ArchI386, "munlockall", 153},
		{ArchI386, "mremap", 163}, {ArchI386, "mmap2", 192}, {ArchI386, "mincore", 218},
		{ArchI386, "madvise", 219}, {ArchI386, "remap_file_pages", 257}, {ArchI386, "mlock2", 376},
		{ArchI386, "pkey_mprotect", 380}, {ArchI386, "socketcall", 102}, {ArchI386, "semget", 393},
		{ArchI386, "open_tree", 428}, {ArchI386, "mseal", 462},
		// scripts/syscall.tbl (arm64)
		{ArchARM64, "io_setup", 0}, {ArchARM64, "renameat", 38}, {ArchARM64, "getrlimit", 163},
		{ArchARM64, "munmap", 215}, {ArchARM64, "mremap", 216}, {ArchARM64, "mmap", 222},
		{ArchARM64, "mprotect", 226}, {ArchARM64, "msync", 227}, {ArchARM64, "mlock", 228},
		{ArchARM64, "munlock", 229}, {ArchARM64, "mlockall", 230}, {ArchARM64, "munlockall", 231},
		{ArchARM64, "mincore", 232}, {ArchARM64, "madvise", 233}, {ArchARM64, "remap_file_pages", 234},
		{ArchARM64, "mlock2", 284}, {ArchARM64, "pkey_mprotect", 288}, {ArchARM64, "memfd_secret", 447},
	} {
		if nr, ok := SyscallNumber(c.a, c.name); !ok || nr != c.nr {
			t.Errorf("SyscallNumber(%v, %s) = %d, %v; want %d", c.a, c.name, nr, ok, c.nr)
		}
		if name, ok := SyscallName(c.a, c.nr); !ok || name != c.name {
			t.Errorf("SyscallName(%v, %d) = %q, %v; want %s", c.a, c.nr, name, ok, c.name)
		}
	}
	for _, c := range []struct {
		a  Arch
		nr int
	}{
		{ArchX86_64, 512}, {ArchX86_64, 547}, // x32, not x86_64
		{ArchX86_64, 400}, {ArchX86_64, -1}, {ArchX86_64, 1 << 20},
		{ArchI386, 222}, {ArchI386, 453}, {ArchI386, 387},
		{ArchARM64, 42}, {ArchARM64, 244}, {ArchARM64, 1024},
		{ArchUnknown, 0}, {Arch(200), 0},
	} {
		if name, ok := SyscallName(c.a, c.nr); ok {
			t.Errorf("SyscallName(%v, %d) = %q, want none", c.a, c.nr, name)
		}
	}
	for _, c := range []struct {
		a    Arch
		name string
	}{
		{ArchX86_64, "mmap2"}, {ArchX86_64, "socketcall"}, {ArchI386, "mmap3"},
		{ArchARM64, "open"}, {ArchARM64, "mmap2"}, {ArchUnknown, "read"},
	} {
		if nr, ok := SyscallNumber(c.a, c.name); ok {
			t.Errorf("SyscallNumber(%v, %s) = %d, want none", c.a, c.name, nr)
		}
	}
	if got, want := len(syscallNumbers[ArchX86_64]), 373; got < want {
		t.Errorf("x86_64 table has %d syscalls, want the whole table (>= %d)", got, want)
	}
	if got, want := len(syscallNumbers[ArchI386]), 450; got < want {
		t.Errorf("i386 table has %d syscalls, want the whole table (>= %d)", got, want)
	}
}

func TestTracepointName(t *testing.T) {
	for name, want := range map[string]string{
		"msync": "msync", "mmap": "mmap", "stat": "newstat", "umount2": "umount",
		"sendfile": "sendfile64", "tuxcall": "", "read": "read",
	} {
		if got := TracepointName(ArchX86_64, name); got != want {
			t.Errorf("TracepointName(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestArch(t *testing.T) {
	for _, c := range []struct {
		a        Arch
		s        string
		audit    uint32
		ruleArch string
	}{
		{ArchX86_64, "x86_64", 0xc000003e, "b64"},
		{ArchI386, "i386", 0x40000003, "b32"},
		{ArchARM64, "aarch64", 0xc00000b7, "b64"},
	} {
		if c.a.String() != c.s || c.a.AuditArch() != c.audit || c.a.AuditRuleArch() != c.ruleArch {
			t.Errorf("%v: %s %#x %s", c.a, c.a.String(), c.a.AuditArch(), c.a.AuditRuleArch())
		}
		if ArchFromAudit(c.audit) != c.a {
			t.Errorf("ArchFromAudit(%#x) = %v", c.audit, ArchFromAudit(c.audit))
		}
	}
	if ArchFromAudit(0x28) != ArchUnknown || ArchUnknown.AuditArch() != 0 || ArchUnknown.AuditRuleArch() != "" {
		t.Error("unknown arch")
	}
}
