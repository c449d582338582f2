package event

import "testing"

// benchEvent is a realistic perf mmap event with decoders.
func benchEvent() *Event {
	ev := new(Event)
	fixtures[1].fill(ev) // perf_mmap_file
	return ev
}

func BenchmarkAppendJSON(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], ev)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAppendText(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendText(buf[:0], ev, false)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendJSONHostile: the escaping path, every string needing it.
func BenchmarkAppendJSONHostile(b *testing.B) {
	ev := new(Event)
	hostileEvent(ev, hostile[0], hostile[1]+hostile[3], hostile[5])
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], ev)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendJSONStringPath: the plain-ASCII fast path on a long path.
func BenchmarkAppendJSONStringPath(b *testing.B) {
	buf := make([]byte, 0, 256)
	s := "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
	for b.Loop() {
		buf = AppendJSONString(buf[:0], s)
	}
}
