// Package auditsrc is auperf's audit source: it reads syscall events from
// the kernel audit subsystem over netlink (CONFIG_AUDITSYSCALL) and turns
// them into auperf events.
//
// It is the fallback for kernels whose syscall tracepoints are missing or
// whose perf_event_open is denied, and the only source that sees 32-bit
// (int 0x80 / ia32) syscalls on x86_64.
//
// What it does to the machine, and how it undoes it:
//
//   - Reading. When nobody owns the audit pid, Source becomes the audit
//     daemon (unicast). When auditd (or another daemon) owns it, Source
//     listens on the read-only multicast group next to it (kernel 3.16+,
//     CAP_AUDIT_READ) and never touches the pid.
//   - Rules. One "never" rule for auperf's own pid, then "always,exit" rules
//     for the selected syscalls, per arch (b64, and b32 where the kernel has
//     ia32 emulation), narrowed by the filters audit can express, all tagged
//     with Config.Key ("auperf"). Only rules carrying that key are ever
//     deleted; stale ones from a crashed run are removed at start.
//   - Status. enabled, pid, backlog_limit, backlog_wait_time and rate_limit
//     are read at start and restored on exit. Failure mode is never touched
//     and audit is never locked.
//   - Lean records. As the daemon, with no other audit reader, two keyless
//     exclude rules drop PROCTITLE and EOE records (see lean.go): recorded
//     in the state file, deleted on exit, when a reader appears, and by
//     the next start after a crash. Config.Lean = LeanOff never adds them.
//
// Records (SYSCALL, MMAP, PROCTITLE, EOE) are grouped by their serial into
// one event; audit reports only a0..a3, so later arguments are null, except
// mmap's fd which the MMAP record gives. Loss comes from the kernel's lost
// counter (polled on a second socket), wrap-safe serial gaps, ENOBUFS and
// events missing their SYSCALL record, and is delivered in-stream as
// auperf_lost events.
//
// Cost. The kernel sends every record (3.17 per event for the mmap loop
// of `make bench`: SYSCALL, PROCTITLE, EOE, and MMAP for a file mmap; 1.17
// in lean mode) as its own netlink message. The reader takes up to 64 per recvmmsg and,
// after it has drained the socket, sleeps 5ms before it polls again (when
// the socket buffer could be enlarged to several MiB), so
// that a wakeup takes hundreds of records; the socket buffer holds tens of
// milliseconds of records, so this delays events, it does not lose them.
// Most of what auditing costs the traced host is spent by the kernel (in
// the audited process, formatting records, and in kauditd): a reader that
// discards every record slows the bench loop about 2x already (without
// lean records).
//
// The same record parser reads audit logs written by auditd (RAW and
// ENRICHED formats, ausearch -r output): see DecodeLog.
//
// `-- COMMAND` trees are traced through an audit session of their own:
// see StartCommand.
//
// This package does not decide whether audit is the right source (package
// selector does) and does not format events (package event, output).
package auditsrc
