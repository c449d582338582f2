// Package pipeline joins sources, the user-space filter and the outputs:
// it runs every source, merges their events into one stream (one handler
// call at a time), stamps the host name, applies filter.Spec.Match, hands
// events to the sink, and reports auperf_stats periodically and at the end.
//
// It holds no kernel state itself: attaching, draining and restoring belong
// to the sources, writing to the sinks.
package pipeline
