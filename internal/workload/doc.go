// Package workload is the test workload shared by auperf's kernel tests and
// its benchmark, and the helpers that let tests run it and read what it did.
//
// The workload (binary cmd/auperf-workload, engine here) issues memory
// syscalls itself, through raw syscall instructions (unix.Syscall6 and, for
// the 32-bit ABI, `int $0x80` from assembly), never through wrappers that
// might skip, merge or reorder calls. For every call it records the ground
// truth: who called (pid, tid, comm, exe), what (arch, number, name, the six
// raw argument words, how many the syscall takes), when (wall-clock ns taken
// just before the call, and the CPU the thread was pinned to) and what came
// back (the raw kernel return, the errno name). Tests compare a tracer's
// output with that truth; they must not guess.
//
// # Modes
//
// Script (default): every call of the memory family with distinctive
// arguments, including calls that fail with a known errno, from several
// threads (each an OS thread of its own that moves to the next allowed CPU
// before every call), for a number of rounds; with -int80 also msync, mmap2,
// mprotect and munmap through the i386 ABI. Loop (-loop N): the benchmark's
// mmap+mprotect+msync+mlock2+munlock+munmap of one shared file page, N
// iterations per thread, writing a summary (and the truth only if asked).
// Once (-once): one msync and exit, for short-lived process tests;
// -exec-short NAME runs a copy of the binary named NAME in that mode.
//
// # Noise
//
// The workload's Go runtime maps, unmaps and advises memory too (heap
// growth, stacks, the scavenger). The engine keeps it quiet (GC off,
// buffers sized before the start) but cannot silence it: tests must match
// truth to captured events by (tid, arch, nr, args, ret), not by position or
// count of everything the process did.
//
// This package does not trace anything; it is what is traced.
package workload
