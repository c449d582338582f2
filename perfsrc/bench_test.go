// Benchmarks of the hot path: a raw sample through drain, parse and emit,
// and the merge and pairing of two CPUs' rings (with idle CPUs).

package perfsrc

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

// fakeRing is a ring in ordinary memory laid out as the kernel lays out a
// perf ring (8-byte header, then the record body), so that benchmarks read
// records through ring.drain, the poller's own path. tsOff are the offsets
// of the records' timestamps in data, for rewriting between rounds.
type fakeRing struct {
	ring
	page  unix.PerfEventMmapPage
	used  uint64
	tsOff []int
}

func newFakeRing(size int) *fakeRing {
	f := &fakeRing{}
	f.data = make([]byte, size)
	f.mask = uint64(size - 1)
	f.meta = &f.page
	f.fd = -1
	return f
}

// add appends one sample record (a body built by sample).
func (f *fakeRing) add(body []byte) {
	n := 8 + len(body)
	at := int(f.used)
	binary.NativeEndian.PutUint32(f.data[at:], typSample)
	binary.NativeEndian.PutUint16(f.data[at+6:], uint16(n))
	copy(f.data[at+8:], body)
	f.tsOff = append(f.tsOff, at+8+8)
	f.used += uint64(n)
}

// refill makes the ring's records unread again.
func (f *fakeRing) refill() {
	f.page.Data_tail = 0
	f.page.Data_head = f.used
}

// BenchmarkRawSample: one mmap call's raw tracepoint samples
// (sys_enter_mmap, sys_exit_mmap, 6.18 layout) read from a ring by
// drain/record, as the poller reads them, and decoded into an event
// (decode.Raw -> event.Event) by emit. One op is one event.
func BenchmarkRawSample(b *testing.B) {
	s, _ := fakeSource(b, filter.Spec{})
	var sink int
	s.h = func(ev *event.Event) { sink += len(ev.Args) }
	s.procs.m[100] = &proc{comm: "w", exe: "/usr/bin/w", hasPPID: true, ppid: 1}
	c := s.calls[1]
	r := newFakeRing(4096)
	r.add(sample(c.Enter, 100, 101, 1000, 0, mmapNr, 0, 4096, 3, 0x22, ^uint64(0), 0))
	r.add(sample(c.Exit, 100, 101, 1500, 0, mmapNr, 0x7f0000000000))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.refill()
		r.drain(0, s)
		q := s.queues[0]
		s.emit(&q[0], &q[1])
		s.queues[0] = q[:0]
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if sink == 0 {
		b.Fatal("no event")
	}
}

// BenchmarkPairing: enter and exit records of 8 threads, each call
// entering on one CPU and returning on the other, read from two rings and
// merged in time order, paired and emitted by round (the poller's loop
// body). One op is one round of 64 syscalls (128 records, 64 events).
func BenchmarkPairing(b *testing.B) { benchPairing(b, 0) }

// BenchmarkPairingIdleCPUs is BenchmarkPairing on a 64-CPU host where 62
// CPUs have nothing this round: the merge must not scan them per record.
func BenchmarkPairingIdleCPUs(b *testing.B) { benchPairing(b, 62) }

func benchPairing(b *testing.B, idle int) {
	const tids, perRound = 8, 64
	s, _ := fakeSource(b, filter.Spec{})
	var n int
	s.h = func(ev *event.Event) { n++ }
	s.procs.m[100] = &proc{comm: "w", exe: "/usr/bin/w", hasPPID: true, ppid: 1}
	c := s.calls[1]
	rings := []*fakeRing{newFakeRing(1 << 16), newFakeRing(1 << 16)}
	// Record i of a ring gets a timestamp in that order: call k enters
	// on CPU k%2 and returns on the other one.
	type slot struct {
		ring, idx int
		delta     uint64
	}
	var slots []slot
	for k := 0; k < perRound; k++ {
		tid := int32(101 + k%tids)
		in, out := k%2, 1-k%2
		rings[in].add(sample(c.Enter, 100, tid, 0, uint32(in), mmapNr, 0, 4096, 3, 0x22, ^uint64(0), 0))
		slots = append(slots, slot{in, len(rings[in].tsOff) - 1, uint64(2 * k)})
		rings[out].add(sample(c.Exit, 100, tid, 0, uint32(out), mmapNr, 0x7f0000000000))
		slots = append(slots, slot{out, len(rings[out].tsOff) - 1, uint64(2*k + 1)})
	}
	all := []*ring{&rings[0].ring, &rings[1].ring}
	for i := range idle {
		all = append(all, &newFakeRing(4096).ring)
		s.addCPU(2 + i)
	}
	base := uint64(1)
	step := func() {
		for _, sl := range slots {
			r := rings[sl.ring]
			binary.NativeEndian.PutUint64(r.data[r.tsOff[sl.idx]:], base+sl.delta)
		}
		base += 2 * perRound
		rings[0].refill()
		rings[1].refill()
		for i, r := range all {
			r.drain(i, s)
		}
		s.round(false)
	}
	for range 4 {
		step()
	}
	n = 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
	if n < perRound*(b.N-1) {
		b.Fatalf("%d events from %d rounds of %d calls", n, b.N, perRound)
	}
	if s.nUnpaired.Load() != 0 || s.nUnfinished.Load() != 0 {
		b.Fatalf("unpaired: %d exits, %d enters", s.nUnpaired.Load(), s.nUnfinished.Load())
	}
}
