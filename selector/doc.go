// Package selector finds out what the running kernel offers for tracing
// syscalls without eBPF and plans, per requested event, which source
// reports it: perf (syscall tracepoints), audit (netlink), or none, with the
// reason. It is what `auperf probe` prints and what `auperf run --source
// auto` starts from. It does not trace anything itself.
//
// # Probes
//
// Each capability has one probe (host.go), run in a fixed order by Probe.
// Every probe returns:
//
//   - nil: supported here;
//   - an error matching ErrNotSupported (a *NotSupportedError with the
//     feature, a one-line reason and, where one exists, the first kernel
//     version that has it): conclusively not here;
//   - any other error: the probe could not tell.
//
// The plan falls back from perf to audit only on ErrNotSupported for a
// probe that ran; "could not tell" about a tracefs that is not mounted yet
// keeps perf (run mounts it and looks again).
//
// The probes: kernel release (/proc/sys/kernel/osrelease); arch
// (/proc/sys/kernel/arch, 6.1+, else uname through KernelCalls);
// capabilities and seccomp mode (CapEff, Seccomp of /proc/self/status);
// kernel lockdown (/sys/kernel/security/lockdown, else lockdown= on the
// command line: confidentiality forbids tracefs, so perf cannot work);
// tracefs (mounted as /proc/mounts shows it, honouring mounts that cover
// it; mountable when the kernel's empty mount point /sys/kernel/tracing or
// /sys/kernel/debug is on sysfs and we have CAP_SYS_ADMIN; absent); syscall
// tracepoints (events/syscalls, CONFIG_FTRACE_SYSCALLS); per event its
// sys_enter_/sys_exit_ format files (ids), or the kernel version that added
// the syscall; perf_event_paranoid; perf_event_open: a real open (and
// close) of a syscall tracepoint on CPU 0 for all processes with raw
// samples, explained with paranoid level, capabilities and seccomp when it
// fails; use_clockid (4.1); audit netlink (AUDIT_GET answers); audit
// enabled (2 = locked: unusable); the audit daemon (a pid registered with
// audit whose /proc/PID/comm names it: read alongside it with multicast,
// 3.16+ and CAP_AUDIT_READ); CAP_AUDIT_CONTROL; CONFIG_AUDITSYSCALL;
// audit at boot; ia32 emulation.
//
// Audit at boot: the kernel gives a task an audit context at fork only once
// audit has ever been enabled, so processes forked before that are never
// audited. The probe asks for audit=1 on /proc/cmdline; without it, the plan
// notes which processes audit cannot see. /proc/self/loginuid is not used:
// pam_loginuid sets it whether audit is on or off.
//
// ia32 emulation (32-bit x86 processes, seen only by audit b32 rules since
// syscall tracepoints report native syscalls only): ia32_emulation= on the
// command line (6.7+), else CONFIG_IA32_EMULATION (and
// CONFIG_IA32_EMULATION_DEFAULT_DISABLED) from /proc/config.gz or
// /boot/config-<release>, else the existence of /proc/sys/abi/vsyscall32,
// which the kernel registers exactly when it has ia32 emulation.
//
// # Host access
//
// Every file is read through Config (ProcFS, SysFS, TraceFS, RootFS), and
// the three questions no file answers go through KernelCalls (uname
// machine, perf_event_open, AUDIT_GET). The fixture roots under
// testdata/roots are whole fake hosts: proc/, sys/, boot/ and a kernel.yaml
// that FixtureKernel reads. Probing is read-only: no mount, no audit
// setting (no SetEnabled, no SetPID), every perf fd closed.
//
// # Plan
//
// Host.Plan (or Select) gives each event a source: perf when its
// tracepoints exist and perf_event_open works; else audit when audit is
// usable (netlink, not locked, CAP_AUDIT_CONTROL, multicast possible when a
// daemon owns audit, CONFIG_AUDITSYSCALL); else none, with both reasons. An
// event the kernel predates is none whatever the source ("kernel 3.10 has
// no mlock2 (added in 4.4)"). When ia32 emulation is on and audit is
// usable, audit also gets b32 rules for every planned event's i386 names
// (decode.I386Names). --source perf|audit forces one source and yields an
// *UnusableError when it cannot work (the CLI exits 2).
//
// # JSON (auperf probe --json)
//
// One object, written by Report.WriteJSON; report_test.go validates every
// fixture's document against this description:
//
//	{
//	  "kernel": {"release": string, "version": "M.m.p" or "", "arch": string},
//	  "probes": [                         // in probe order, at least one
//	    {"name": string,                  // "kernel_release", "tracepoints msync", ...
//	     "status": "ok" | "no" | "unknown",
//	     "value": string,                 // optional: what was found
//	     "reason": string,                // present exactly when status is not "ok"
//	     "minKernel": "M.m"}              // optional, only with "no"
//	  ],
//	  "plan": null | {                    // null exactly when "error" is present
//	    "requested": "auto" | "perf" | "audit",
//	    "events": [                       // one per requested event, in order
//	      {"name": string, "source": "perf" | "audit" | "none", "reason": string,
//	       "tracepoint": string,          // perf only
//	       "enterId": number, "exitId": number, // perf with tracefs mounted
//	       "b32": [string]}               // optional: i386 names under audit b32 rules
//	    ],
//	    "perf": null | {"events": [string],
//	                    "tracefs": {"state": "mounted" | "mountable", "path": string, "fstype": "tracefs" | "debugfs"}},
//	    "audit": null | {"events": [string],      // b64 (native) rules
//	                     "b32Events": [string],   // events whose 32-bit callers b32 rules catch
//	                     "b32": [string],         // the i386 names of those rules
//	                     "multicast": bool,
//	                     "owner": string, "enabled": 0 | 1},
//	    "notes": [string]
//	  },
//	  "error": string                     // optional: why the forced source cannot work
//	}
package selector
