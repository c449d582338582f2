// Package event is auperf's one event schema and its encodings.
//
// Every source (perf tracepoints, kernel audit, audit log files) ends in an
// Event; every sink (stdout, files, syslog) starts from one. The JSON keys
// follow Tracee's event so that consumers of Tracee JSON can read auperf's
// output; the argument names and C types follow the syscall's manual page.
//
// A field a source cannot know is omitted (see Fields), an argument it cannot
// know keeps its place with a null value (ArgNull); nothing is ever made up.
//
// Events are borrowed, not owned: a Handler may read an Event only during the
// call, so that sources can reuse one Event per record and the hot path does
// not allocate. What must outlive the call is encoded or copied.
//
// This package does not decode raw syscall words (package decode does) and
// does not write anywhere (package output does).
package event
