// The pipeline: every source run into one stream, one handler call at a
// time, into the sink, with auperf_stats periodically and at the end.

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/container"
	"github.com/auperf/auperf/internal/crash"
	"github.com/auperf/auperf/internal/insight"
	"github.com/auperf/auperf/internal/source"
)

// Sink is where events go (output.Fanout).
type Sink interface {
	Write(ev *event.Event) // the event is borrowed
	Stats() []event.Counter
}

// Config is one pipeline.
type Config struct {
	Sources []source.Source
	// Filter is matched on every event. The sources apply the user's
	// filter themselves (internal/trace leaves this empty); it is for
	// sources that do not.
	Filter   filter.Spec
	Sink     Sink
	Hostname string
	// StatsInterval: an auperf_stats event this often (0: only at the end).
	StatsInterval time.Duration
	// Now is the clock of auperf's own events (nil: time.Now).
	Now func() time.Time
	// Heartbeat is how often Run takes the pipeline's lock to show it
	// is not stuck (see Alive); 0: 500ms.
	Heartbeat time.Duration
	// Containers, when set, gives every syscall event of a live source
	// its process's container (not for offline input: the process is
	// gone, its pid maybe someone else's).
	Containers *container.Cache
	// Insights are derived from every event handed on (live sources
	// only: FileIdentity and the sweep read /proc): a tracker emits its
	// findings into the stream and settles the processes that are gone
	// every second and at the end; FileIdentity gives a live mmap of a
	// file its "file" block.
	Insights insight.Set
}

// Pipeline runs sources into a sink.
type Pipeline struct {
	cfg   Config
	match bool // the filter is not empty (in auperf run it is: sources filter)

	mu       sync.Mutex // one handler call at a time, across sources
	received atomic.Uint64
	emitted  atomic.Uint64
	filtered atomic.Uint64
	lost     atomic.Uint64
	// lastEvent is the timestamp of the last event handed on (ns).
	lastEvent atomic.Int64
	statsEv   event.Event
	// retired are the sinks Reload replaced: their counters (still
	// moving while they drain) are added to the current sink's under
	// the same names.
	retired []Sink
	tracker *insight.Tracker      // Config.Insights (nil: none)
	files   *insight.FileResolver // Config.Insights has FileIdentity (nil: not)
	// beat is when the heartbeat last got the pipeline's lock (unix ns):
	// a handler stuck in a sink holds it, and beat ages (see Alive).
	beat atomic.Int64
}

// defaultHeartbeat is how often Run's heartbeat takes the pipeline's lock.
const defaultHeartbeat = 500 * time.Millisecond

// New checks cfg.
func New(cfg Config) (*Pipeline, error) {
	if len(cfg.Sources) == 0 {
		return nil, errors.New("pipeline: no source")
	}
	if cfg.Sink == nil {
		return nil, errors.New("pipeline: no sink")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = defaultHeartbeat
	}
	cfg.Filter.Init()
	p := &Pipeline{cfg: cfg, match: !cfg.Filter.Empty()}
	if cfg.Insights&^insight.FileIdentity != 0 {
		p.tracker = insight.New(cfg.Insights, insight.Limits{}, p.emitDerived)
	}
	if cfg.Insights&insight.FileIdentity != 0 {
		p.files = &insight.FileResolver{Proc: "/proc"}
	}
	return p, nil
}

// handle is every source's handler.
func (p *Pipeline) handle(ev *event.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	crash.Inject("pipeline")
	p.received.Add(1)
	if n, ok := ev.LostCount(); ok {
		p.lost.Add(n)
	}
	if ev.HostName == "" {
		ev.HostName = p.cfg.Hostname
	}
	if p.cfg.Containers != nil && ev.Container == nil && ev.Known&event.HasProcess != 0 && ev.Source != event.SourceAuperf {
		var ppid int32
		if ev.Known&event.HasParent != 0 {
			ppid = ev.ParentProcessID
		}
		ev.Container = p.cfg.Containers.Of(ev.ProcessID, ppid, time.Unix(0, ev.Timestamp))
	}
	if p.match && !p.cfg.Filter.Match(ev) {
		p.filtered.Add(1)
		return
	}
	if p.files != nil {
		p.files.Resolve(ev) // (not for events filtered out: a /proc lookup each)
	}
	p.emitted.Add(1)
	p.cfg.Sink.Write(ev)
	p.lastEvent.Store(ev.Timestamp)
	if p.tracker != nil {
		p.tracker.Observe(ev)
	}
}

// emitDerived is the tracker's emit: its findings go on like events
// (the caller holds the lock).
func (p *Pipeline) emitDerived(ev *event.Event) {
	p.emitted.Add(1)
	p.cfg.Sink.Write(ev)
}

// sweep settles the processes the tracker follows that are gone.
func (p *Pipeline) sweep(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tracker.Sweep(insight.Alive, now.UnixNano())
}

