// The Prometheus endpoint (--metrics-listen, config metrics: listen:):
// /metrics renders the pipeline's counters, the very numbers auperf_stats
// writes in-stream, and /healthz fails while the pipeline is stuck.

package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/pipeline"
	"github.com/auperf/auperf/output"
)

// healthyWithin is how recently the pipeline must have moved for /healthz.
const healthyWithin = 5 * time.Second

type metricsServer struct {
	ln  net.Listener
	srv *http.Server
	mu  sync.Mutex
	p   *pipeline.Pipeline
	out func() *output.Fanout
}

// listenMetrics binds addr now, so that a bad address is a usage error
// before anything is attached; serve starts answering.
func listenMetrics(addr string) (*metricsServer, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usagef("metrics listen %q: want HOST:PORT, such as 127.0.0.1:9464", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("metrics listen %s: %v", addr, errors.Unwrap(err))
	}
	return &metricsServer{ln: ln}, nil
}

// Addr is the address listened on (the port chosen for ":0").
func (m *metricsServer) Addr() string { return m.ln.Addr().String() }

func (m *metricsServer) serve(p *pipeline.Pipeline, out func() *output.Fanout) {
	m.mu.Lock()
	m.p, m.out = p, out
	m.mu.Unlock()
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{m: m})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.Alive(healthyWithin) {
			http.Error(w, fmt.Sprintf("stuck: the pipeline has not moved for %v\n", healthyWithin), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go m.srv.Serve(m.ln)
}

func (m *metricsServer) Close() {
	if m.srv != nil {
		m.srv.Close()
		return
	}
	m.ln.Close()
}

// collector renders the pipeline's counters at each scrape.
type collector struct{ m *metricsServer }

// Describe sends nothing: the metric set follows the sources and sinks
// of the run (an unchecked collector).
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	p, out := c.m.p, c.m.out
	c.m.mu.Unlock()
	for _, mt := range metricsOf(p.Stats()) {
		kind := prometheus.CounterValue
		if mt.gauge {
			kind = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(mt.desc, kind, float64(mt.value), mt.labels...)
	}
	for name, n := range out().Queued() {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), strings.TrimPrefix(name, "output:"))
	}
	if t := p.LastEvent(); !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastEventDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9)
	}
}

var (
	queueDesc     = prometheus.NewDesc("auperf_output_queue_batches", "Batches waiting in the output's queue.", []string{"output"}, nil)
	lastEventDesc = prometheus.NewDesc("auperf_last_event_timestamp_seconds", "Time of the last event handed to the outputs.", nil, nil)
	descs         sync.Map // name -> *prometheus.Desc
)

type metric struct {
	desc   *prometheus.Desc
	labels []string
	value  uint64
	name   string // the auperf_stats argument it is ("perf.received")
	gauge  bool   // a level, not a count (spool_bytes)
}

// metricsOf names each auperf_stats counter as a Prometheus counter:
//
//	perf|audit|pipeline .received|emitted|filtered|dropped_self|lost
//	                         -> auperf_events_<name>_total{source}
//	.lost_<cause>            -> auperf_events_lost_by_cause_total{source,cause}
//	output:<spec>.<name>     -> auperf_output_events_<name>_total{output} (errors: auperf_output_errors_total;
//	                            spool_bytes: the gauge auperf_output_spool_bytes)
//	insights.<finding>       -> auperf_insights_findings_total{insight}
//	insights.evicted_<what>  -> auperf_insights_evicted_total{what}
//	insights.mlock_bytes_pid_<N> -> the gauge auperf_insights_mlock_bytes_by_pid{pid}
//	insights.mlock_*         -> the gauge auperf_insights_<name> (bytes locked now, ...)
//	anything else            -> auperf_source_<name>_total{source}
func metricsOf(cs []event.Counter) []metric {
	out := make([]metric, 0, len(cs))
	for _, c := range cs {
		var name, help string
		var keys, vals []string
		gauge := c.Name == "spool_bytes" && strings.HasPrefix(c.Source, "output:")
		switch {
		case c.Source == "insights" && strings.HasPrefix(c.Name, "mlock_bytes_pid_"):
			keys, vals, gauge = []string{"pid"}, []string{strings.TrimPrefix(c.Name, "mlock_bytes_pid_")}, true
			name, help = "auperf_insights_mlock_bytes_by_pid", "Bytes locked now by the processes locking most."
		case c.Source == "insights" && strings.HasPrefix(c.Name, "mlock"):
			gauge = true
			name, help = "auperf_insights_"+c.Name, "Locked memory of the traced processes now: "+strings.ReplaceAll(c.Name, "_", " ")+"."
		case c.Source == "insights" && strings.HasPrefix(c.Name, "evicted_"):
			keys, vals = []string{"what"}, []string{strings.TrimPrefix(c.Name, "evicted_")}
			name, help = "auperf_insights_evicted_total", "What the insights' tracker evicted at its bounds."
		case c.Source == "insights":
			keys, vals = []string{"insight"}, []string{c.Name}
			name, help = "auperf_insights_findings_total", "Findings of the insights, by insight."
		case strings.HasPrefix(c.Source, "output:"):
			keys, vals = []string{"output"}, []string{strings.TrimPrefix(c.Source, "output:")}
			name, help = "auperf_output_events_"+c.Name+"_total", "Events "+c.Name+" by the output."
			switch c.Name {
			case "errors":
				name, help = "auperf_output_errors_total", "Failed write attempts of the output."
			case "spool_bytes":
				name, help = "auperf_output_spool_bytes", "Bytes in the output's disk spool not replayed yet."
			}
		case strings.HasPrefix(c.Name, "lost_"):
			keys, vals = []string{"source", "cause"}, []string{c.Source, strings.TrimPrefix(c.Name, "lost_")}
			name, help = "auperf_events_lost_by_cause_total", "Events lost in the kernel, by cause."
		case isStage(c.Name):
			keys, vals = []string{"source"}, []string{c.Source}
			name, help = "auperf_events_"+c.Name+"_total", "Events "+strings.ReplaceAll(c.Name, "_", " ")+" per source."
		default:
			keys, vals = []string{"source"}, []string{c.Source}
			name, help = "auperf_source_"+c.Name+"_total", "The source's "+strings.ReplaceAll(c.Name, "_", " ")+" counter."
		}
		key := name + "\x00" + strings.Join(keys, ",")
		d, ok := descs.Load(key)
		if !ok {
			d, _ = descs.LoadOrStore(key, prometheus.NewDesc(name, help, keys, nil))
		}
		out = append(out, metric{desc: d.(*prometheus.Desc), labels: vals, value: c.Value, name: c.Source + "." + c.Name,
			gauge: gauge})
	}
	return out
}

func isStage(n string) bool {
	switch n {
	case "received", "emitted", "filtered", "dropped_self", "lost":
		return true
	}
	return false
}
