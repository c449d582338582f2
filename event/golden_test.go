package event

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current encoders")

// TestGolden compares the encoders' output for the fixtures with
// testdata/events.{json,text,color}.golden (go test ./event -update rewrites them).
func TestGolden(t *testing.T) {
	encoders := []struct {
		file string
		enc  func([]byte, *Event) []byte
	}{
		{"events.json.golden", AppendJSON},
		{"events.text.golden", func(b []byte, ev *Event) []byte { return AppendText(b, ev, false) }},
		{"events.color.golden", func(b []byte, ev *Event) []byte { return AppendText(b, ev, true) }},
	}
	for _, e := range encoders {
		t.Run(e.file, func(t *testing.T) {
			var got []byte
			var ev Event
			for _, f := range fixtures {
				f.fill(&ev)
				line := e.enc(nil, &ev)
				if bytes.IndexByte(line, '\n') != len(line)-1 {
					t.Errorf("%s: not exactly one line: %q", f.name, line)
				}
				got = append(got, line...)
			}
			path := filepath.Join("testdata", e.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./event -update to create it)", err)
			}
			gl, wl := strings.SplitAfter(string(got), "\n"), strings.SplitAfter(string(want), "\n")
			for i := range max(len(gl), len(wl)) {
				var g, w string
				if i < len(gl) {
					g = gl[i]
				}
				if i < len(wl) {
					w = wl[i]
				}
				if g != w {
					name := "?"
					if i < len(fixtures) {
						name = fixtures[i].name
					}
					t.Errorf("line %d (%s):\n got %q\nwant %q", i+1, name, g, w)
				}
			}
		})
	}
}

// TestGoldenJSONParses decodes every golden JSON line with encoding/json and
// compares it, keys in order, with a model of the schema written
// independently of the encoder.
func TestGoldenJSONParses(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "events.json.golden"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(fixtures) {
		t.Fatalf("%d golden lines for %d fixtures", len(lines), len(fixtures))
	}
	var ev Event
	for i, f := range fixtures {
		f.fill(&ev)
		checkJSONLine(t, f.name, []byte(lines[i]+"\n"), &ev)
	}
}

// checkJSONLine asserts that line is one line of valid UTF-8 JSON whose keys
// (in order) and values are those the schema prescribes for ev.
func checkJSONLine(t *testing.T, name string, line []byte, ev *Event) {
	t.Helper()
	if len(line) == 0 || bytes.IndexByte(line, '\n') != len(line)-1 {
		t.Errorf("%s: not exactly one line: %q", name, line)
		return
	}
	if !utf8.Valid(line) {
		t.Errorf("%s: invalid UTF-8: %q", name, line)
	}
	for _, c := range line[:len(line)-1] {
		if c < 0x20 || c == 0x7f {
			t.Errorf("%s: raw control byte %#x in %q", name, c, line)
			break
		}
	}
	keys, got, err := decodeOrdered(line)
	if err != nil {
		t.Errorf("%s: %v: %s", name, err, line)
		return
	}
	wantKeys, want := model(ev)
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("%s: keys\n got %q\nwant %q", name, keys, wantKeys)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("%s: values\n got %s\nwant %s", name, g, w)
	}
}

// decodeOrdered decodes a JSON object, numbers as json.Number, and returns
// its top-level keys in order.
func decodeOrdered(line []byte) ([]string, map[string]any, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, nil, err
	}
	if d.More() {
		return nil, nil, errTrailing
	}
	var keys []string
	d = json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if _, err := d.Token(); err != nil { // {
		return nil, nil, err
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return nil, nil, err
		}
	}
	return keys, m, nil
}

var errTrailing = errorString("trailing data after the object")

type errorString string

func (e errorString) Error() string { return string(e) }

// sanitized is what a JSON reader must get back for s: each byte of
// invalid UTF-8 replaced by U+FFFD, everything else unchanged.
func sanitized(s string) string {
	var b strings.Builder
	for _, r := range s { // range yields U+FFFD for each invalid byte
		b.WriteRune(r)
	}
	return b.String()
}

