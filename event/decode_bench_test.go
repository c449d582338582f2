package event_test

import (
	"testing"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
)

// BenchmarkDecodeAppendJSON is the per-event work every source shares:
// decode.Decode of a raw mmap (with its prot and flags decoders) into an
// Event, the process fields a source sets, and the JSON line. The target
// is at least 1,000,000 events/s on one core (go test -cpu 1).
func BenchmarkDecodeAppendJSON(b *testing.B) {
	raw := decode.Raw{
		Arch: decode.ArchX86_64, Nr: 9, // mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, 3, 0)
		Args:  [6]uint64{0, 4096, 3, 0x1, 3, 0},
		Known: 0x3f, Ret: 0x7f6b0f98e000, HasRet: true,
	}
	var ev event.Event
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		ev.Reset()
		decode.Decode(&ev, &raw, nil)
		ev.Known |= event.HasProcess | event.HasThread | event.HasParent | event.HasUser | event.HasProcessor | event.HasDuration
		ev.Timestamp = 1795689548283123456
		ev.ProcessorID, ev.ProcessID, ev.ThreadID, ev.ParentProcessID = 1, 6188, 6188, 6181
		ev.ProcessName, ev.ExecutablePath, ev.HostName = "python3", "/usr/bin/python3.11", "web01"
		ev.Source, ev.DurationNs = event.SourcePerf, 5120
		buf = event.AppendJSON(buf[:0], &ev)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
