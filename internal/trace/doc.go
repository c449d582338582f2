// Package trace is the orchestration of `auperf run`, out of the command
// so that it can be tested without root and without flags:
//
//   - options.go: the run settings as a user writes them (flags or the
//     config file) checked into Options, with the one event-list parser
//     and the one filter parser that run, probe, events and decode share;
//   - config.go: the YAML config file, refused with file, line and reason;
//   - plan.go: the selector's plan, split by hand with --source-events;
//   - start.go: start = mount tracefs if the plan says so, attach perf,
//     fall back to audit for perf's events when perf fails to start,
//     attach audit, start the traced command, and close all of it again.
//
// The kernel is reached only through Env, whose HostEnv is the real host:
// tests give fake sources and a fake mount. The command (cmd/auperf) keeps
// flags, signals and exit statuses.
package trace
