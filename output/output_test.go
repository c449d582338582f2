package output

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
)

func TestParseSpec(t *testing.T) {
	opts := Options{}
	opts.setDefaults()
	good := []struct {
		spec  string
		check func(*sinkSpec) bool
	}{
		{"json", func(s *sinkSpec) bool { return s.kind == kindStdout && s.format == formatJSON }},
		{"text?color=never", func(s *sinkSpec) bool { return s.kind == kindStdout && s.color == "never" }},
		{"json:/var/log/auperf/events.jsonl?max_size=100MB&keep=5&mode=0600&fsync=1s&flush=50ms", func(s *sinkSpec) bool {
			return s.kind == kindFile && s.path == "/var/log/auperf/events.jsonl" && s.maxSize == 100<<20 &&
				s.keep == 5 && s.mode == 0o600 && s.fsync.Seconds() == 1 && s.flush.Milliseconds() == 50 &&
				s.name == "json:/var/log/auperf/events.jsonl"
		}},
		{"text:rel/x.log", func(s *sinkSpec) bool { return s.kind == kindFile && s.path == "rel/x.log" && s.color == "never" }},
		{"syslog", func(s *sinkSpec) bool {
			return s.network == netUnix && s.addr == "/dev/log" && s.facility == 16 && s.severity == 6 && s.msgMax == 8192
		}},
		{"syslog?socket=/run/x.sock", func(s *sinkSpec) bool { return s.addr == "/run/x.sock" }},
		{"syslog:unix:///tmp/s", func(s *sinkSpec) bool { return s.network == netUnix && s.addr == "/tmp/s" }},
		{"syslog:udp://10.0.0.1", func(s *sinkSpec) bool { return s.addr == "10.0.0.1:514" && s.msgMax == 2048 }},
		{"syslog:udp://[::1]:1514?msg_max=4k", func(s *sinkSpec) bool { return s.addr == "[::1]:1514" && s.msgMax == 4096 }},
		{"syslog:tcp://127.0.0.1:6514?format=rfc3164&cee=1&facility=daemon&severity=notice", func(s *sinkSpec) bool {
			return s.network == netTCP && s.rfc3164 && s.cee && s.facility == 3 && s.severity == 5
		}},
		{"syslog:tls://logs.example.com?ca=/ca.pem&cert=/c.pem&key=/k.pem&server_name=collector", func(s *sinkSpec) bool {
			return s.addr == "logs.example.com:6514" && s.ca == "/ca.pem" && s.serverName == "collector" &&
				s.name == "syslog:tls://logs.example.com"
		}},
	}
	for _, g := range good {
		s, err := parseSpec(g.spec, &opts)
		if err != nil {
			t.Errorf("%s: %v", g.spec, err)
			continue
		}
		if !g.check(s) {
			t.Errorf("%s: parsed as %+v", g.spec, s)
		}
	}
	bad := []string{
		"", "xml", "json:", "json?max_size=1MB", "json:/x?bogus=1", "json:/x?mode=999", "json:/x?keep=-1",
		"json:/x?max_size=lots", "json:/x?flush=soon", "text:/x?color=sometimes",
		"syslog:udp://", "syslog:udp://h:99999", "syslog:http://h:1", "syslog:tcp:h:1", "syslog:unix://rel",
		"syslog:tcp://h:1?ca=/x", "syslog:tls://h:1?cert=/c", "syslog?format=rfc9999", "syslog?facility=nope",
		"syslog?severity=loud", "syslog?msg_max=10", "syslog:tcp://h:1?socket=/x", "syslog?cee=maybe",
		"json:/x?keep=1&keep=2",
	}
	for _, b := range bad {
		if _, err := Open([]string{b}, Options{}); err == nil {
			t.Errorf("%q: no error", b)
		} else {
			var se *SpecError
			if !errors.As(err, &se) || se.Spec != b || !strings.Contains(err.Error(), strconv.Quote(b)) {
				t.Errorf("%q: error does not name the spec: %v", b, err)
			}
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, spec := range []string{
		"syslog:tcp://" + addr,
		"syslog:unix://" + filepath.Join(dir, "nosock"),
		"syslog:tls://" + addr + "?ca=" + filepath.Join(dir, "missing.pem"),
		"json:" + filepath.Join(dir, "file") + "/under/a/file", // parent is a file below
	} {
		if spec[0] == 'j' {
			os.WriteFile(filepath.Join(dir, "file"), nil, 0o600)
		}
		f, err := Open([]string{"json:" + filepath.Join(dir, "ok.jsonl"), spec}, Options{})
		if err == nil {
			f.Close()
			t.Errorf("%s: opened", spec)
			continue
		}
		if !strings.Contains(err.Error(), spec) {
			t.Errorf("%s: error does not name it: %v", spec, err)
		}
	}
}

func TestFileSinks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub", "dir")
	jpath, tpath := filepath.Join(dir, "e.jsonl"), filepath.Join(dir, "e.txt")
	var stdout bytes.Buffer
	// The queues hold the whole burst: this test is about what the files
	// hold, and a burst faster than a sink writes is dropped by design
	// (counted), which TestSlowSinkDoesNotBlock covers.
	const q = "?queue=65536"
	f, err := Open([]string{"json:" + jpath + q, "text:" + tpath + q, "json" + q}, Options{Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	const n = 5000
	for i := 0; i < n; i++ {
		testEvent(&ev, i)
		f.Write(&ev)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{jpath, tpath} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want 0640", p, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o750 {
		t.Errorf("dir mode %v, want 0750", st.Mode().Perm())
	}
	for _, data := range [][]byte{readFile(t, jpath), stdout.Bytes()} {
		recs := parseJSONLines(t, data)
		seqs := make([]int, len(recs))
		for i, r := range recs {
			seqs[i] = r.ThreadID
		}
		checkSeqs(t, seqs, n)
	}
	// The text file holds the same lines AppendText makes, in order.
	var want []byte
	for i := 0; i < n; i++ {
		testEvent(&ev, i)
		want = event.AppendText(want, &ev, false)
	}
	if got := readFile(t, tpath); !bytes.Equal(got, want) {
		t.Errorf("text file differs from AppendText (%d vs %d bytes)", len(got), len(want))
	}
	for _, c := range f.Stats() {
		switch c.Name {
		case "received", "written":
			if c.Value != n {
				t.Errorf("%s %s = %d, want %d", c.Source, c.Name, c.Value, n)
			}
		case "dropped", "errors":
			if c.Value != 0 {
				t.Errorf("%s %s = %d", c.Source, c.Name, c.Value)
			}
		}
	}
}

func TestFileModeOption(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.jsonl")
	f, err := Open([]string{"json:" + p + "?mode=0600"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
}

// collectRotated reads PATH, PATH.1 .. and returns the thread ids in the
// order written (oldest file first).
func collectRotated(t *testing.T, path string, keep int) []int {
	var seqs []int
	for i := keep; i >= 0; i-- {
		p := path
		if i > 0 {
			p = path + "." + strconv.Itoa(i)
		}
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range parseJSONLines(t, data) {
			seqs = append(seqs, r.ThreadID)
		}
	}
	return seqs
}

func TestSizeRotation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.jsonl")
	f, err := Open([]string{"json:" + p + "?max_size=512k&keep=50&queue=65536"}, Options{BatchBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	const n = 20000
	for i := 0; i < n; i++ {
		testEvent(&ev, i)
		f.Write(&ev)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	seqs := collectRotated(t, p, 50)
	checkSeqs(t, seqs, n)
	for i, s := range seqs {
		if s != i {
			t.Fatalf("event %d out of order: %d", i, s)
		}
	}
	for i := 1; i <= 50; i++ {
		st, err := os.Stat(p + "." + strconv.Itoa(i))
		if err != nil {
			break
		}
		if st.Size() > 512<<10 {
			t.Errorf("%s.%d is %d bytes", p, i, st.Size())
		}
	}
	if _, err := os.Stat(p + ".3"); err != nil {
		t.Errorf("no rotation happened: %v", err)
	}
}

func TestSizeRotationKeepsN(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.jsonl")
	f, err := Open([]string{"json:" + p + "?max_size=8k&keep=2&queue=65536"}, Options{BatchBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	for i := 0; i < 2000; i++ {
		testEvent(&ev, i)
		f.Write(&ev)
	}
	f.Close()
	names, _ := filepath.Glob(p + "*")
	if len(names) != 3 {
		t.Errorf("files %v, want PATH, PATH.1, PATH.2", names)
	}
	seqs := collectRotated(t, p, 2)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("kept files are not the newest contiguous run: %d after %d", seqs[i], seqs[i-1])
		}
	}
	if seqs[len(seqs)-1] != 1999 {
		t.Errorf("last event %d", seqs[len(seqs)-1])
	}
}

// TestReopenUnderFlow is logrotate's rename + SIGHUP while events keep
// coming: old and new file together hold every event exactly once.
func TestReopenUnderFlow(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.jsonl")
	f, err := Open([]string{"json:" + p + "?queue=65536"}, Options{BatchBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	const n = 30000
	var wg sync.WaitGroup
	wg.Add(1)
	rotated := make(chan struct{})
	go func() {
		defer wg.Done()
		var ev event.Event
		for i := 0; i < n; i++ {
			testEvent(&ev, i)
			f.Write(&ev)
			if i == n/3 {
				<-rotated // make sure some events come after the rotation
			}
		}
	}()
	waitFor(t, "first events in the file", func() bool {
		st, err := os.Stat(p)
		return err == nil && st.Size() > 0
	})
	if err := os.Rename(p, p+".old"); err != nil {
		t.Fatal(err)
	}
	f.Reopen()
	close(rotated)
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	oldRecs := parseJSONLines(t, readFile(t, p+".old"))
	newRecs := parseJSONLines(t, readFile(t, p))
	if len(oldRecs) == 0 || len(newRecs) == 0 {
		t.Fatalf("old file %d events, new file %d: the reopen did not split the flow", len(oldRecs), len(newRecs))
	}
	var seqs []int
	for _, r := range append(oldRecs, newRecs...) {
		seqs = append(seqs, r.ThreadID)
	}
	checkSeqs(t, seqs, n)
}

// blockingWriter blocks every Write until released.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// TestSlowSinkDoesNotBlock: a stuck stdout neither blocks Write nor costs
// the file sink an event; the stuck sink counts what it dropped.
func TestSlowSinkDoesNotBlock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.jsonl")
	bw := &blockingWriter{release: make(chan struct{})}
	f, err := Open([]string{"json:" + p + "?queue=65536", "text?queue=2"}, Options{Stdout: bw, BatchBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	const n = 20000
	for i := 0; i < n; i++ { // would hang here if Write waited for stdout
		testEvent(&ev, i)
		f.Write(&ev)
	}
	f.Flush()
	waitFor(t, "the file sink to write everything", func() bool { return counter(f, "output:json:"+p, "written") == n })
	dropped := counter(f, "output:text", "dropped")
	if dropped == 0 {
		t.Errorf("stuck sink dropped nothing")
	}
	close(bw.release)
	if err := f.Close(); err == nil || !strings.Contains(err.Error(), "dropped") {
		t.Errorf("Close did not report the drops: %v", err)
	}
	lines := bytes.Count(bw.buf.Bytes(), []byte{'\n'})
	if uint64(lines)+counter(f, "output:text", "dropped") != n || counter(f, "output:text", "written") != uint64(lines) {
		t.Errorf("text: %d lines written, counters %v", lines, f.Stats())
	}
	checkSeqs(t, seqsOf(parseJSONLines(t, readFile(t, p))), n)
}

func seqsOf(recs []jsonRecord) []int {
	s := make([]int, len(recs))
	for i, r := range recs {
		s[i] = r.ThreadID
	}
	return s
}

func TestWriteDoesNotAllocate(t *testing.T) {
	dir := t.TempDir()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go io.Copy(io.Discard, readerOf(pc))
	f, err := Open([]string{
		"json:" + filepath.Join(dir, "a.jsonl"), "text:" + filepath.Join(dir, "a.txt"),
		"syslog:udp://" + pc.LocalAddr().String(),
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ev event.Event
	testEvent(&ev, 1)
	for i := 0; i < 2000; i++ { // warm the pool
		f.Write(&ev)
	}
	allocs := testing.AllocsPerRun(5000, func() { f.Write(&ev) })
	if allocs > 0.01 {
		t.Errorf("Write allocates %.3f times per event", allocs)
	}
}

type packetReader struct{ pc net.PacketConn }

func (r packetReader) Read(p []byte) (int, error) {
	n, _, err := r.pc.ReadFrom(p)
	return n, err
}

func readerOf(pc net.PacketConn) io.Reader { return packetReader{pc} }

func TestDefaultSpec(t *testing.T) {
	if DefaultSpec(true) != "text" || DefaultSpec(false) != "json" {
		t.Fatal("DefaultSpec")
	}
}

func TestTextColor(t *testing.T) {
	var buf bytes.Buffer
	f, err := Open([]string{"text?color=always"}, Options{Stdout: &buf})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	testEvent(&ev, 1)
	f.Write(&ev)
	f.Close()
	if !bytes.Equal(buf.Bytes(), event.AppendText(nil, &ev, true)) {
		t.Errorf("color=always: %q", buf.String())
	}
	buf.Reset()
	// A buffer is not a terminal: auto means no colour.
	f, _ = Open([]string{"text"}, Options{Stdout: &buf})
	f.Write(&ev)
	f.Close()
	if bytes.Contains(buf.Bytes(), []byte("\x1b[")) {
		t.Errorf("auto on a non-terminal coloured: %q", buf.String())
	}
}

var _ = bufio.NewReader

// TestSpecHelpDocumentsEveryOption keeps --help in step with the parser.
func TestSpecHelpDocumentsEveryOption(t *testing.T) {
	for _, l := range [][]string{commonOpts, textOpts, fileOpts, syslogOpts, tlsOpts} {
		for _, k := range l {
			if !strings.Contains(SpecHelp, k+"=") {
				t.Errorf("SpecHelp does not document %s=", k)
			}
		}
	}
}

func TestFsyncAndFlushOptions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.jsonl")
	f, err := Open([]string{"json:" + p + "?fsync=5ms&flush=1ms"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(f, 0, 10, testEvent)
	// The flush delay, not Close, brings the events to the file.
	waitFor(t, "events in the file", func() bool {
		st, err := os.Stat(p)
		return err == nil && st.Size() > 0 && counter(f, "output:json:"+p, "written") == 10
	})
	writeEvents(f, 10, 20, testEvent)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, seqsOf(parseJSONLines(t, readFile(t, p))), 20)
}

// A file sink whose directory is removed under it (a cleanup, an operator
// rm -r) does not keep writing into the deleted file, where every event
// would be counted written and be gone: it creates the path again.
func TestFileSinkDirectoryRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	p := filepath.Join(dir, "e.jsonl")
	name := "output:json:" + p
	f, err := Open([]string{"json:" + p + "?flush=1ms"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeEvents(f, 0, 10, testEvent)
	waitFor(t, "first events written", func() bool { return counter(f, name, "written") == 10 })
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	next := 10
	waitFor(t, "the file created again", func() bool {
		writeEvents(f, next, next+1, testEvent)
		next++
		_, err := os.Stat(p)
		return err == nil
	})
	writeEvents(f, next, next+5, testEvent)
	next += 5
	waitFor(t, "all written", func() bool { return counter(f, name, "written") == uint64(next) })
	if recs := parseJSONLines(t, readFile(t, p)); len(recs) < 5 || recs[len(recs)-1].ThreadID != next-1 {
		t.Errorf("the new file holds %d events, want the last ones up to %d", len(recs), next-1)
	}
}

// A sink stuck in a write that has no timeout (stdout into a pipe nobody
// reads, a file on a hung NFS mount) does not make Close hang: Close gives
// up on it after its timeout, says so, and closes the other sinks.
func TestCloseGivesUpOnStuckSink(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.jsonl")
	bw := &blockingWriter{release: make(chan struct{})}
	defer close(bw.release) // lets the stuck goroutine end with the test
	f, err := Open([]string{"json:" + p, "text"}, Options{Stdout: bw, CloseTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(f, 0, 100, testEvent)
	f.Flush()
	done := make(chan error, 1)
	go func() { done <- f.Close() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "output text is stuck") {
			t.Errorf("Close did not name the stuck sink: %v", err)
		}
		t.Logf("Close: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Close hung on a sink stuck in a write")
	}
	checkSeqs(t, seqsOf(parseJSONLines(t, readFile(t, p))), 100)
}
