package decode

// The memory family's flag and value tables: mmap, mprotect, msync, mlock,
// mlockall, mremap, madvise. Values are the kernel's UAPI; names and order
// are strace's (src/xlat/mmap_prot.in, mmap_flags.in, mctl_sync.in,
// mlock_flags.in, mlockall_flags.in, mremap_flags.in, madvise_cmds.in).
// x86_64 and i386 share arch/x86/include/uapi/asm/mman.h; arm64 uses
// arch/arm64/include/uapi/asm/mman.h, which adds to asm-generic.

// PROT_* from include/uapi/asm-generic/mman-common.h.
const (
	protNone      = 0x0
	protRead      = 0x1
	protWrite     = 0x2
	protExec      = 0x4
	protSem       = 0x8
	protGrowsdown = 0x01000000
	protGrowsup   = 0x02000000
)

// PROT_* of arch/arm64/include/uapi/asm/mman.h (the two bits
// mman-common.h reserves for arch use).
const (
	protBTIArm64 = 0x10
	protMTEArm64 = 0x20
)

var protFlagsGeneric = []Flag{
	{"PROT_READ", protRead},
	{"PROT_WRITE", protWrite},
	{"PROT_EXEC", protExec},
	{"PROT_SEM", protSem},
	{"PROT_GROWSDOWN", protGrowsdown},
	{"PROT_GROWSUP", protGrowsup},
}

// ProtX86 decodes a prot argument of x86_64 and i386 (mmap, mprotect,
// pkey_mprotect, remap_file_pages).
var ProtX86 = &FlagSet{Flags: protFlagsGeneric, Zero: "PROT_NONE", Bits: 32}

// ProtARM64 decodes a prot argument of arm64.
var ProtARM64 = &FlagSet{
	Flags: append(append([]Flag(nil), protFlagsGeneric...),
		Flag{"PROT_BTI", protBTIArm64},
		Flag{"PROT_MTE", protMTEArm64}),
	Zero: "PROT_NONE",
	Bits: 32,
}

// MAP_* mapping types (the MAP_TYPE bits, MAP_TYPE itself in
// include/uapi/asm-generic/mman-common.h) from include/uapi/linux/mman.h;
// MAP_DROPPABLE since 6.11.
const (
	mapType           = 0x0f
	mapShared         = 0x01
	mapPrivate        = 0x02
	mapSharedValidate = 0x03
	mapDroppable      = 0x08
)

// MAP_* flags from include/uapi/asm-generic/mman-common.h and
// include/uapi/asm-generic/mman.h (MAP_GROWSDOWN..MAP_NORESERVE), the same
// on x86 and arm64; MAP_32BIT and MAP_ABOVE4G only in
// arch/x86/include/uapi/asm/mman.h.
const (
	mapFixed          = 0x10
	mapAnonymous      = 0x20
	map32BitX86       = 0x40
	mapAbove4GX86     = 0x80
	mapGrowsdown      = 0x0100
	mapDenywrite      = 0x0800
	mapExecutable     = 0x1000
	mapLocked         = 0x2000
	mapNoreserve      = 0x4000
	mapPopulate       = 0x008000
	mapNonblock       = 0x010000
	mapStack          = 0x020000
	mapHugetlb        = 0x040000
	mapSync           = 0x080000
	mapFixedNoreplace = 0x100000
	mapUninitialized  = 0x4000000
)

// MAP_HUGE_SHIFT and MAP_HUGE_MASK from include/uapi/linux/mman.h
// (HUGETLB_FLAG_ENCODE_SHIFT/MASK of asm-generic/hugetlb_encode.h): bits
// 26..31 carry log2 of the huge page size.
const (
	mapHugeShift = 26
	mapHugeMask  = 0x3f
)

var mapTypes = &ValueSet{Values: []Value{
	{"MAP_SHARED", mapShared},
	{"MAP_PRIVATE", mapPrivate},
	{"MAP_SHARED_VALIDATE", mapSharedValidate},
	{"MAP_DROPPABLE", mapDroppable},
}}

