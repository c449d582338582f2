// Attacker-controlled strings end to end: a traced process whose name,
// executable path and command line (audit's PROCTITLE) are built to forge a record or break a frame (a newline
// and a JSON object, quotes, a terminal escape, a syslog header, @cee:)
// goes through every sink and format of one run; every record of every
// output is parsed, one by one, and nothing forged appears.

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/auperf/auperf/internal/workload"
)

// hostileName is the executable's file name (and, cut to 15 bytes, its
// comm): a newline, a JSON record, a syslog header, an escape, @cee:.
const hostileName = "w\n{\"eventName\":\"forged\"}\n<13>1 - - - - - -\x1b[2J@cee:{\"x\":1}\"'\\"

// collectUnixgram listens on a unixgram socket and keeps every datagram.
func collectUnixgram(t *testing.T, path string) func() [][]byte {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan []byte, 4096)
	go func() {
		b := make([]byte, 65536)
		for {
			n, err := c.Read(b)
			if err != nil {
				close(ch)
				return
			}
			ch <- append([]byte(nil), b[:n]...)
		}
	}()
	return func() [][]byte {
		var out [][]byte
		for {
			select {
			case m, ok := <-ch:
				if !ok {
					return out
				}
				out = append(out, m)
			case <-time.After(500 * time.Millisecond):
				return out
			}
		}
	}
}

var rfc3164Head = regexp.MustCompile(`^<\d{1,3}>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ auperf\[\d+\]: `)

func TestIntegrationHostileStrings(t *testing.T) {
	eachSource(t, func(t *testing.T, src, dir, bin string) {
		hostile := filepath.Join(dir, hostileName)
		if err := workload.CopyFile(workload.Build(t), hostile); err != nil {
			t.Fatal(err)
		}
		os.Chmod(hostile, 0o755)
		jsonOut, textOut := filepath.Join(dir, "e.json"), filepath.Join(dir, "e.txt")
		s5424, s3164, scee := filepath.Join(dir, "5424.sock"), filepath.Join(dir, "3164.sock"), filepath.Join(dir, "cee.sock")
		get5424, get3164, getCee := collectUnixgram(t, s5424), collectUnixgram(t, s3164), collectUnixgram(t, scee)
		args := []string{"run", "--config", "", "--source", src, "--events", "msync", "--stats-interval", "0",
			"--output", "json:" + jsonOut, "--output", "text:" + textOut + "?color=always",
			"--output", "syslog:unix://" + s5424, "--output", "syslog:unix://" + s3164 + "?format=rfc3164",
			"--output", "syslog:unix://" + scee + "?cee=1"}
		if src == "audit" {
			// Full records: the kernel sends the PROCTITLE (the
			// hostile command line, hex) with each call.
			args = append(args, "--audit-lean", "off")
		}
		// The command line (audit's proctitle) is hostile too: the
		// workload ignores arguments after its flags.
		args = append(args, "--", hostile, "-once", "-out", "/dev/null", "--", hostileName, "\r\x7f\t"+hostileName)
		st, stderr := runAuperf(t, bin, args...)
		if st != 0 {
			t.Fatalf("exit %d\n%s", st, stderr)
		}
		// JSON: every line one object; the hostile process's msync is
		// there once, with its name and path as strings; nothing forged.
		var events, hostileEvents int
		sc := bufio.NewScanner(strings.NewReader(readFile(jsonOut)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				Name string `json:"eventName"`
				Comm string `json:"processName"`
				Exe  struct {
					Path string `json:"path"`
				} `json:"executable"`
			}
			if err := strictJSONLine(sc.Bytes(), &ev); err != nil {
				t.Fatalf("json: %v: %q", err, sc.Bytes())
			}
			if ev.Name == "forged" {
				t.Fatalf("a forged record: %q", sc.Bytes())
			}
			events++
			if ev.Name == "msync" && strings.HasPrefix(ev.Comm, "w\n{") {
				hostileEvents++
				if ev.Exe.Path != "" && ev.Exe.Path != hostile {
					t.Errorf("executable path %q, want %q", ev.Exe.Path, hostile)
				}
			}
		}
		if hostileEvents != 1 {
			t.Fatalf("%d msyncs of the hostile process in the JSON, want 1 (of %d events)", hostileEvents, events)
		}
		// Text: one line per event, no raw control byte but the newline
		// and the colour codes auperf itself writes.
		text := readFile(textOut)
		if n := strings.Count(text, "\n"); n != events {
			t.Errorf("text has %d lines for %d events", n, events)
		}
		plain := regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(text, "")
		for _, c := range plain {
			if c < 0x20 && c != '\n' || c == 0x7f {
				t.Fatalf("raw control byte %q in the text output", c)
			}
		}
		// Syslog: one datagram per event, each a well-formed message
		// whose body is one JSON object.
		m5424, mcee := get5424(), getCee()
		for _, m := range m5424 {
			parse5424Line(t, m)
		}
		for _, m := range mcee {
			body := parse5424Line(t, m)
			if !strings.HasPrefix(body, "@cee:") {
				t.Fatalf("cee=1 body without @cee: %q", m)
			}
		}
		if len(m5424) != events || len(mcee) != events {
			t.Errorf("%d RFC 5424 and %d @cee: messages for %d events", len(m5424), len(mcee), events)
		}
		n3164 := 0
		for _, m := range get3164() {
			n3164++
			head := rfc3164Head.FindIndex(m)
			if head == nil || strings.ContainsAny(string(m), "\n\r\x00") {
				t.Fatalf("not one RFC 3164 message: %q", m)
			}
			var v map[string]any
			if err := strictJSONLine(m[head[1]:], &v); err != nil {
				t.Fatalf("RFC 3164 body: %v: %q", err, m)
			}
		}
		if n3164 != events {
			t.Errorf("%d RFC 3164 messages for %d events", n3164, events)
		}
	})
}

// parse5424Line parses one RFC 5424 message and checks its body is one
// JSON object (after @cee:); it returns the body.
func parse5424Line(t *testing.T, m []byte) string {
	t.Helper()
	msg, err := rfc5424.NewParser().Parse(m)
	if err != nil {
		t.Fatalf("not RFC 5424: %v: %q", err, m)
	}
	sm := msg.(*rfc5424.SyslogMessage)
	if sm.Message == nil {
		t.Fatalf("no body: %q", m)
	}
	var v map[string]any
	if err := strictJSONLine([]byte(strings.TrimPrefix(*sm.Message, "@cee:")), &v); err != nil {
		t.Fatalf("body: %v: %q", err, m)
	}
	if v["eventName"] == "forged" {
		t.Fatalf("forged: %q", m)
	}
	return *sm.Message
}

// strictJSONLine decodes exactly one JSON value from b.
func strictJSONLine(b []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errTrailing
	}
	return nil
}

var errTrailing = errors.New("trailing data after one JSON value")
