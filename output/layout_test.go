package output

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auperf/auperf/event"
)

// TestArgsLayouts: in one fan-out, json with args=object, plain json, and
// a syslog body with args=object each get their own layout of the same
// event, encoded once per layout.
func TestArgsLayouts(t *testing.T) {
	dir := t.TempDir()
	obj, arr, dg := filepath.Join(dir, "obj.json"), filepath.Join(dir, "arr.json"), filepath.Join(dir, "dg.sock")
	col := newPacketCollector(t, "unixgram", dg)
	f, err := Open([]string{"json:" + obj + "?args=object", "json:" + arr, "syslog:unix://" + dg + "?args=object"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(f, 0, 3, testEvent)
	f.Close()
	waitFor(t, "datagrams", func() bool { return col.count() == 3 })

	type objLine struct {
		Args        map[string]any    `json:"args"`
		ArgsDecoded map[string]string `json:"argsDecoded"`
	}
	check := func(what string, line []byte) {
		var l objLine
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&l); err != nil {
			t.Fatalf("%s: %v: %s", what, err, line)
		}
		if l.Args["addr"] != json.Number("140097799905280") || l.Args["length"] != json.Number("4096") ||
			l.ArgsDecoded["addr"] != "0x7f6b0f98e000" {
			t.Errorf("%s: args %v decoded %v", what, l.Args, l.ArgsDecoded)
		}
	}
	for _, line := range bytes.Split(bytes.TrimSpace(readFile(t, obj)), []byte("\n")) {
		check("json?args=object", line)
	}
	for _, m := range col.messages() {
		i := bytes.Index(m, []byte(`] {"timestamp"`))
		if i < 0 {
			t.Fatalf("message without a JSON body: %q", m)
		}
		check("syslog?args=object", m[i+2:])
	}
	var ev event.Event
	testEvent(&ev, 0)
	if want := event.AppendJSON(nil, &ev); !bytes.HasPrefix(readFile(t, arr), want) {
		t.Errorf("plain json: %s\nwant the array layout: %s", readFile(t, arr), want)
	}
	if _, err := Open([]string{"text?args=object"}, Options{}); err == nil || !strings.Contains(err.Error(), "args") {
		t.Errorf("text with args=: %v", err)
	}
	if _, err := Open([]string{"json?args=flat"}, Options{}); err == nil || !strings.Contains(err.Error(), "want array or object") {
		t.Errorf("args=flat: %v", err)
	}
}