// mapFlagsX86 is in strace's order (mmap_flags.in), less the entries that
// do not exist on x86 and MAP_FILE (zero).
var mapFlagsX86 = &FlagSet{Flags: []Flag{
	{"MAP_FIXED", mapFixed},
	{"MAP_ANONYMOUS", mapAnonymous},
	{"MAP_32BIT", map32BitX86},
	{"MAP_ABOVE4G", mapAbove4GX86},
	{"MAP_NORESERVE", mapNoreserve},
	{"MAP_POPULATE", mapPopulate},
	{"MAP_NONBLOCK", mapNonblock},
	{"MAP_GROWSDOWN", mapGrowsdown},
	{"MAP_DENYWRITE", mapDenywrite},
	{"MAP_EXECUTABLE", mapExecutable},
	{"MAP_LOCKED", mapLocked},
	{"MAP_STACK", mapStack},
	{"MAP_HUGETLB", mapHugetlb},
	{"MAP_SYNC", mapSync},
	{"MAP_UNINITIALIZED", mapUninitialized},
	{"MAP_FIXED_NOREPLACE", mapFixedNoreplace},
}, Bits: 32}

// mapFlagsGeneric is mapFlagsX86 without the x86-only bits (arm64).
var mapFlagsGeneric = &FlagSet{Flags: withoutFlags(mapFlagsX86.Flags, map32BitX86, mapAbove4GX86), Bits: 32}

// hugeSizes names the MAP_HUGE_* sizes include/uapi/linux/mman.h defines,
// by log2 of the page size.
var hugeSizes = &ValueSet{Values: []Value{
	{"MAP_HUGE_16KB", 14},
	{"MAP_HUGE_64KB", 16},
	{"MAP_HUGE_512KB", 19},
	{"MAP_HUGE_1MB", 20},
	{"MAP_HUGE_2MB", 21},
	{"MAP_HUGE_8MB", 23},
	{"MAP_HUGE_16MB", 24},
	{"MAP_HUGE_32MB", 25},
	{"MAP_HUGE_256MB", 28},
	{"MAP_HUGE_512MB", 29},
	{"MAP_HUGE_1GB", 30},
	{"MAP_HUGE_2GB", 31},
	{"MAP_HUGE_16GB", 34},
}}

// MmapFlags decodes mmap's flags: the MAP_TYPE bits as one value
// (MAP_SHARED, MAP_PRIVATE, ...), then the other flags in strace's order,
// then the huge page size field (MAP_HUGE_2MB, or "<n><<MAP_HUGE_SHIFT"
// for a size the header does not name), then unknown bits in hex.
type MmapFlags struct {
	Types *ValueSet
	Flags *FlagSet
}

// MmapFlagsX86 decodes mmap flags of x86_64 and i386.
var MmapFlagsX86 = &MmapFlags{Types: mapTypes, Flags: mapFlagsX86}

// MmapFlagsARM64 decodes mmap flags of arm64 (no MAP_32BIT, MAP_ABOVE4G).
var MmapFlagsARM64 = &MmapFlags{Types: mapTypes, Flags: mapFlagsGeneric}

// AppendDecoded implements event.Decoder.
func (m *MmapFlags) AppendDecoded(dst []byte, v uint64) []byte {
	v = truncate(v, 32)
	dst = m.Types.AppendDecoded(dst, v&mapType)
	v &^= mapType
	huge := v >> mapHugeShift & mapHugeMask
	v &^= mapHugeMask << mapHugeShift
	dst, rest, _ := m.Flags.appendNames(dst, v, true)
	if huge != 0 {
		dst = append(dst, '|')
		if name, ok := hugeSizes.lookup(huge); ok {
			dst = append(dst, name...)
		} else {
			dst = appendUint(dst, huge)
			dst = append(dst, "<<MAP_HUGE_SHIFT"...)
		}
	}
	if rest != 0 {
		dst = append(dst, '|')
		dst = appendHex(dst, rest)
	}
	return dst
}

// MS_* from include/uapi/asm-generic/mman-common.h, in strace's order
// (mctl_sync.in: MS_SYNC first).
const (
	msAsync      = 1
	msInvalidate = 2
	msSync       = 4
)

// MsyncFlags decodes msync's flags.
var MsyncFlags = &FlagSet{Flags: []Flag{
	{"MS_SYNC", msSync},
	{"MS_ASYNC", msAsync},
	{"MS_INVALIDATE", msInvalidate},
}, Bits: 32}

