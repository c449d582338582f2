// Package bench is the engine of `make bench` (binary cmd/auperf-bench): it
// runs the workload's loop mode untraced and under each tracer (auperf's
// perf and audit sources, `perf trace -a`, auditd with the same rules),
// alternating rows round by round, and reports per row the workload's
// syscalls/s, the slowdown against untraced, how many of the loop's calls
// each tracer wrote to its output and how many it said it lost, and what
// the tracer itself cost (CPU seconds, peak RSS).
//
// It measures and reports; it never asserts and never installs anything. A
// row whose tool is missing says so and how to get it.
//
// The pure parts (median/min/max, the table, counting each tracer's output
// format, parsing `auditctl -s` and /proc) are unit tested on fixtures in
// testdata/. The parts that start tracers change kernel state (perf events,
// audit rules, the audit daemon) and are exercised by running the harness.
package bench
