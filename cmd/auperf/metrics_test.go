// The metrics endpoint renders auperf_stats' counters: every counter of
// every stage, named so that it maps back to its auperf_stats name.

package main

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/pipeline"
	"github.com/auperf/auperf/internal/source"
	"github.com/auperf/auperf/output"
)

var metricLine = regexp.MustCompile(`^(auperf_\w+)(?:\{(.*)\})? (\S+)$`)

// parseMetrics maps the endpoint's text back to auperf_stats' names
// ("audit.received", "output:json:/x.written"), the inverse of metricsOf.
func parseMetrics(t *testing.T, body string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, l := range strings.Split(body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := metricLine.FindStringSubmatch(l)
		if m == nil {
			continue // the Go collector's, none here
		}
		labels := map[string]string{}
		for _, kv := range regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(m[2], -1) {
			labels[kv[1]], _ = strconv.Unquote(`"` + kv[2] + `"`)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		var key string
		switch name := m[1]; {
		case name == "auperf_output_queue_batches", name == "auperf_last_event_timestamp_seconds":
			continue
		case name == "auperf_output_errors_total":
			key = "output:" + labels["output"] + ".errors"
		case strings.HasPrefix(name, "auperf_output_events_"):
			key = "output:" + labels["output"] + "." + strings.TrimSuffix(strings.TrimPrefix(name, "auperf_output_events_"), "_total")
		case name == "auperf_events_lost_by_cause_total":
			key = labels["source"] + ".lost_" + labels["cause"]
		case strings.HasPrefix(name, "auperf_events_"):
			key = labels["source"] + "." + strings.TrimSuffix(strings.TrimPrefix(name, "auperf_events_"), "_total")
		case name == "auperf_insights_mlock_bytes_by_pid":
			key = "insights.mlock_bytes_pid_" + labels["pid"]
		case name == "auperf_insights_evicted_total":
			key = "insights.evicted_" + labels["what"]
		case name == "auperf_insights_findings_total":
			key = "insights." + labels["insight"]
		case strings.HasPrefix(name, "auperf_insights_"):
			key = "insights." + strings.TrimPrefix(name, "auperf_insights_")
		case strings.HasPrefix(name, "auperf_source_"):
			key = labels["source"] + "." + strings.TrimSuffix(strings.TrimPrefix(name, "auperf_source_"), "_total")
		default:
			t.Fatalf("unexpected metric %q", l)
		}
		if _, dup := out[key]; dup {
			t.Fatalf("%s twice on the endpoint", key)
		}
		out[key] = uint64(v)
	}
	return out
}

// fixedSource reports fixed counters and no events.
type fixedSource struct{ c []event.Counter }

func (s *fixedSource) Name() string                                   { return "audit" }
func (s *fixedSource) Attach() error                                  { return nil }
func (s *fixedSource) Run(ctx context.Context, _ event.Handler) error { <-ctx.Done(); return nil }
func (s *fixedSource) Close() error                                   { return nil }
func (s *fixedSource) Stats() []event.Counter                         { return s.c }
func (s *fixedSource) Warnings() []string                             { return nil }
func (s *fixedSource) SetFilter(filter.Spec) error                    { return nil }

// TestMetricsAreStatsCounters: every counter of Pipeline.Stats is on the
// endpoint once, with its value, and nothing else is (but the queue and
// last-event gauges).
func TestMetricsAreStatsCounters(t *testing.T) {
	src := &fixedSource{c: []event.Counter{
		{Source: "audit", Name: "received", Value: 7}, {Source: "audit", Name: "emitted", Value: 5},
		{Source: "audit", Name: "filtered", Value: 1}, {Source: "audit", Name: "dropped_self", Value: 1},
		{Source: "audit", Name: "lost", Value: 3}, {Source: "audit", Name: "lost_backlog", Value: 2},
		{Source: "audit", Name: "lost_sequence_gap", Value: 1}, {Source: "audit", Name: "enobufs", Value: 4},
		{Source: "perf", Name: "lost_ring_cpu1", Value: 9}, {Source: "perf", Name: "enter_without_exit", Value: 11},
	}}
	out, err := output.Open([]string{"json:" + t.TempDir() + `/a "b".json`}, output.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() }) // after the pipeline stops (runServed)
	p, err := pipeline.New(pipeline.Config{Sources: []source.Source{src}, Sink: out})
	if err != nil {
		t.Fatal(err)
	}
	m := runServed(t, p, out)
	time.Sleep(50 * time.Millisecond)

	got := scrape(t, m.Addr())
	want := map[string]uint64{}
	for _, c := range p.Stats() {
		want[c.Source+"."+c.Name] = c.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: endpoint %d, auperf_stats %d", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("endpoint has %d counters, auperf_stats %d:\n%v\n%v", len(got), len(want), got, want)
	}
	resp, err := http.Get("http://" + m.Addr() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz of a running pipeline: %v %v", resp, err)
	}
}

// blockSink blocks every Write until release is closed.
type blockSink struct{ release chan struct{} }

func (b *blockSink) Write(*event.Event)     { <-b.release }
func (b *blockSink) Stats() []event.Counter { return nil }

// eventSource hands one event to the pipeline, then waits.
type eventSource struct{ fixedSource }

func (s *eventSource) Run(ctx context.Context, h event.Handler) error {
	ev := event.Event{EventName: "msync", Syscall: "msync"}
	h(&ev)
	<-ctx.Done()
	return nil
}

// TestHealthzStuck: /healthz answers 503 while a handler is stuck in a
// sink (the watchdog stops being pinged then too), and ok once it moves.
func TestHealthzStuck(t *testing.T) {
	sink := &blockSink{release: make(chan struct{})}
	out, err := output.Open([]string{"json:" + t.TempDir() + "/e.json"}, output.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() }) // after the pipeline stops (runServed)
	p, err := pipeline.New(pipeline.Config{Sources: []source.Source{&eventSource{}}, Sink: sink, Heartbeat: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := runServed(t, p, out)
	health := func() int {
		resp, err := http.Get("http://" + m.Addr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(10 * time.Second)
	for health() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/healthz never said stuck while the sink blocked")
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(sink.release)
	for health() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/healthz never recovered")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runServed runs p with its metrics endpoint until t ends.
func runServed(t *testing.T, p *pipeline.Pipeline, out *output.Fanout) *metricsServer {
	t.Helper()
	m, err := listenMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.serve(p, func() *output.Fanout { return out })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; m.Close() })
	return m
}
