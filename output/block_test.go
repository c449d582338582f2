// Tests of blocking outputs (Options.Block, for offline input): a slow
// reader gets every event, nothing is dropped.

package output

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
)

// slowWriter takes its time over every write, like a pipe into a slow
// reader.
type slowWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *slowWriter) Write(b []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func TestBlockNeverDrops(t *testing.T) {
	w := &slowWriter{}
	out, err := Open([]string{"json"}, Options{Stdout: w, Block: true, QueueBatches: 2, BatchBytes: 4096, RetryBuffer: 8192})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6000
	var ev event.Event
	for i := range n {
		testEvent(&ev, i)
		out.Write(&ev)
	}
	if err := out.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if lines := bytes.Count(w.buf.Bytes(), []byte("\n")); lines != n {
		t.Errorf("%d lines written, want %d", lines, n)
	}
	for _, c := range out.Stats() {
		if c.Name == "dropped" && c.Value != 0 {
			t.Errorf("%s dropped %d", c.Source, c.Value)
		}
	}
}
