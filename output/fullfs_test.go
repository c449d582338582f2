package output

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/internal/ktest"
)

// TestIntegrationFullFilesystem fills a 64 KiB tmpfs under a file sink:
// no crash, errors and drops counted, no broken line, and writing resumes
// once space is freed.
func TestIntegrationFullFilesystem(t *testing.T) {
	ktest.Require(t)
	dir, filler := nearlyFullTmpfs(t)
	p := filepath.Join(dir, "e.jsonl")
	name := "output:json:" + p
	// A batch cannot grow past about 4 KiB (BatchBytes), even when the
	// flusher lags on a loaded host, so the half-written batch the sink
	// retries plus the 20 events after freeing space fit the retry
	// buffer and none of them is dropped (a 32 KiB batch and a 16 KiB
	// buffer made the test flaky); the buffer fits the space freed.
	f, err := Open([]string{"json:" + p + "?buffer=24k&flush=5ms"}, Options{BatchBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for counter(f, name, "errors") == 0 || counter(f, name, "dropped") == 0 {
		writeEvents(f, next, next+5, testEvent)
		next += 5
		time.Sleep(5 * time.Millisecond)
		if next > 100000 {
			t.Fatalf("the filesystem never filled: %v", f.Stats())
		}
	}
	full := next
	t.Logf("full after %d events: %v", full, f.Stats())

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ { // small batches: all fit in the retry buffer
		writeEvents(f, next, next+5, testEvent)
		next += 5
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, "writing to resume", func() bool {
		return counter(f, name, "written")+counter(f, name, "dropped") == uint64(next)
	})
	f.Close()
	recs := parseJSONLines(t, readFile(t, p)) // fails on a broken line
	seen := make(map[int]bool)
	resumed := 0
	for _, r := range recs {
		if seen[r.ThreadID] {
			t.Fatalf("event %d written twice", r.ThreadID)
		}
		seen[r.ThreadID] = true
		if r.ThreadID >= full {
			resumed++
		}
	}
	if resumed != 20 {
		t.Errorf("%d of the 20 events after freeing space were written", resumed)
	}
	written, dropped := counter(f, name, "written"), counter(f, name, "dropped")
	if int(written) != len(recs) || written+dropped != uint64(next) || counter(f, name, "received") != uint64(next) {
		t.Errorf("%d lines in the file; counters %v", len(recs), f.Stats())
	}
}

// SIGHUP (Reopen) while a batch is half written (the disk filled
// mid-batch): the rest of that batch still goes to the file its start is
// in, so neither the renamed file nor the new one holds a broken line,
// and the two together hold every written event once.
func TestIntegrationReopenAfterPartialWrite(t *testing.T) {
	ktest.Require(t)
	dir, filler := nearlyFullTmpfs(t)
	p := filepath.Join(dir, "e.jsonl")
	name := "output:json:" + p
	f, err := Open([]string{"json:" + p + "?flush=5ms"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for counter(f, name, "errors") == 0 {
		writeEvents(f, next, next+5, testEvent)
		next += 5
		time.Sleep(5 * time.Millisecond)
		if next > 100000 {
			t.Fatalf("the filesystem never filled: %v", f.Stats())
		}
	}
	if b := readFile(t, p); len(b) == 0 || b[len(b)-1] == '\n' {
		t.Skipf("the disk filled at a line boundary (%d bytes): no half-written batch", len(b))
	}
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	f.Reopen()
	time.Sleep(200 * time.Millisecond) // let the sink take the reopen before space returns
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	writeEvents(f, next, next+20, testEvent)
	next += 20
	waitFor(t, "writing to resume", func() bool {
		return counter(f, name, "written")+counter(f, name, "dropped") == uint64(next)
	})
	f.Close()
	var seqs []int
	for _, path := range []string{p + ".1", p} {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, r := range parseJSONLines(t, b) { // fails on a broken line
			seqs = append(seqs, r.ThreadID)
		}
	}
	if written := counter(f, name, "written"); uint64(len(seqs)) != written {
		t.Errorf("%d events in the files, %d written; counters %v", len(seqs), written, f.Stats())
	}
	seen := map[int]bool{}
	for _, s := range seqs {
		if seen[s] {
			t.Errorf("event %d written twice", s)
		}
		seen[s] = true
	}
}

// nearlyFullTmpfs mounts a 64 KiB tmpfs for the test (unmounted after it)
// and fills 48 KiB of it with the file filler, which the test may remove
// to free space.
func nearlyFullTmpfs(t *testing.T) (dir, filler string) {
	t.Helper()
	dir = t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0755"); err != nil {
		ktest.Skip(t, "mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	filler = filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 48<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, filler
}
