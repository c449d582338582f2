package output

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// msgBatch is a message batch of the texts.
func msgBatch(texts ...string) *batch {
	b := &batch{}
	for _, t := range texts {
		b.buf = append(b.buf, t...)
		b.ends = append(b.ends, int32(len(b.buf)))
		b.n++
	}
	return b
}

func batchTexts(b *batch) []string {
	var out []string
	for i := range b.ends {
		out = append(out, string(b.message(i)))
	}
	return out
}

// TestSpoolRestart: records put survive closing the spool; replay
// resumes after the last one done, also across a reopen, so nothing is
// replayed twice; a fully replayed spool is empty and holds no segment
// but the one being appended to.
func TestSpoolRestart(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := sp.put(msgBatch(fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	// Half a batch: from its second message on.
	if err := sp.put(msgBatch("x", "y", "z"), 1); err != nil {
		t.Fatal(err)
	}
	b := sp.next()
	if got := batchTexts(b); len(got) != 2 || got[0] != "a0" || got[1] != "b0" {
		t.Fatalf("first record %q", got)
	}
	sp.done(b)
	if _, err := openSpool(dir, 0); err == nil {
		t.Fatal("a second opener of the same spool was not refused")
	}
	sp.close()

	sp, err = openSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	var got []string
	for b := sp.next(); b != nil; b = sp.next() {
		got = append(got, batchTexts(b)...)
		sp.done(b)
	}
	if fmt.Sprint(got) != "[a1 b1 a2 b2 y z]" {
		t.Errorf("replayed after reopen %q, want a1 b1 a2 b2 y z", got)
	}
	if !sp.empty() || sp.replayed.Load() != 6 || sp.bytes.Load() != 0 {
		t.Errorf("empty %v replayed %d bytes %d", sp.empty(), sp.replayed.Load(), sp.bytes.Load())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.spool")); len(m) != 0 {
		t.Errorf("segments left: %v", m)
	}
}

// TestSpoolTorn: a record cut short (a crash mid-write) is detected when
// the spool opens: never replayed, its events counted torn, and the
// records before it replayed; writing goes on after it.
func TestSpoolTorn(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	sp.put(msgBatch("one", "two"), 0)
	sp.put(msgBatch("three", "four", "five"), 0)
	seg := sp.path(sp.wseg)
	sp.close()
	st, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, st.Size()-3); err != nil { // mid "five"
		t.Fatal(err)
	}
	sp, err = openSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if sp.torn.Load() != 3 {
		t.Errorf("torn %d events, want the 3 of the cut record", sp.torn.Load())
	}
	sp.put(msgBatch("six"), 0)
	var got []string
	for b := sp.next(); b != nil; b = sp.next() {
		got = append(got, batchTexts(b)...)
		sp.done(b)
	}
	if fmt.Sprint(got) != "[one two six]" {
		t.Errorf("replayed %q, want one two six", got)
	}
	// Garbage in place of a record: detected the same way.
	sp.put(msgBatch("seven"), 0)
	f, _ := os.OpenFile(sp.path(sp.wseg), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("AUSPgarbage-garbage-garbage"))
	f.Close()
	sp.close()
	sp2, err := openSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.close()
	got = nil
	for b := sp2.next(); b != nil; b = sp2.next() {
		got = append(got, batchTexts(b)...)
		sp2.done(b)
	}
	if fmt.Sprint(got) != "[seven]" || sp2.torn.Load() == 0 {
		t.Errorf("after garbage: replayed %q, torn %d", got, sp2.torn.Load())
	}
}

// TestSpoolMax: past spool_max a put fails (the sink counts the events
// dropped).
func TestSpoolMax(t *testing.T) {
	sp, err := openSpool(t.TempDir(), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if err := sp.put(msgBatch("0123456789012345678901234567890123456789"), 0); err != nil {
		t.Fatal(err)
	}
	if err := sp.put(msgBatch("0123456789012345678901234567890123456789"), 0); err == nil {
		t.Error("a put past spool_max was taken")
	}
}

// TestSpoolSlowCollector: a collector that reads far slower than events
// come (4 KiB every 5 ms) and a small queue and buffer. Without a spool
// the queue overflows and events are dropped (the collector is slow
// enough); with one, what the collector cannot take yet goes to disk, and
// once it reads at full speed every event arrives, in order, none
// dropped.
func TestSpoolSlowCollector(t *testing.T) {
	for _, spooled := range []bool{false, true} {
		t.Run(fmt.Sprintf("spool=%v", spooled), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var fast atomic.Bool
			var mu sync.Mutex
			var data []byte
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					size := len(buf)
					if !fast.Load() {
						size = 4 << 10
						time.Sleep(5 * time.Millisecond)
					}
					n, err := c.Read(buf[:size])
					mu.Lock()
					data = append(data, buf[:n]...)
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			spec := "syslog:tcp://" + ln.Addr().String()
			if spooled {
				spec += "?spool=" + filepath.Join(t.TempDir(), "spool")
			}
			// A queue of 16 batches: enough for the sink's own disk
			// writes (the spool) to keep up with, far too few for
			// the collector's pace.
			f, err := Open([]string{spec}, Options{QueueBatches: 16, RetryBuffer: 256 << 10, FlushDelay: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			name := "output:" + strings.SplitN(spec, "?", 2)[0]
			const n = 40000
			for i := 0; i < n; i += 100 {
				writeEvents(f, i, i+100, testEvent)
				time.Sleep(time.Millisecond)
			}
			fast.Store(true)
			waitFor(t, "the sink done", func() bool {
				return counter(f, name, "written")+counter(f, name, "dropped") == n
			})
			f.Close()
			dropped := counter(f, name, "dropped")
			// What was written may still be on its way to the
			// collector's reads.
			var frames [][]byte
			waitFor(t, "every written frame at the collector", func() bool {
				mu.Lock()
				defer mu.Unlock()
				frames = splitOctetCounted(t, data)
				return uint64(len(frames)) >= counter(f, name, "written")
			})
			t.Logf("spool %v: %d of %d arrived, dropped %d, spooled %d, replayed %d", spooled, len(frames), n, dropped,
				counter(f, name, "spooled"), counter(f, name, "replayed"))
			if !spooled {
				if dropped == 0 {
					t.Fatal("nothing dropped without a spool: the collector is not slow enough for this test")
				}
				return
			}
			if dropped != 0 || len(frames) != n {
				t.Fatalf("dropped %d, %d of %d arrived", dropped, len(frames), n)
			}
			for i, m := range frames {
				if id := parse5424(t, m).body.ThreadID; id != i {
					t.Fatalf("message %d is event %d", i, id)
				}
			}
		})
	}
}

// TestSpoolAuto: spool=auto is a directory per collector under the
// service's state directory.
func TestSpoolAuto(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"/var/lib/auperf", "/var/lib/auperf/spool-collector.example_2514"},
		{"/srv/a:/srv/b", "/srv/a/spool-collector.example_2514"},
		{"", "/var/lib/auperf/spool-collector.example_2514"},
	} {
		t.Setenv("STATE_DIRECTORY", c.env)
		s, err := parseSpec("syslog:relp://collector.example:2514?spool=auto", &Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.spool != c.want {
			t.Errorf("STATE_DIRECTORY=%q: spool %q, want %q", c.env, s.spool, c.want)
		}
	}
}
