package workload

import (
	"io"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/decode"
)

// Syscall identities the engine issues. i386 numbers are from the kernel's
// arch/x86/entry/syscalls/syscall_32.tbl (not from x/sys/unix, whose
// constants follow the build's GOARCH).
const (
	nrI386Munmap   = 91
	nrI386Mprotect = 125
	nrI386Msync    = 144
	nrI386Mmap2    = 192
)

type sysID uint8

const (
	idMmap sysID = iota
	idMunmap
	idMprotect
	idPkeyMprotect
	idMsync
	idMremap
	idMlock
	idMlock2
	idMunlock
	idMlockall
	idMunlockall
	idMadvise
	idMincore
	idRemapFilePages
	idI386Msync
	idI386Mmap2
	idI386Mprotect
	idI386Munmap
	numIDs
)

// native is the arch of the workload's own syscalls, as events name it
// ("x86_64", "aarch64"): unix.SYS_* follow the build's GOARCH.
var native = decode.NativeArch().String()

var sysTable = [numIDs]struct {
	arch  string
	nr    int
	name  string
	nargs int
}{
	idMmap:           {native, unix.SYS_MMAP, "mmap", 6},
	idMunmap:         {native, unix.SYS_MUNMAP, "munmap", 2},
	idMprotect:       {native, unix.SYS_MPROTECT, "mprotect", 3},
	idPkeyMprotect:   {native, unix.SYS_PKEY_MPROTECT, "pkey_mprotect", 4},
	idMsync:          {native, unix.SYS_MSYNC, "msync", 3},
	idMremap:         {native, unix.SYS_MREMAP, "mremap", 5},
	idMlock:          {native, unix.SYS_MLOCK, "mlock", 2},
	idMlock2:         {native, unix.SYS_MLOCK2, "mlock2", 3},
	idMunlock:        {native, unix.SYS_MUNLOCK, "munlock", 2},
	idMlockall:       {native, unix.SYS_MLOCKALL, "mlockall", 1},
	idMunlockall:     {native, unix.SYS_MUNLOCKALL, "munlockall", 0},
	idMadvise:        {native, unix.SYS_MADVISE, "madvise", 3},
	idMincore:        {native, unix.SYS_MINCORE, "mincore", 3},
	idRemapFilePages: {native, unix.SYS_REMAP_FILE_PAGES, "remap_file_pages", 5},
	idI386Msync:      {"i386", nrI386Msync, "msync", 3},
	idI386Mmap2:      {"i386", nrI386Mmap2, "mmap2", 6},
	idI386Mprotect:   {"i386", nrI386Mprotect, "mprotect", 3},
	idI386Munmap:     {"i386", nrI386Munmap, "munmap", 2},
}

// sink serialises whole truth lines from several threads into one writer.
type sink struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (s *sink) write(b []byte) {
	s.mu.Lock()
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
	s.mu.Unlock()
}

// thread is one workload thread: a goroutine locked to its OS thread.
type thread struct {
	idx      int
	pid, tid int
	comm     string
	exe      string
	round    int
	cpus     []unix.CPUSet // one single-CPU set per allowed CPU
	cpuIDs   []int
	migrate  bool
	k        int // calls so far, drives the round-robin migration
	truth    bool
	buf      []byte
	flushAt  int
	out      *sink
	counts   [numIDs]uint64
	failed   uint64
	unexpect uint64
	problems []string // unexpected results, for the exit report
	maxProb  int
	vec      [64]byte // mincore's output, allocated before the start
}

// pin moves the thread to the next allowed CPU and returns it, or -1.
func (th *thread) pin() int {
	if !th.migrate || len(th.cpus) == 0 {
		return -1
	}
	i := (th.idx + th.k) % len(th.cpus)
	th.k++
	if err := unix.SchedSetaffinity(0, &th.cpus[i]); err != nil {
		return -1
	}
	return th.cpuIDs[i]
}

