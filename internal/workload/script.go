package workload

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Distinctive lengths, so that a test can tell the workload's calls from
// the Go runtime's (which uses other sizes) at a glance.
const (
	lenAnon     = 0x5000 // the private anonymous mapping
	lenFile     = 0x3000 // the shared file mapping
	offFile     = 0x2000 // its file offset (non-zero on purpose)
	lenPreRemap = 0x4000 // the anonymous mapping that mremap grows
	lenRemap    = 0x7000 // to this
	fileSize    = 0x10000
	badFD       = 12345              // never open in the workload
	hugeLen     = 0x7000000000000000 // beyond any TASK_SIZE: ENOMEM
	badAdvice   = 12345              // no such MADV_*: EINVAL
	pageSize    = 0x1000

	// once: msync of an address below mmap_min_addr: never mapped, ENOMEM.
	onceAddr = 0x5000
	onceLen  = 0x3000
)

const (
	mapShared  = unix.MAP_SHARED
	mapPrivAno = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	protRW     = unix.PROT_READ | unix.PROT_WRITE
	mapI32bit  = 0x40 // MAP_32BIT, x86 only: a mapping in the low 2 GiB
	noFD       = ^uint64(0)
	noPkey     = ^uint64(0) // pkey -1: keep the key, change only prot
)

// scriptRound issues every call of the memory family once, with known
// results. fd is a file of at least fileSize bytes open read-write.
func (th *thread) scriptRound(fd int) {
	f := uint64(fd)
	A := uint64(th.call(idMmap, "mmap_anon", 0, 0, lenAnon, protRW, mapPrivAno, noFD, 0))
	F := uint64(th.call(idMmap, "mmap_file_shared", 0, 0, lenFile, protRW, mapShared, f, offFile))
	th.call(idMmap, "mmap_ebadf", unix.EBADF, 0, pageSize, unix.PROT_READ, mapShared, badFD, 0)
	th.call(idMmap, "mmap_enomem", unix.ENOMEM, 0, hugeLen, unix.PROT_READ, mapPrivAno, noFD, 0)

	th.call(idMsync, "msync_sync", 0, F, lenFile, unix.MS_SYNC, 0, 0, 0)
	th.call(idMsync, "msync_async_invalidate", 0, F+pageSize, pageSize, unix.MS_ASYNC|unix.MS_INVALIDATE, 0, 0, 0)
	th.call(idMsync, "msync_bad_flags", unix.EINVAL, F, lenFile, 0xffffffff, 0, 0, 0)
	th.call(idMsync, "msync_unaligned", unix.EINVAL, F+1, pageSize, unix.MS_SYNC, 0, 0, 0)
	th.call(idMsync, "msync_unmapped", unix.ENOMEM, onceAddr, onceLen, unix.MS_ASYNC, 0, 0, 0)

	th.call(idMprotect, "mprotect_read", 0, A, pageSize, unix.PROT_READ, 0, 0, 0)
	th.call(idMprotect, "mprotect_none", 0, A+pageSize, pageSize, unix.PROT_NONE, 0, 0, 0)
	th.call(idMprotect, "mprotect_unknown_bits", unix.EINVAL, A, pageSize, protRW|0x10, 0, 0, 0)
	th.call(idPkeyMprotect, "pkey_mprotect", 0, A+2*pageSize, pageSize, unix.PROT_READ|unix.PROT_EXEC, noPkey, 0, 0)

	th.call(idMlock, "mlock", 0, A+2*pageSize, 2*pageSize, 0, 0, 0, 0)
	th.call(idMunlock, "munlock", 0, A+2*pageSize, 2*pageSize, 0, 0, 0, 0)
	th.call(idMlock2, "mlock2_onfault", 0, A+3*pageSize, 2*pageSize, unix.MLOCK_ONFAULT, 0, 0, 0)
	th.call(idMlock2, "mlock2_bad_flags", unix.EINVAL, A+3*pageSize, pageSize, 0x10, 0, 0, 0)
	th.call(idMunlock, "munlock_onfault", 0, A+3*pageSize, 2*pageSize, 0, 0, 0, 0)

	th.call(idMprotect, "mprotect_restore", 0, A, lenAnon, protRW, 0, 0, 0)

	// mremap needs its range inside one vma. A was split by the calls
	// above, and whether the kernel merges it back depends on its
	// neighbours (other threads' mappings), so mremap a mapping that
	// nothing has split.
	R := uint64(th.call(idMmap, "mmap_anon_remap", 0, 0, lenPreRemap, protRW, mapPrivAno, noFD, 0))
	B := uint64(th.call(idMremap, "mremap_maymove", 0, R, lenPreRemap, lenRemap, unix.MREMAP_MAYMOVE, 0, 0))

	th.call(idMadvise, "madvise_dontneed", 0, B, lenRemap, unix.MADV_DONTNEED, 0, 0, 0)
	th.call(idMadvise, "madvise_willneed", 0, B, 2*pageSize, unix.MADV_WILLNEED, 0, 0, 0)
	th.call(idMadvise, "madvise_sequential", 0, B+2*pageSize, 2*pageSize, unix.MADV_SEQUENTIAL, 0, 0, 0)
	th.call(idMadvise, "madvise_random", 0, B+4*pageSize, pageSize, unix.MADV_RANDOM, 0, 0, 0)
	th.call(idMadvise, "madvise_normal", 0, B, lenRemap, unix.MADV_NORMAL, 0, 0, 0)
	th.call(idMadvise, "madvise_free", 0, B, pageSize, unix.MADV_FREE, 0, 0, 0)
	th.call(idMadvise, "madvise_bad_advice", unix.EINVAL, B, pageSize, badAdvice, 0, 0, 0)

	vec := uint64(uintptr(unsafe.Pointer(&th.vec[0])))
	th.call(idMincore, "mincore", 0, B, 3*pageSize, vec, 0, 0, 0)

	// Deprecated, emulated since Linux 4.0 by a fixed mmap of the file:
	// maps file page 1 at F (the mapping started at file page 2).
	th.call(idRemapFilePages, "remap_file_pages", 0, F, pageSize, 0, 1, 0, 0)

	th.call(idMunmap, "munmap_file", 0, F, lenFile, 0, 0, 0, 0)
	th.call(idMunmap, "munmap_unaligned", unix.EINVAL, B+1, pageSize, 0, 0, 0, 0)
	th.call(idMunmap, "munmap_remapped", 0, B, lenRemap, 0, 0, 0, 0)
	th.call(idMunmap, "munmap_anon", 0, A, lenAnon, 0, 0, 0, 0)
}