// MLOCK_ONFAULT from include/uapi/asm-generic/mman-common.h.
const mlockOnfault = 0x01

// MlockFlags decodes mlock2's flags.
var MlockFlags = &FlagSet{Flags: []Flag{{"MLOCK_ONFAULT", mlockOnfault}}, Bits: 32}

// MCL_* from include/uapi/asm-generic/mman.h (x86 and arm64 alike).
const (
	mclCurrent = 1
	mclFuture  = 2
	mclOnfault = 4
)

// MlockallFlags decodes mlockall's flags.
var MlockallFlags = &FlagSet{Flags: []Flag{
	{"MCL_CURRENT", mclCurrent},
	{"MCL_FUTURE", mclFuture},
	{"MCL_ONFAULT", mclOnfault},
}, Bits: 32}

// MREMAP_* from include/uapi/linux/mman.h.
const (
	mremapMaymove   = 1
	mremapFixed     = 2
	mremapDontunmap = 4
)

// MremapFlags decodes mremap's flags.
var MremapFlags = &FlagSet{Flags: []Flag{
	{"MREMAP_MAYMOVE", mremapMaymove},
	{"MREMAP_FIXED", mremapFixed},
	{"MREMAP_DONTUNMAP", mremapDontunmap},
}, Bits: 32}

// MADV_* from include/uapi/asm-generic/mman-common.h (x86 and arm64 alike;
// MADV_GUARD_INSTALL/REMOVE since 6.13).
const (
	madvNormal         = 0
	madvRandom         = 1
	madvSequential     = 2
	madvWillneed       = 3
	madvDontneed       = 4
	madvFree           = 8
	madvRemove         = 9
	madvDontfork       = 10
	madvDofork         = 11
	madvMergeable      = 12
	madvUnmergeable    = 13
	madvHugepage       = 14
	madvNohugepage     = 15
	madvDontdump       = 16
	madvDodump         = 17
	madvWipeonfork     = 18
	madvKeeponfork     = 19
	madvCold           = 20
	madvPageout        = 21
	madvPopulateRead   = 22
	madvPopulateWrite  = 23
	madvDontneedLocked = 24
	madvCollapse       = 25
	madvHwpoison       = 100
	madvSoftOffline    = 101
	madvGuardInstall   = 102
	madvGuardRemove    = 103
)

// MadviseAdvice decodes madvise's advice (a value, not bits).
var MadviseAdvice = &ValueSet{Values: []Value{
	{"MADV_NORMAL", madvNormal},
	{"MADV_RANDOM", madvRandom},
	{"MADV_SEQUENTIAL", madvSequential},
	{"MADV_WILLNEED", madvWillneed},
	{"MADV_DONTNEED", madvDontneed},
	{"MADV_FREE", madvFree},
	{"MADV_REMOVE", madvRemove},
	{"MADV_DONTFORK", madvDontfork},
	{"MADV_DOFORK", madvDofork},
	{"MADV_MERGEABLE", madvMergeable},
	{"MADV_UNMERGEABLE", madvUnmergeable},
	{"MADV_HUGEPAGE", madvHugepage},
	{"MADV_NOHUGEPAGE", madvNohugepage},
	{"MADV_DONTDUMP", madvDontdump},
	{"MADV_DODUMP", madvDodump},
	{"MADV_WIPEONFORK", madvWipeonfork},
	{"MADV_KEEPONFORK", madvKeeponfork},
	{"MADV_COLD", madvCold},
	{"MADV_PAGEOUT", madvPageout},
	{"MADV_POPULATE_READ", madvPopulateRead},
	{"MADV_POPULATE_WRITE", madvPopulateWrite},
	{"MADV_DONTNEED_LOCKED", madvDontneedLocked},
	{"MADV_COLLAPSE", madvCollapse},
	{"MADV_HWPOISON", madvHwpoison},
	{"MADV_SOFT_OFFLINE", madvSoftOffline},
	{"MADV_GUARD_INSTALL", madvGuardInstall},
	{"MADV_GUARD_REMOVE", madvGuardRemove},
}, Bits: 32}

func withoutFlags(fs []Flag, drop ...uint64) []Flag {
	var out []Flag
next:
	for _, f := range fs {
		for _, d := range drop {
			if f.Value == d {
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}
