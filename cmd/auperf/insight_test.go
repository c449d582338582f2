package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/auperf/auperf/internal/workload"
)

// finding is a derived event as a test reads it.
type finding struct {
	Name   string
	PID    int
	Addr   uint64
	Length uint64
	Pattern, File, From, Source,
	Evidence, Explanation string
}

func (f finding) key() string {
	return fmt.Sprintf("%s %#x+%#x %s", f.Name, f.Addr, f.Length, f.Pattern)
}

// readFindings reads the derived events of a JSON lines file written with
// args=object.
func readFindings(t *testing.T, path string) []finding {
	t.Helper()
	var out []finding
	for _, line := range strings.Split(readFile(path), "\n") {
		if line == "" {
			continue
		}
		var ev struct {
			EventName   string `json:"eventName"`
			Syscall     string `json:"syscall"`
			ProcessID   int    `json:"processId"`
			Source      string `json:"source"`
			Args        map[string]any
			ArgsDecoded map[string]string `json:"argsDecoded"`
			File        *struct{ Path, From string }
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if ev.Syscall != "" || ev.Source == "auperf" {
			continue
		}
		f := finding{Name: ev.EventName, PID: ev.ProcessID, Source: ev.Source, Pattern: ev.ArgsDecoded["pattern"],
			Evidence: ev.ArgsDecoded["evidence"], Explanation: ev.ArgsDecoded["explanation"]}
		if v, ok := ev.Args["addr"].(float64); ok {
			f.Addr = uint64(v)
		}
		fmt.Sscanf(ev.ArgsDecoded["addr"], "0x%x", &f.Addr) // exact, beyond float64
		if v, ok := ev.Args["length"].(float64); ok {
			f.Length = uint64(v)
		}
		if ev.File != nil {
			f.File, f.From = ev.File.Path, ev.File.From
		}
		out = append(out, f)
	}
	return out
}

// TestIntegrationInsights, per source: a workload makes every mistake the
// insights know, once each on a region of its own (msync missing, MS_ASYNC
// only, half a mapping synced, W+X at once, RW then RX, a memfd mapped RW
// and RX, memory left locked at exit, remap_file_pages); every finding it
// expects appears, naming its region (address and length), pattern and
// file, with evidence and an explanation, and no other finding; a workload
// that does the same calls right gives none.
func TestIntegrationInsights(t *testing.T) {
	eachSource(t, func(t *testing.T, src, dir, bin string) {
		wl := workload.CopyAs(t, dir, "wl-insight")
		for _, mode := range []string{"bad", "good"} {
			out, expPath := filepath.Join(dir, mode+".json"), filepath.Join(dir, mode+".expect")
			code, stderr := runAuperf(t, bin, "run", "--config", "", "--source", src, "--stats-interval", "0",
				"--output", "json:"+out+"?args=object", "--", wl, "-insight", mode, "-out", expPath, "-dir", dir)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", mode, code, stderr)
			}
			var exp workload.Expected
			if err := json.Unmarshal([]byte(readFile(expPath)), &exp); err != nil {
				t.Fatal(err)
			}
			var got []finding
			for _, f := range readFindings(t, out) {
				if f.PID == exp.PID {
					got = append(got, f)
				}
			}
			want := map[string]workload.ExpectedFinding{}
			for _, e := range exp.Findings {
				want[finding{Name: e.Name, Addr: e.Addr, Length: e.Length, Pattern: e.Pattern}.key()] = e
			}
			seen := map[string]bool{}
			for _, f := range got {
				e, ok := want[f.key()]
				switch {
				case !ok:
					t.Errorf("%s: unexpected finding %s (%s; evidence %s)", mode, f.key(), f.Explanation, f.Evidence)
				case seen[f.key()]:
					t.Errorf("%s: finding %s twice", mode, f.key())
				case f.Source != src || f.Evidence == "" || f.Explanation == "":
					t.Errorf("%s: %s: source %q, evidence %q, explanation %q", mode, f.key(), f.Source, f.Evidence, f.Explanation)
				case e.File != "" && f.File != e.File:
					t.Errorf("%s: %s: file %q (from %q), want %q", mode, f.key(), f.File, f.From, e.File)
				}
				seen[f.key()] = true
			}
			var missing []string
			for k := range want {
				if !seen[k] {
					missing = append(missing, k)
				}
			}
			sort.Strings(missing)
			for _, k := range missing {
				t.Errorf("%s: missing finding %s", mode, k)
			}
			t.Logf("%s: %d findings of pid %d, %d expected", mode, len(got), exp.PID, len(want))
			if t.Failed() {
				b, _ := os.ReadFile(out)
				t.Logf("output:\n%s", b)
			}
		}
	})
}
