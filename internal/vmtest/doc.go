// Package vmtest runs auperf on real kernels other than the host's: Debian's
// stock kernels (5.10, 6.1, 6.12), booted under QEMU with software
// emulation, each with a small initramfs holding busybox, auperf, the
// workload and this package's guest checker.
//
// The host side fetches the kernels through a private apt configuration
// (Debian's archive; nothing is installed, the host's apt state is not
// touched), caches them under ~/.cache/auperf/vmtest, builds the
// initramfs, boots each kernel (`-accel tcg,thread=single -smp 2`:
// multi-threaded TCG with several vCPUs hangs guests once perf
// tracepoints are on) and reads the results from the serial console. It
// never touches the host's audit state or mounts.
//
// The guest side (auperf-vmtest guest-check) runs inside each guest after
// `auperf probe` and `auperf run` with each source: it compares every
// event with the workload's truth exactly, as the host's kernel tests do
// (workload.Match), checks that run did what probe planned (the source of
// each event, or a refusal where probe said the source cannot work), and
// prints one result line per run for the host's table.
//
// Stock kernels have virtio and 9p as modules; the results come back over
// the serial console instead, so the initramfs needs no module at all.
package vmtest