// call issues one 64-bit syscall and records it. expect is the errno the
// step must fail with (0: must succeed).
func (th *thread) call(id sysID, label string, expect syscall.Errno, a0, a1, a2, a3, a4, a5 uint64) int64 {
	cpu := th.pin()
	ts := time.Now().UnixNano()
	nr := uintptr(sysTable[id].nr)
	r1, _, e := unix.RawSyscall6(nr, uintptr(a0), uintptr(a1), uintptr(a2), uintptr(a3), uintptr(a4), uintptr(a5))
	ret := int64(r1)
	if e != 0 {
		ret = -int64(e)
	}
	th.record(id, label, expect, ts, cpu, ret, [6]uint64{a0, a1, a2, a3, a4, a5})
	return ret
}

// call32 issues one i386 syscall through int $0x80 and records it.
func (th *thread) call32(id sysID, label string, expect syscall.Errno, a0, a1, a2, a3, a4, a5 uint32) int64 {
	cpu := th.pin()
	ts := time.Now().UnixNano()
	ax := uint32(int80(uint32(sysTable[id].nr), a0, a1, a2, a3, a4, a5))
	// A 32-bit return is an error when it is in [-4095, -1]; otherwise it
	// is a value (mmap2 may return addresses above 2 GiB): zero-extend.
	ret := int64(ax)
	if int32(ax) < 0 && int32(ax) >= -4095 {
		ret = int64(int32(ax))
	}
	th.record(id, label, expect, ts, cpu, ret, [6]uint64{uint64(a0), uint64(a1), uint64(a2), uint64(a3), uint64(a4), uint64(a5)})
	return ret
}

// kernelMay are the other results a step may have on a kernel built
// without something it uses: the truth follows what the kernel offers.
// pkey_mprotect is ENOSYS without protection keys (CONFIG_ARCH_HAS_PKEYS,
// x86's CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS), MADV_WILLNEED on
// anonymous memory EBADF without CONFIG_SWAP (as on small custom kernels).
//
// Per arch: on arm64 PROT_BTI is 0x10, so the mprotect with that "unknown"
// bit succeeds where a BTI-capable CPU (or QEMU's -cpu max) runs it.
var kernelMay = map[string][]syscall.Errno{
	"pkey_mprotect":         {syscall.ENOSYS},
	"madvise_willneed":      {syscall.EBADF},
	"mprotect_unknown_bits": protUnknownMay(),
}

// protUnknownMay is what mprotect with 0x10 may also return on this arch.
func protUnknownMay() []syscall.Errno {
	if native == "aarch64" {
		return []syscall.Errno{0}
	}
	return nil
}

func (th *thread) record(id sysID, label string, expect syscall.Errno, ts int64, cpu int, ret int64, args [6]uint64) {
	th.counts[id]++
	var errno syscall.Errno
	if ret < 0 && ret >= -4095 {
		errno = syscall.Errno(-ret)
		th.failed++
	}
	if errno != expect && !slices.Contains(kernelMay[label], errno) {
		th.unexpect++
		if len(th.problems) < th.maxProb {
			th.problems = append(th.problems, label)
		}
	}
	if !th.truth {
		return
	}
	s := &sysTable[id]
	c := Call{
		PID: th.pid, TID: th.tid, Comm: th.comm, Exe: th.exe,
		Arch: s.arch, Nr: s.nr, Name: s.name, Args: args, NArgs: s.nargs,
		Ret: ret, TS: ts, CPU: cpu, Thread: th.idx, Round: th.round, Label: label,
	}
	if errno != 0 {
		c.Errno = unix.ErrnoName(errno)
	}
	if expect != 0 {
		c.Expect = unix.ErrnoName(expect)
	}
	th.buf = appendCall(th.buf, &c)
	if len(th.buf) >= th.flushAt {
		th.flush()
	}
}

func (th *thread) flush() {
	if len(th.buf) > 0 {
		th.out.write(th.buf)
		th.buf = th.buf[:0]
	}
}
