package workload

// int80 issues an i386 syscall through `int $0x80`. The process must be
// able to (kernel with IA32 emulation); otherwise the instruction faults.
//
//go:noescape
func int80(nr, a1, a2, a3, a4, a5, a6 uint32) uint64

// HaveInt80 reports whether this build can issue i386 syscalls.
const HaveInt80 = true
