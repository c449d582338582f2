// Tests of audit log decoding against logs recorded from a real auditd
// (RAW, ENRICHED), and the recorder that made them (-record).

package auditsrc

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/audit")

const logDir = "../testdata/audit"

// logs are the recorded logs and the truth of the workload run each holds.
var logs = []struct{ log, truth string }{
	{"raw.log", "raw.truth.json"},
	{"enriched.log", "enriched.truth.json"},
	{"ausearch-r.log", "raw.truth.json"},
}

// TestIntegrationRecordLogs records testdata/audit with the real auditd:
// the workload (with int 0x80 calls) under auperf's rules, once with
// log_format=RAW and once with ENRICHED, and `ausearch -r` of the RAW log.
// Nothing is scrubbed. Run with -record.
func TestIntegrationRecordLogs(t *testing.T) {
	if !*recordLogs {
		t.Skip("run with -record to record testdata/audit")
	}
	ktest.Require(t)
	guardState(t)
	for _, f := range []struct{ format, log, truth string }{
		{"RAW", "raw.log", "raw.truth.json"},
		{"ENRICHED", "enriched.log", "enriched.truth.json"},
	} {
		t.Run(f.format, func(t *testing.T) {
			a := startAuditd(t, f.format)
			bin := workloadCopy(t, "auperf-wl")
			src, err := New(Config{RuleFields: []string{"-F exe=" + bin}})
			if err != nil {
				t.Fatal(err)
			}
			addRules(t, src.rules.always)
			out := filepath.Join(logDir, f.truth)
			cmd := exec.Command(bin, "-threads", "2", "-int80", "-out", out)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			for _, l := range src.rules.always {
				auditctl(t, deleteArgs(l)...)
			}
			a.stop(t)
			b, err := os.ReadFile(a.log)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(logDir, f.log), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if f.format == "RAW" {
				out, err := exec.Command("ausearch", "-r", "-if", a.log, "-k", DefaultKey).Output()
				if err != nil {
					t.Fatalf("ausearch: %v", err)
				}
				if err := os.WriteFile(filepath.Join(logDir, "ausearch-r.log"), out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestDecodeLogGolden decodes each recorded log, checks the events against
// the workload's truth, and compares their JSON with the golden file.
func TestDecodeLogGolden(t *testing.T) {
	for _, l := range logs {
		t.Run(l.log, func(t *testing.T) {
			f, err := os.Open(filepath.Join(logDir, l.log))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var events []event.Event
			var out []byte
			st, err := DecodeLog(f, LogConfig{}, func(ev *event.Event) {
				cp := *ev
				cp.Args = slices.Clone(ev.Args)
				events = append(events, cp)
				out = event.AppendJSON(out, ev)
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", st)
			truth, err := workload.ReadTruth(filepath.Join(logDir, l.truth))
			if err != nil {
				t.Fatal(err)
			}
			var ppid int32 = -1
			for i := range events {
				if int(events[i].ProcessID) == truth[0].PID {
					ppid = events[i].ParentProcessID
					break
				}
			}
			checkTruth(t, truth, events, ppid)

			golden := filepath.Join(logDir, strings.TrimSuffix(l.log, ".log")+".golden.json")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(out, want) {
				gl, wl := strings.Split(string(out), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if gl[i] != wl[i] {
						t.Fatalf("line %d differs:\ngot  %s\nwant %s", i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("got %d lines, want %d", len(gl), len(wl))
			}
		})
	}
}

// The three formats of one run hold the same events.
func TestDecodeLogFormatsAgree(t *testing.T) {
	decodeFile := func(name string) []string {
		f, err := os.Open(filepath.Join(logDir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var lines []string
		// ausearch -k auperf leaves out auditd's and auditctl's own
		// sendto events (no key): compare the memory family.
		if _, err := DecodeLog(f, LogConfig{Events: decode.DefaultEvents}, func(ev *event.Event) {
			lines = append(lines, string(event.AppendJSON(nil, ev)))
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(lines)
		return lines
	}
	raw, aus := decodeFile("raw.log"), decodeFile("ausearch-r.log")
	if !slices.Equal(raw, aus) {
		t.Errorf("raw.log gives %d events, ausearch-r.log %d, or they differ", len(raw), len(aus))
	}
	if len(raw) < 50 {
		t.Errorf("only %d memory events in raw.log", len(raw))
	}
}
