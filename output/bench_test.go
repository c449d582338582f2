package output

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/auperf/auperf/event"
)

// benchFanout measures Write (the pipeline goroutine's cost per event) and
// reports what the sinks dropped, since a sink that cannot keep up makes
// Write look cheaper than it is.
func benchFanout(b *testing.B, specs ...string) {
	f, err := Open(specs, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var ev event.Event
	testEvent(&ev, 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(event.AppendJSON(nil, &ev))))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.ThreadID = int32(i)
		f.Write(&ev)
	}
	f.Close()
	b.StopTimer()
	var dropped uint64
	for _, c := range f.Stats() {
		if c.Name == "dropped" {
			dropped += c.Value
		}
	}
	b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
}

func BenchmarkFanoutFile(b *testing.B) {
	benchFanout(b, "json:"+filepath.Join(b.TempDir(), "e.jsonl"))
}

func BenchmarkFanoutFileText(b *testing.B) {
	benchFanout(b, "text:"+filepath.Join(b.TempDir(), "e.txt"))
}

func BenchmarkFanoutSyslogUDP(b *testing.B) {
	// A discarding receiver: a collecting one would allocate per datagram
	// and show up in B/op.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1<<16)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	benchFanout(b, "syslog:udp://"+pc.LocalAddr().String())
}

func BenchmarkFanoutFileAndSyslogTCP(b *testing.B) {
	ln := &discardListener{}
	addr := ln.start(b)
	defer ln.stop()
	benchFanout(b, "json:"+filepath.Join(b.TempDir(), "e.jsonl"), "syslog:tcp://"+addr)
}