// model is the schema of the package documentation, written plainly.
func model(ev *Event) ([]string, map[string]any) {
	var keys []string
	m := map[string]any{}
	put := func(k string, v any) { keys = append(keys, k); m[k] = v }
	num := func(v int64) json.Number { return json.Number(strconv.FormatInt(v, 10)) }
	unum := func(v uint64) json.Number { return json.Number(strconv.FormatUint(v, 10)) }
	hex := func(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }
	k := ev.Known
	put("timestamp", num(ev.Timestamp))
	if k&HasProcessor != 0 {
		put("processorId", num(int64(ev.ProcessorID)))
	}
	if k&HasProcess != 0 {
		put("processId", num(int64(ev.ProcessID)))
	}
	if k&HasThread != 0 {
		put("threadId", num(int64(ev.ThreadID)))
	}
	if k&HasParent != 0 {
		put("parentProcessId", num(int64(ev.ParentProcessID)))
	}
	if k&HasUser != 0 {
		put("userId", unum(uint64(ev.UserID)))
	}
	if k&HasGroup != 0 {
		put("groupId", unum(uint64(ev.GroupID)))
	}
	if k&HasLoginUser != 0 {
		put("loginUserId", unum(uint64(ev.LoginUserID)))
	}
	if k&HasSession != 0 {
		put("sessionId", unum(uint64(ev.SessionID)))
	}
	if ev.ProcessName != "" {
		put("processName", sanitized(ev.ProcessName))
	}
	if ev.ExecutablePath != "" {
		put("executable", map[string]any{"path": sanitized(ev.ExecutablePath)})
	}
	if ev.HostName != "" {
		put("hostName", sanitized(ev.HostName))
	}
	if c := ev.Container; c != nil {
		cm := map[string]any{"id": sanitized(c.ID), "runtime": sanitized(c.Runtime)}
		if c.PidNS != 0 {
			cm["pidNs"] = unum(c.PidNS)
		}
		if c.MntNS != 0 {
			cm["mntNs"] = unum(c.MntNS)
		}
		put("container", cm)
	}
	if f := ev.File; f != nil {
		fm := map[string]any{"from": f.From}
		if f.From != "gone" {
			// dev_t 0xfe00 is 254:0 (major in bits 8-19, minor in 0-7).
			fm["path"] = sanitized(f.Path)
			fm["device"] = fmt.Sprintf("%d:%d", (f.Dev>>8)&0xfff, f.Dev&0xff)
			fm["inode"] = unum(f.Inode)
		}
		put("file", fm)
	}
	if k&HasEventID != 0 {
		put("eventId", strconv.Itoa(int(ev.EventID)))
	}
	put("eventName", sanitized(ev.EventName))
	if ev.Syscall != "" {
		put("syscall", sanitized(ev.Syscall))
	}
	if ev.Arch != "" {
		put("arch", sanitized(ev.Arch))
	}
	put("argsNum", num(int64(len(ev.Args))))
	if k&HasReturn != 0 {
		put("returnValue", num(ev.ReturnValue))
		if ev.ReturnPointer && (ev.ReturnValue >= 0 || ev.ReturnValue < -4095) {
			put("returnAddress", hex(uint64(ev.ReturnValue)))
		}
	}
	if ev.Errno != "" {
		put("errno", sanitized(ev.Errno))
	}
	args := []any{}
	for _, a := range ev.Args {
		am := map[string]any{"name": sanitized(a.Name), "type": sanitized(a.Type)}
		// Values: numbers within int64, or null; text in decoded.
		switch a.Kind {
		case ArgInt, ArgUint, ArgPointer:
			am["value"] = num(int64(a.Value))
		default:
			am["value"] = nil
		}
		switch {
		case a.Kind == ArgString:
			am["decoded"] = sanitized(a.Str)
		case a.Decoder != nil && (a.Kind == ArgInt || a.Kind == ArgUint || a.Kind == ArgPointer):
			am["decoded"] = sanitized(string(a.Decoder.AppendDecoded(nil, a.Value)))
		case a.Kind == ArgPointer:
			am["decoded"] = hex(a.Value)
		}
		args = append(args, am)
	}
	put("args", args)
	if ev.Source != "" {
		put("source", sanitized(ev.Source))
	}
	if k&HasDuration != 0 {
		put("durationNs", num(ev.DurationNs))
	}
	return keys, m
}

// TestDesignExample: the example of DESIGN.md's "Event schema", byte for
// byte (keys, order, spelling), so that the contract and the code agree.
func TestDesignExample(t *testing.T) {
	const want = `{"timestamp":1795689548283123456,"processorId":1,"processId":6188,"threadId":6188,` +
		`"parentProcessId":6181,"userId":0,"processName":"python3",` +
		`"executable":{"path":"/usr/bin/python3.11"},"hostName":"web01",` +
		`"eventId":"26","eventName":"msync","syscall":"msync","arch":"x86_64",` +
		`"argsNum":3,"returnValue":0,` +
		`"args":[{"name":"addr","type":"void*","value":140097799905280,"decoded":"0x7f6b0f98e000"},` +
		`{"name":"length","type":"size_t","value":4096},` +
		`{"name":"flags","type":"int","value":4,"decoded":"MS_SYNC"}],` +
		`"source":"perf","durationNs":5120}` + "\n"
	var ev Event
	fixtures[0].fill(&ev) // perf_msync
	ev.ThreadID = 6188
	ev.UserID = 0
	if got := string(AppendJSON(nil, &ev)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
