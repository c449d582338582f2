// Package decode turns what a source knows of one syscall (arch, number, up
// to six raw argument words with a mask of which are known, return value)
// into the syscall part of an event.Event: names from the kernel's syscall
// tables per arch, argument names and C types from per-syscall specs,
// truncation and sign extension by C type, and symbolic renderings of flag
// and enum arguments (PROT_READ|PROT_WRITE, MADV_DONTNEED, ENOMEM) with
// strace's names and order.
//
// It is pure: no I/O, no global state that changes after init. The kernel
// ABI constants are declared here per arch, each table citing its header,
// rather than taken from x/sys/unix, whose values follow the build's GOARCH
// while a traced process (seen by audit) may be of another arch.
//
// Decode does not allocate for syscalls that have a spec; decoders append to
// a caller's buffer, so encoding does not allocate either.
package decode