// processRound issues the calls that act on the whole process (mlockall);
// it runs on one thread after the others have finished.
func (th *thread) processRound() {
	// MCL_FUTURE without MCL_CURRENT succeeds unprivileged (no limit
	// check); MCL_ONFAULT keeps it from populating anything.
	th.call(idMlockall, "mlockall_future_onfault", 0, unix.MCL_FUTURE|unix.MCL_ONFAULT, 0, 0, 0, 0, 0)
	th.call(idMunlockall, "munlockall", 0, 0, 0, 0, 0, 0, 0)
	th.call(idMlockall, "mlockall_bad_flags", unix.EINVAL, 0x10, 0, 0, 0, 0, 0)
}

// int80Round issues i386 syscalls through int $0x80 on memory below 4 GiB.
func (th *thread) int80Round(fd int) {
	L := uint64(th.call(idMmap, "mmap_32bit", 0, 0, lenFile, protRW, mapPrivAno|mapI32bit, noFD, 0))
	l := uint32(L)
	th.call32(idI386Msync, "i386_msync", 0, l, lenFile, unix.MS_ASYNC, 0, 0, 0)
	th.call32(idI386Msync, "i386_msync_bad_flags", unix.EINVAL, l, pageSize, 0xffffffff, 0, 0, 0)
	th.call32(idI386Mprotect, "i386_mprotect", 0, l, pageSize, unix.PROT_READ, 0, 0, 0)
	M := uint32(th.call32(idI386Mmap2, "i386_mmap2_anon", 0, 0, 2*pageSize, protRW, mapPrivAno, 0xffffffff, 0))
	// mmap2's offset is in 4096-byte units: 2 means byte offset 0x2000.
	N := uint32(th.call32(idI386Mmap2, "i386_mmap2_file", 0, 0, pageSize, unix.PROT_READ, mapShared, uint32(fd), offFile/pageSize))
	th.call32(idI386Munmap, "i386_munmap_file", 0, N, pageSize, 0, 0, 0, 0)
	th.call32(idI386Munmap, "i386_munmap_anon", 0, M, 2*pageSize, 0, 0, 0, 0)
	th.call32(idI386Munmap, "i386_munmap_32bit", 0, l, lenFile, 0, 0, 0, 0)
}

// loopIter is one iteration of the benchmark loop on one shared file page:
// 6 syscalls.
func (th *thread) loopIter(fd int) {
	p := uint64(th.call(idMmap, "loop_mmap", 0, 0, pageSize, protRW, mapShared, uint64(fd), 0))
	th.call(idMprotect, "loop_mprotect", 0, p, pageSize, unix.PROT_READ, 0, 0, 0)
	th.call(idMsync, "loop_msync", 0, p, pageSize, unix.MS_SYNC, 0, 0, 0)
	th.call(idMlock2, "loop_mlock2", 0, p, pageSize, unix.MLOCK_ONFAULT, 0, 0, 0)
	th.call(idMunlock, "loop_munlock", 0, p, pageSize, 0, 0, 0, 0)
	th.call(idMunmap, "loop_munmap", 0, p, pageSize, 0, 0, 0, 0)
}

// onceCall is the single call of -once.
func (th *thread) onceCall() {
	th.call(idMsync, "once_msync", unix.ENOMEM, onceAddr, onceLen, unix.MS_ASYNC, 0, 0, 0)
}
