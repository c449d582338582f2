package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/auperf/auperf/event"
)

// testEvent fills ev as a perf msync event whose threadId is seq, without
// package decode.
func testEvent(ev *event.Event, seq int) {
	ev.Reset()
	ev.Known = event.HasProcessor | event.HasProcess | event.HasThread | event.HasParent |
		event.HasUser | event.HasEventID | event.HasReturn | event.HasDuration
	ev.Timestamp = 1795689548283123456 + int64(seq)*1000
	ev.ProcessorID = 1
	ev.ProcessID = 6188
	ev.ThreadID = int32(seq)
	ev.ParentProcessID = 6181
	ev.ProcessName = "python3"
	ev.ExecutablePath = "/usr/bin/python3.11"
	ev.HostName = "web01"
	ev.EventID = 26
	ev.EventName = "msync"
	ev.Syscall = "msync"
	ev.Arch = "x86_64"
	a := ev.SetArgs(3)
	a[0] = event.Arg{Name: "addr", Type: "void*", Kind: event.ArgPointer, Value: 0x7f6b0f98e000}
	a[1] = event.Arg{Name: "length", Type: "size_t", Kind: event.ArgUint, Value: 4096}
	a[2] = event.Arg{Name: "flags", Type: "int", Kind: event.ArgInt, Value: 4}
	ev.ReturnValue = -12
	ev.Errno = "ENOMEM"
	ev.Source = event.SourcePerf
	ev.DurationNs = 5120
}

// hostile is what a traced process can put into its name and path to try
// to forge or split records.
var hostileNames = []string{
	"evil\n<13>1 2026-01-01T00:00:00Z h auperf 1 msync - forged",
	`a"] [auperf@32473 pid="1"] x`,
	"ctl\x01\x02\x1b[31m\x7f\r\t\v\f",
	"bad\xff\xfe\xc3utf8\xe2\x80",
	"12 <13>1 - - - - - frame",
	"\u2028sep\u202eRLO\\back\\slash",
	"]]]]\"\"\"\\\\\\",
}

func hostileEvent(ev *event.Event, seq int) {
	testEvent(ev, seq)
	h := hostileNames[seq%len(hostileNames)]
	ev.ProcessName = h
	ev.ExecutablePath = "/tmp/" + h + "\n/x"
}

// jsonRecord is what the tests read back from a JSON line.
type jsonRecord struct {
	ThreadID    int    `json:"threadId"`
	ProcessName string `json:"processName"`
	EventName   string `json:"eventName"`
	Executable  struct {
		Path string `json:"path"`
	} `json:"executable"`
	Truncated bool `json:"truncated"`
}

// parseJSONLines parses every line of data strictly: one JSON object per
// line, nothing else.
func parseJSONLines(t *testing.T, data []byte) []jsonRecord {
	t.Helper()
	var out []jsonRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r jsonRecord
		if err := strictJSON(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v: %q", len(out)+1, err, sc.Bytes())
		}
		out = append(out, r)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("data does not end in a newline: %q", data[max(0, len(data)-80):])
	}
	return out
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

// checkSeqs checks that seqs holds each of 0..n-1 exactly once.
func checkSeqs(t *testing.T, seqs []int, n int) {
	t.Helper()
	seen := make(map[int]int)
	for _, s := range seqs {
		seen[s]++
	}
	for i := 0; i < n; i++ {
		if seen[i] != 1 {
			t.Fatalf("event %d seen %d times (of %d events, %d records)", i, seen[i], n, len(seqs))
		}
	}
	if len(seqs) != n {
		t.Fatalf("%d records for %d events", len(seqs), n)
	}
}

// syslogRecord is one parsed RFC 5424 message with its JSON body.
type syslogRecord struct {
	msg  *rfc5424.SyslogMessage
	body jsonRecord
	raw  string
}

// parse5424 parses one message (without framing) strictly and decodes its
// JSON body (after an optional @cee: cookie).
func parse5424(t *testing.T, raw []byte) syslogRecord {
	t.Helper()
	p := rfc5424.NewParser()
	m, err := p.Parse(raw)
	if err != nil {
		t.Fatalf("not RFC 5424: %v: %q", err, raw)
	}
	sm := m.(*rfc5424.SyslogMessage)
	if sm.Message == nil {
		t.Fatalf("no body: %q", raw)
	}
	body := strings.TrimPrefix(*sm.Message, "@cee:")
	var r jsonRecord
	if err := strictJSON([]byte(body), &r); err != nil {
		t.Fatalf("body is not one JSON object: %v: %q", err, raw)
	}
	if sm.MsgID == nil || *sm.MsgID != r.EventName {
		t.Fatalf("MSGID %v, event %q", sm.MsgID, r.EventName)
	}
	if sm.StructuredData != nil {
		sd := (*sm.StructuredData)[sdID]
		if tid, ok := sd["tid"]; ok && tid != strconv.Itoa(r.ThreadID) {
			t.Fatalf("SD tid %q, body threadId %d: %q", tid, r.ThreadID, raw)
		}
		if c, ok := sd["comm"]; ok {
			want := string(event.AppendEscaped(nil, r.ProcessName))
			if !strings.Contains(r.ProcessName, "\ufffd") && c != want {
				t.Fatalf("SD comm %q, want %q", c, want)
			}
		}
	}
	return syslogRecord{msg: sm, body: r, raw: string(raw)}
}

// splitOctetCounted splits an RFC 6587 octet-counted stream into its
// complete frames. The collector reads while the sink still writes, so the
// stream may end inside a frame (its length or its body): that tail is not
// a frame yet and is left out; callers count frames, so a frame that never
// completes still fails them. Anything else malformed fails the test.
func splitOctetCounted(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp < 0 && len(data) < 10 && len(bytes.Trim(data, "0123456789")) == 0 {
			break // the length itself is still arriving
		}
		if sp <= 0 {
			t.Fatalf("bad frame at %q", data[:min(len(data), 40)])
		}
		n, err := strconv.Atoi(string(data[:sp]))
		if err != nil || n <= 0 {
			t.Fatalf("bad frame length at %q", data[:min(len(data), 40)])
		}
		if sp+1+n > len(data) {
			break // the body is still arriving
		}
		out = append(out, data[sp+1:sp+1+n])
		data = data[sp+1+n:]
	}
	return out
}

// waitFor polls cond up to 20s (a bound for a broken test, not a timing
// assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counter(f *Fanout, source, name string) uint64 {
	for _, c := range f.Stats() {
		if c.Source == source && c.Name == name {
			return c.Value
		}
	}
	return 0
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
