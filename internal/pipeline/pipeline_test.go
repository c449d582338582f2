package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/source"
)

type fakeSource struct {
	name   string
	events []event.Event
	err    error
	wait   bool // run until ctx is done
}

func (f *fakeSource) Name() string                { return f.name }
func (f *fakeSource) Attach() error               { return nil }
func (f *fakeSource) Close() error                { return nil }
func (f *fakeSource) Warnings() []string          { return nil }
func (f *fakeSource) SetFilter(filter.Spec) error { return nil }
func (f *fakeSource) Run(ctx context.Context, h event.Handler) error {
	for i := range f.events {
		h(&f.events[i])
	}
	if f.err != nil {
		return f.err
	}
	if f.wait {
		<-ctx.Done()
	}
	return nil
}
func (f *fakeSource) Stats() []event.Counter {
	return []event.Counter{{Source: f.name, Name: "received", Value: uint64(len(f.events))}}
}

type memSink struct {
	mu  sync.Mutex
	evs []event.Event
}

func (m *memSink) Write(ev *event.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *ev
	c.Args = append([]event.Arg(nil), ev.Args...)
	m.evs = append(m.evs, c)
}
func (m *memSink) Stats() []event.Counter { return nil }

func sys(pid int32, name string, ret int64) event.Event {
	return event.Event{Known: event.HasProcess | event.HasReturn, ProcessID: pid, EventName: name, Syscall: name, ReturnValue: ret, Source: event.SourcePerf}
}

func TestMergeFilterStats(t *testing.T) {
	var lost event.Event
	event.NewLost(&lost, 5, event.SourcePerf, 1, 7, "ring")
	a := &fakeSource{name: "perf", events: []event.Event{sys(1, "msync", 0), sys(2, "mmap", -12), lost}}
	b := &fakeSource{name: "audit", events: []event.Event{sys(1, "munmap", -22), sys(3, "mlock", 0)}}
	sink := &memSink{}
	p, err := New(Config{Sources: []source.Source{a, b}, Sink: sink, Hostname: "h1",
		Filter: filter.Spec{Failed: true}, Now: func() time.Time { return time.Unix(0, 99) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range sink.evs {
		names = append(names, e.EventName)
		if e.HostName != "h1" {
			t.Errorf("%s: hostname %q", e.EventName, e.HostName)
		}
	}
	// failed calls, the loss, and the final stats (order across sources is free)
	want := map[string]bool{"mmap": true, "munmap": true, event.NameLost: true, event.NameStats: true}
	if len(names) != len(want) {
		t.Fatalf("got %v", names)
	}
	for _, n := range names {
		if !want[n] {
			t.Errorf("unexpected %s", n)
		}
	}
	last := sink.evs[len(sink.evs)-1]
	if last.EventName != event.NameStats || last.Timestamp != 99 {
		t.Fatalf("last event %+v", last)
	}
	vals := map[string]uint64{}
	for _, a := range last.Args {
		vals[a.Name] = a.Value
	}
	if vals["pipeline.received"] != 5 || vals["pipeline.filtered"] != 2 || vals["pipeline.emitted"] != 3 || vals["pipeline.lost"] != 7 || vals["perf.received"] != 3 {
		t.Errorf("stats %v", vals)
	}
}

func TestSourceErrorStopsOthers(t *testing.T) {
	bad := &fakeSource{name: "audit", err: errors.New("boom")}
	good := &fakeSource{name: "perf", wait: true}
	p, _ := New(Config{Sources: []source.Source{good, bad}, Sink: &memSink{}})
	done := make(chan error)
	go func() { done <- p.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || err.Error() != "audit source: boom" {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a failing source did not stop the pipeline")
	}
}

// blockingSink blocks every Write until release is closed.
type blockingSink struct{ release chan struct{} }

func (b *blockingSink) Write(*event.Event)     { <-b.release }
func (b *blockingSink) Stats() []event.Counter { return nil }

// TestAliveStuckSink: a handler stuck in its sink stops the heartbeat
// (what the systemd watchdog and /healthz ask); it resumes when the sink
// moves again.
func TestAliveStuckSink(t *testing.T) {
	sink := &blockingSink{release: make(chan struct{})}
	src := &fakeSource{name: "perf", events: []event.Event{sys(1, "msync", 0)}, wait: true}
	p, err := New(Config{Sources: []source.Source{src}, Sink: sink, Heartbeat: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if p.Alive(time.Hour) {
		t.Fatal("alive before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(200 * time.Millisecond)
	if p.Alive(100 * time.Millisecond) {
		t.Error("alive while the sink has blocked for 200ms")
	}
	close(sink.release)
	time.Sleep(100 * time.Millisecond)
	if !p.Alive(50 * time.Millisecond) {
		t.Error("not alive after the sink moved again")
	}
	cancel()
	<-done
}

// TestReloadSwapsSinkAndFilter: after Reload the events go to the new sink
// only, the sources got the new filter, and the counters of the old sink
// stay in Stats.
func TestReloadSwapsSinkAndFilter(t *testing.T) {
	rec := &filterRecorder{fakeSource: fakeSource{name: "perf", wait: true}}
	a, b := &countingSink{name: "output:a"}, &countingSink{name: "output:b"}
	p, err := New(Config{Sources: []source.Source{rec}, Sink: a})
	if err != nil {
		t.Fatal(err)
	}
	ev := sys(1, "msync", 0)
	p.handle(&ev)
	f := filter.Spec{Comms: []string{"x"}}
	old, err := p.Reload(&f, filter.Spec{}, b)
	if err != nil || old != a {
		t.Fatalf("Reload: %v %v", old, err)
	}
	p.handle(&ev)
	p.handle(&ev)
	if a.n != 1 || b.n != 2 {
		t.Errorf("old sink %d events, new %d; want 1 and 2", a.n, b.n)
	}
	if len(rec.got) != 1 || rec.got[0].Comms[0] != "x" {
		t.Errorf("sources' filters: %+v", rec.got)
	}
	var sum uint64
	for _, c := range p.Stats() {
		if c.Name == "written" {
			sum += c.Value
		}
	}
	if sum != 3 {
		t.Errorf("written over both sinks %d, want 3", sum)
	}
	// A source that refuses: nothing changes, the others get the old filter back.
	ref := &filterRecorder{fakeSource: fakeSource{name: "audit"}, refuse: true}
	rec2 := &filterRecorder{fakeSource: fakeSource{name: "perf"}}
	p2, _ := New(Config{Sources: []source.Source{rec2, ref}, Sink: a})
	if _, err := p2.Reload(&f, filter.Spec{UIDs: []uint32{7}}, b); err == nil {
		t.Fatal("Reload with a refusing source succeeded")
	}
	if len(rec2.got) != 2 || len(rec2.got[1].UIDs) != 1 {
		t.Errorf("the first source was not given its old filter back: %+v", rec2.got)
	}
	p2.handle(&ev)
	if b.n != 2 || a.n != 2 {
		t.Errorf("after a refused Reload the old sink must stay (a %d, b %d)", a.n, b.n)
	}
}

type filterRecorder struct {
	fakeSource
	got    []filter.Spec
	refuse bool
}

func (r *filterRecorder) SetFilter(f filter.Spec) error {
	if r.refuse {
		return errors.New("no")
	}
	r.got = append(r.got, f)
	return nil
}

type countingSink struct {
	name string
	n    uint64
}

func (c *countingSink) Write(*event.Event) { c.n++ }
func (c *countingSink) Stats() []event.Counter {
	return []event.Counter{{Source: "output", Name: "written", Value: c.n}}
}
