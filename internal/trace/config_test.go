// Tests of the config file: every key, one-line refusals with file and line,
// and the fuzz target.

package trace

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	f, err := ParseConfig("a.yaml", []byte(`# every run setting
source: audit
events: [msync, mmap]
output:
  - json:/var/log/auperf.json
  - syslog
pid: 42
comm: [client]
uid: [0, 1000]
failed: true
duration: 10s
stats-interval: 1m
ring-pages: 64
audit-backpressure: drop
audit-backlog-limit: 100
audit-lean: "off"
metrics:
  listen: 127.0.0.1:9464
stop-timeout: 20s
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []FlagValue{
		{"source", []string{"audit"}},
		{"events", []string{"msync,mmap"}},
		{"output", []string{"json:/var/log/auperf.json", "syslog"}},
		{"pid", []string{"42"}},
		{"comm", []string{"client"}},
		{"uid", []string{"0", "1000"}},
		{"failed", []string{"true"}},
		{"duration", []string{"10s"}},
		{"stats-interval", []string{"1m"}},
		{"ring-pages", []string{"64"}},
		{"audit-backpressure", []string{"drop"}},
		{"audit-lean", []string{"off"}},
		{"audit-backlog-limit", []string{"100"}},
		{"metrics-listen", []string{"127.0.0.1:9464"}},
		{"stop-timeout", []string{"20s"}},
	}
	if got := f.Flags(); !reflect.DeepEqual(got, want) {
		t.Errorf("flags\n got %v\nwant %v", got, want)
	}
	for _, empty := range []string{"", "# nothing\n", "---\n"} {
		if f, err := ParseConfig("e.yaml", []byte(empty)); err != nil || len(f.Flags()) != 0 {
			t.Errorf("%q: %v %v", empty, f, err)
		}
	}
	f, err = ParseConfig("one.yaml", []byte("events: msync,mmap\noutput: json\n"))
	if err != nil || !reflect.DeepEqual(f.Flags(), []FlagValue{{"events", []string{"msync,mmap"}}, {"output", []string{"json"}}}) {
		t.Errorf("single values for lists: %v %v", f, err)
	}
}

// A bad file is one line naming the file, the line and the problem.
func TestParseConfigRefused(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"evnts: [msync]\n", `--config c.yaml: line 1: unknown key "evnts"`},
		{"source: perf\nsource: audit\n", "--config c.yaml: line 2: source is set twice"},
		{"ring-pages: many\n", `--config c.yaml: line 1: ring-pages: "many" is not a whole number`},
		{"pid: [1, x]\n", `--config c.yaml: line 1: pid: "x" is not a whole number`},
		{"failed: yes please\n", `--config c.yaml: line 1: failed: "yes please": want true or false`},
		{"source: [perf]\n", "--config c.yaml: line 1: source: want a single value, got a list"},
		{"output: {json: 1}\n", "--config c.yaml: line 1: output: want a single value, got a mapping"},
		{"- msync\n", "--config c.yaml: line 1: want a mapping of settings"},
		{"source: perf\nduration: 10\n", `--config c.yaml: line 2: duration "10": want a duration with a unit`},
		{"source: [\n", "--config c.yaml: "},
		{"source: a\n---\nsource: b\n", "more than one YAML document"},
		{"metrics: 127.0.0.1:9464\n", "--config c.yaml: line 1: metrics: want a mapping (listen: ...), got a single value"},
		{"metrics:\n  port: 9464\n", `--config c.yaml: line 2: metrics: unknown key "port" (known: listen)`},
		{"metrics:\n  listen: [a, b]\n", "--config c.yaml: line 2: metrics.listen: want a single value, got a list"},
		{"stop-timeout: 15\n", `--config c.yaml: line 1: stop-timeout "15": want a duration with a unit`},
	} {
		_, err := ParseConfig("c.yaml", []byte(c.body))
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want a one-line usage error with %q", c.body, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "trace.File") {
			t.Errorf("%q: Go type in the message: %v", c.body, err)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParseConfig: any bytes either parse into settings of known keys or
// are refused with one usage error; it never panics.
func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "config", "*.yaml"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("events: [msync]\npid: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := ParseConfig("f.yaml", data)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("not a usage error: %v", err)
			}
			return
		}
		for _, fv := range cf.Flags() {
			if !slices.Contains(configKeys, fv.Name) && fv.Name != "metrics-listen" || len(fv.Values) == 0 {
				t.Fatalf("flag %+v", fv)
			}
		}
	})
}

// TestSampleConfig: the commented sample the packages ship parses into
// exactly these settings, and names every key (commented out or not).
func TestSampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../packaging/auperf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseConfig("auperf.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	want := []FlagValue{
		{"source", []string{"auto"}},
		{"output", []string{"json:/var/log/auperf/events.json?mode=0640"}},
		{"stats-interval", []string{"1m"}},
		{"audit-backpressure", []string{"wait"}},
		{"audit-lean", []string{"auto"}},
		{"audit-task-filter", []string{"auto"}},
		{"stop-timeout", []string{"15s"}},
	}
	if got := f.Flags(); !reflect.DeepEqual(got, want) {
		t.Errorf("sample settings\n got %v\nwant %v", got, want)
	}
	for _, k := range configKeys {
		if !strings.Contains(string(b), "\n"+k+":") && !strings.Contains(string(b), "\n# "+k+":") {
			t.Errorf("the sample does not document %s", k)
		}
	}
	if !strings.Contains(string(b), "#   listen:") {
		t.Error("the sample does not document metrics.listen")
	}
}

// A config file every user may write is refused: auperf runs as root.
func TestConfigWritableByOthers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("source: perf\n"), 0o644)
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "writable by every user") {
		t.Errorf("LoadConfig of a 0666 file: %v", err)
	}
	os.Chmod(p, 0o640)
	if _, err := LoadConfig(p); err != nil {
		t.Errorf("0640: %v", err)
	}
}
