//go:build !amd64

package workload

func int80(nr, a1, a2, a3, a4, a5, a6 uint32) uint64 { panic("int $0x80 needs amd64") }

// HaveInt80 reports whether this build can issue i386 syscalls.
const HaveInt80 = false
