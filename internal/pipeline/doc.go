// Package pipeline joins sources and the outputs: it runs every source,
// merges their events into one stream (one handler call at a time), stamps
// the host name, applies its filter.Spec (empty in `auperf run`, whose
// sources apply the user's filter themselves), hands events to the sink,
// and reports auperf_stats periodically and at the end.
//
// It holds no kernel state itself: attaching, draining and restoring belong
// to the sources (and their orchestration to package trace), writing to
// the sinks.
package pipeline
