// Tests of `auperf decode` on recorded logs: events, filters, usage, stdin.

package main

import (
	"os"
	"strings"
	"testing"
)

// auperf decode on a log recorded from auditd writes the golden events.
func TestDecodeCommand(t *testing.T) {
	for _, name := range []string{"raw", "enriched", "ausearch-r"} {
		out, err := runEventsApp(t, "decode", "--output", "json", "../../testdata/audit/"+name+".log")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := os.ReadFile("../../testdata/audit/" + name + ".golden.json")
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("%s: output differs from %s.golden.json (%d vs %d bytes)", name, name, len(out), len(want))
		}
	}
}

func TestDecodeCommandFilters(t *testing.T) {
	out, err := runEventsApp(t, "decode", "--output", "text", "--events", "msync", "--failed", "../../testdata/audit/raw.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no failed msync in raw.log")
	}
	for _, l := range lines {
		if !strings.Contains(l, "msync(") || !strings.Contains(l, ") = -") {
			t.Errorf("unexpected line %q", l)
		}
	}
}

func TestDecodeCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"decode"},
		{"decode", "/nonexistent/audit.log"},
		{"decode", "--events", "nosuchcall", "../../testdata/audit/raw.log"},
		{"decode", "--output", "bogus:", "../../testdata/audit/raw.log"},
	} {
		_, err := runEventsApp(t, args...)
		if err == nil || !isUsage(err) {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
}

// "-" reads stdin (ausearch -r ... | auperf decode -).
func TestDecodeCommandStdin(t *testing.T) {
	f, err := os.Open("../../testdata/audit/ausearch-r.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = saved }()
	out, err := runEventsApp(t, "decode", "--output", "json", "-")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("../../testdata/audit/ausearch-r.golden.json")
	if out != string(want) {
		t.Errorf("stdin output differs from ausearch-r.golden.json")
	}
}
