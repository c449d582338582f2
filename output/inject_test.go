package output

import (
	"bytes"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/auperf/auperf/event"
)

// TestInjection: process names and paths with newlines, ']', '"', control
// bytes and invalid UTF-8 cannot forge or split a record in any sink.
// Every sink's output is parsed back record by record.
func TestInjection(t *testing.T) {
	dir := t.TempDir()
	tcp := newTCPCollector(t, "127.0.0.1:0")
	tcp3164 := newTCPCollector(t, "127.0.0.1:0")
	udp := newPacketCollector(t, "udp", "127.0.0.1:0")
	dg := newPacketCollector(t, "unixgram", filepath.Join(dir, "log.sock"))
	jpath, tpath := filepath.Join(dir, "e.jsonl"), filepath.Join(dir, "e.txt")
	f, err := Open([]string{
		"json:" + jpath, "text:" + tpath,
		"syslog:tcp://" + tcp.ln.Addr().String() + "?cee=1",
		"syslog:tcp://" + tcp3164.ln.Addr().String() + "?format=rfc3164",
		"syslog:udp://" + udp.pc.LocalAddr().String(),
		"syslog:unix://" + filepath.Join(dir, "log.sock"),
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 10 * len(hostileNames)
	writeEvents(f, 0, n, hostileEvent)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	recs := parseJSONLines(t, readFile(t, jpath))
	checkSeqs(t, seqsOf(recs), n)
	for _, r := range recs {
		// Invalid UTF-8 becomes U+FFFD in JSON; every valid name must
		// come back as it was.
		if h := hostileNames[r.ThreadID%len(hostileNames)]; utf8.ValidString(h) && r.ProcessName != h {
			t.Errorf("processName %q, want %q", r.ProcessName, h)
		}
	}

	text := readFile(t, tpath)
	lines := bytes.Split(bytes.TrimSuffix(text, []byte{'\n'}), []byte{'\n'})
	if len(lines) != n {
		t.Fatalf("text: %d lines for %d events", len(lines), n)
	}
	var ev event.Event
	for i, l := range lines {
		hostileEvent(&ev, i)
		if want := event.AppendText(nil, &ev, false); string(l)+"\n" != string(want) {
			t.Fatalf("text line %d: %q, want %q", i, l, want)
		}
		if bytes.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("text line %d holds a control byte: %q", i, l)
		}
	}

	var seqs []int
	waitFor(t, "TCP frames", func() bool { return len(splitOctetCounted(t, tcp.bytes())) == n })
	for _, m := range splitOctetCounted(t, tcp.bytes()) {
		seqs = append(seqs, parse5424(t, m).body.ThreadID)
	}
	checkSeqs(t, seqs, n)

	for _, c := range []*packetCollector{udp, dg} {
		waitFor(t, "datagrams", func() bool { return c.count() == n })
		seqs = seqs[:0]
		for _, m := range c.messages() {
			seqs = append(seqs, parse5424(t, m).body.ThreadID)
		}
		checkSeqs(t, seqs, n)
	}

	waitFor(t, "RFC 3164 frames", func() bool { return len(splitOctetCounted(t, tcp3164.bytes())) == n })
	seqs = seqs[:0]
	for _, m := range splitOctetCounted(t, tcp3164.bytes()) {
		_, body, ok := bytes.Cut(m, []byte("]: "))
		if !ok || bytes.ContainsFunc(m, func(r rune) bool { return r < 0x20 }) {
			t.Fatalf("RFC 3164 message %q", m)
		}
		var r jsonRecord
		if err := strictJSON(body, &r); err != nil {
			t.Fatalf("RFC 3164 body: %v: %q", err, m)
		}
		seqs = append(seqs, r.ThreadID)
	}
	checkSeqs(t, seqs, n)
}
