package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/auperf/auperf/event"
)

// FuzzParseSpec: no spec makes the parser panic, and an accepted spec has
// a kind and a counter name without its options.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"json", "text:/x?color=always", "json:/var/log/a.jsonl?max_size=100MB&keep=5&mode=0640&fsync=1s&flush=200ms",
		"syslog", "syslog?socket=/run/s", "syslog:udp://h:514?msg_max=4k", "syslog:tcp://[::1]:6514?format=rfc3164&cee=1",
		"syslog:tls://h?ca=/c&cert=/a&key=/b&server_name=n", "syslog:unix:///dev/log", "json:%zz?x", "syslog:tcp://:1",
	} {
		f.Add(s)
	}
	opts := Options{}
	opts.setDefaults()
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := parseSpec(raw, &opts)
		if err != nil {
			return
		}
		if strings.Contains(s.name, "?") || !strings.HasPrefix(raw, s.name) {
			t.Fatalf("%q: counter name %q", raw, s.name)
		}
		if s.kind == kindSyslog && (s.addr == "" || s.msgMax < 480) {
			t.Fatalf("%q: parsed as %+v", raw, s)
		}
	})
}

// FuzzSyslogMessage: whatever a process calls itself, its message is one
// RFC 5424 record without control bytes whose SD and JSON body hold the
// event, for every format option.
func FuzzSyslogMessage(f *testing.F) {
	for _, h := range hostileNames {
		f.Add(h, "/bin/"+h, false, false)
	}
	f.Add(strings.Repeat("\x00\n", 600), strings.Repeat("]", 5000), true, true)
	f.Fuzz(func(t *testing.T, name, exe string, cee, small bool) {
		spec := &sinkSpec{facility: defaultFacility, severity: defaultSeverity, cee: cee, msgMax: 8192, hostname: "h"}
		if small {
			spec.msgMax = 480
		}
		sf := newSyslogFormat(spec)
		var ev event.Event
		testEvent(&ev, 3)
		ev.ProcessName, ev.ExecutablePath, ev.HostName = name, exe, name
		js := event.AppendJSON(nil, &ev)
		msg, ok, _ := sf.appendMessage(nil, &ev, js)
		if !ok {
			if !small {
				t.Fatalf("dropped at msg_max 8192: name %d bytes, exe %d", len(name), len(exe))
			}
			return
		}
		if len(msg) > spec.msgMax {
			t.Fatalf("%d bytes > msg_max %d", len(msg), spec.msgMax)
		}
		if bytes.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("control byte in %q", msg)
		}
		m, err := rfc5424.NewParser().Parse(msg)
		if err != nil {
			t.Fatalf("%v: %q", err, msg)
		}
		sm := m.(*rfc5424.SyslogMessage)
		body := *sm.Message
		if cee {
			if !strings.HasPrefix(body, "@cee:") {
				t.Fatalf("no cookie: %q", msg)
			}
			body = body[5:]
		}
		var r jsonRecord
		if err := strictJSON([]byte(body), &r); err != nil || r.ThreadID != 3 {
			t.Fatalf("body %v: %q", err, body)
		}
		sd := (*sm.StructuredData)[sdID]
		if len(*sm.StructuredData) != 1 || sd["tid"] != "3" || sd["syscall"] != "msync" {
			t.Fatalf("structured data %v in %q", *sm.StructuredData, msg)
		}
		if !r.Truncated && sd["comm"] != string(event.AppendEscaped(nil, name)) && name != "" {
			t.Fatalf("comm %q, want %q", sd["comm"], event.AppendEscaped(nil, name))
		}
	})
}
