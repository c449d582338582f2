// Package filter decides, in user space, which events a user asked for:
// --pid, --comm, --uid, --failed, and the process tree of `-- COMMAND`.
//
// Sources push what they can into the kernel (perf tracepoint filters, audit
// rule fields); Spec.Match is the rest, applied to a decoded event. A source
// that pushed a condition into the kernel may still call Match: every
// condition is idempotent.
//
// The process tree (Spec.Tree) is state: a Tree follows forks from its roots,
// fed by the perf source's FORK/EXIT records, or learnt from an event's
// parent pid (audit carries ppid), whichever comes first.
package filter