// Reload applies a new filter (nil: the filter stays) to every source and
// makes sink the new sink, with no event handed on in between: the sources' filters change
// while the pipeline holds its lock, so that no event reaches either sink
// during the change. A source that refuses the filter leaves everything
// as it was before this call (the sources already changed are changed
// back) and its error is returned.
func (p *Pipeline) Reload(f *filter.Spec, old filter.Spec, sink Sink) (Sink, error) {
	p.mu.Lock()
	for i, s := range p.cfg.Sources {
		if f == nil {
			break // the filter stays
		}
		if err := s.SetFilter(*f); err != nil {
			for _, done := range p.cfg.Sources[:i] {
				done.SetFilter(old)
			}
			p.mu.Unlock()
			return nil, fmt.Errorf("%s source: %w", s.Name(), err)
		}
	}
	prev := p.cfg.Sink
	p.retired = append(p.retired, prev)
	p.cfg.Sink = sink
	p.mu.Unlock()
	return prev, nil
}

// addCounters adds b into a by (source, name).
func addCounters(a, b []event.Counter) []event.Counter {
	for _, c := range b {
		found := false
		for i := range a {
			if a[i].Source == c.Source && a[i].Name == c.Name {
				a[i].Value += c.Value
				found = true
				break
			}
		}
		if !found {
			a = append(a, c)
		}
	}
	return a
}

// Run runs every source until ctx is done (or one fails: the others are
// stopped then), and writes a final auperf_stats. It returns the first
// source error.
func (p *Pipeline) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(p.cfg.Sources))
	for i, s := range p.cfg.Sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer crash.Recover() // runs first: a panic is handled before the others go on
			if err := s.Run(ctx, p.handle); err != nil {
				errs[i] = fmt.Errorf("%s source: %w", s.Name(), err)
				cancel()
			}
		}()
	}
	p.beat.Store(time.Now().UnixNano())
	beatDone := every(ctx, p.cfg.Heartbeat, func(now time.Time) {
		p.mu.Lock()
		p.beat.Store(now.UnixNano())
		p.mu.Unlock()
	})
	statsDone := every(ctx, p.cfg.StatsInterval, func(time.Time) { p.WriteStats() })
	var sweepEvery time.Duration // 0: never
	if p.tracker != nil {
		sweepEvery = time.Second
	}
	sweepDone := every(ctx, sweepEvery, p.sweep)
	wg.Wait()
	cancel()
	<-statsDone
	<-beatDone
	<-sweepDone
	if p.tracker != nil {
		p.sweep(p.cfg.Now())
	}
	p.WriteStats()
	return errors.Join(errs...)
}

// Stats are the counters of every stage: sources, pipeline, sink.
func (p *Pipeline) Stats() []event.Counter {
	var out []event.Counter
	for _, s := range p.cfg.Sources {
		out = append(out, s.Stats()...)
	}
	out = append(out,
		event.Counter{Source: "pipeline", Name: "received", Value: p.received.Load()},
		event.Counter{Source: "pipeline", Name: "filtered", Value: p.filtered.Load()},
		event.Counter{Source: "pipeline", Name: "emitted", Value: p.emitted.Load()},
		event.Counter{Source: "pipeline", Name: "lost", Value: p.lost.Load()},
	)
	p.mu.Lock()
	var sink []event.Counter
	for _, r := range p.retired {
		sink = addCounters(sink, r.Stats())
	}
	if p.tracker != nil {
		out = append(out, p.tracker.Counters()...)
	}
	sink = addCounters(sink, p.cfg.Sink.Stats())
	p.mu.Unlock()
	return append(out, sink...)
}

// every calls f every d (never when d is 0) until ctx is done, in a
// goroutine of its own; the channel it returns is closed when that ends.
func every(ctx context.Context, d time.Duration, f func(time.Time)) <-chan struct{} {
	done := make(chan struct{})
	if d <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		defer crash.Recover() // runs first: a panic is handled before the others go on
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				f(now)
			}
		}
	}()
	return done
}

// Alive reports whether the pipeline took an event or a heartbeat within
// maxAge: false when a handler is stuck (a sink that blocks) and while Run
// is not running. It is what the systemd watchdog and /healthz ask.
func (p *Pipeline) Alive(maxAge time.Duration) bool {
	b := p.beat.Load()
	return b != 0 && time.Since(time.Unix(0, b)) <= maxAge
}

// LastEvent is the timestamp of the last event handed on (zero: none).
func (p *Pipeline) LastEvent() time.Time {
	if ns := p.lastEvent.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Lost is the total the sources reported lost in-stream.
func (p *Pipeline) Lost() uint64 { return p.lost.Load() }

// WriteStats writes one auperf_stats event now.
func (p *Pipeline) WriteStats() {
	counters := p.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	event.NewStats(&p.statsEv, p.cfg.Now().UnixNano(), counters)
	p.statsEv.HostName = p.cfg.Hostname
	p.cfg.Sink.Write(&p.statsEv)
}
