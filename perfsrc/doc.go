// Package perfsrc is auperf's primary source: the kernel's syscall
// tracepoints (syscalls:sys_enter_<name> / sys_exit_<name>, kernels built
// with CONFIG_FTRACE_SYSCALLS) read through perf_event_open, without eBPF.
//
// How it reads:
//
//   - tracefs is found at /sys/kernel/tracing, /sys/kernel/debug/tracing or
//     wherever /proc/mounts says, and mounted when absent and permitted.
//     Every path comes from Paths, so tests and the selector use fixture
//     roots.
//   - Records are decoded with the tracepoint's format file (ParseFormat:
//     offsets and sizes, "__syscall_nr" or the older "nr", whatever common
//     fields the kernel has), not with hard-coded offsets.
//   - Per online CPU: one side-band dummy event (COMM with exec, FORK, EXIT,
//     executable MMAP) owns the CPU's ring; every tracepoint event of that
//     CPU writes into it (PERF_EVENT_IOC_SET_OUTPUT), so there is one ring
//     per CPU, demultiplexed by common_type. One goroutine polls all rings,
//     woken by watermark (a quarter of the ring) or every PollInterval, and
//     parses records in place (no allocation per record).
//   - Rings are ordered per CPU only: each round reads every ring, then
//     handles, in time order across CPUs, the records stamped no later than
//     the newest record of the previous round (anything stamped before that
//     was in its ring when this round read it). So an exit read before its
//     enter (the thread moved to another CPU) still pairs, and side-band
//     records take effect exactly between the syscalls around them.
//   - Enter and exit pair on the thread id; a syscall still running at stop
//     is reported without a return value, an exit whose enter predates the
//     start with its arguments null: honest, not guessed. In a VM a vCPU may
//     stall between stamping a record and committing it, so that it reaches
//     us after the round that should have ordered it: an exit without enter
//     (and an enter replaced by the thread's next one) waits two rounds and
//     100ms for its late partner before it is reported alone.
//   - Timestamps are wall clock: the tracepoints' clock is CLOCK_REALTIME
//     where the kernel accepts it for tracepoints (6.x does not: it is not
//     NMI-safe), else CLOCK_MONOTONIC plus the realtime offset (followed
//     across clock steps), else (before 4.1) perf's own clock calibrated by
//     a COMM record of our own every 10 seconds.
//   - A process table, seeded from /proc and kept current by the side-band
//     records in time order, names processes that live a few milliseconds
//     (processName, executable.path, parentProcessId, userId). A process
//     leaves it (and the `-- COMMAND` tree) when its last thread exits,
//     not its leader: other threads may outlive the leader. After a ring
//     loss (whose EXIT records may be among the lost), what /proc says is
//     gone leaves the table, and the running calls of gone threads are
//     reported without a return value, so neither table grows on a long
//     run.
//   - Our own process is excluded in the kernel (a tracepoint filter on the
//     thread ids we have at attach) and in user space (the Go runtime's
//     later threads map and advise memory too).
//   - Older kernels (Compat): before 3.12 there is no dummy event and the
//     first tracepoint event of each CPU carries the side-band; before 3.16
//     COMM records have no exec flag and a leader's COMM is taken as a
//     possible exec; before 4.1 there is no use_clockid (above). Before
//     3.12 PERF_EVENT_IOC_ID, which go-perf's Open calls, fails: the source
//     fails to attach with that error and the selector falls back to audit.
//   - PERF_RECORD_LOST is counted per CPU and delivered in-stream
//     (auperf_lost, in tracepoint records: an enter or an exit each).
//
// CPU hotplug: a CPU brought online after attach is attached within a
// second (Run looks at the online list that often); its calls before that
// are missed, not reported lost.
//
// What it does not do: 32-bit (ia32) syscalls of an x86_64 kernel do not
// reach syscalls:* tracepoints (the audit source sees them); user filters
// other than the process tree of `-- COMMAND` are applied by the pipeline
// (filter.Spec), since tracepoint filters see thread ids and thread names,
// not processes.
package perfsrc
