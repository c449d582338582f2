// Kernel test of SIGHUP: logrotate's rename, and nothing lost across it.

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// TestIntegrationRunSighupReopen is logrotate's contract end to end: while
// the workload's loop runs, the output file is renamed and auperf gets
// SIGHUP; the old and the new file together must hold every msync of the
// workload exactly once, and the new file must really be written (the
// reopen happened while events were still flowing).
func TestIntegrationRunSighupReopen(t *testing.T) {
	ktest.Require(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	wl := workload.CopyAs(t, dir, "wl-rotate")
	out := filepath.Join(dir, "events.json")
	rotated := out + ".1"
	summary := filepath.Join(dir, "summary.json")
	const iterations = 60000

	cmd := exec.Command(bin, "run", "--source", "perf", "--events", "msync", "--output", "json:"+out,
		"--", wl, "-loop", "60000", "-threads", "1", "-dir", dir, "-summary", summary)
	exited, stderr := startCmd(t, cmd)

	// Rotate once the file holds part of the flow.
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(readFile(out), `"eventName":"msync"`) < 1000 {
		select {
		case err := <-exited:
			t.Fatalf("auperf ended before the rotation (%v): the loop is too short to rotate under load\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no events in %s after 60s\n%s", out, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.Rename(out, rotated); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("auperf: %v\n%s", err, stderr.String())
	}

	sum, err := workload.ReadSummary(summary)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Calls["msync"] != iterations {
		t.Fatalf("workload made %d msyncs, want %d", sum.Calls["msync"], iterations)
	}
	type key struct {
		ts  int64
		tid int
	}
	seen := map[key]string{}
	count := func(path string) int {
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(readFile(path)), "\n") {
			var ev struct {
				TS   int64  `json:"timestamp"`
				PID  int    `json:"processId"`
				TID  int    `json:"threadId"`
				Name string `json:"eventName"`
				Args []struct {
					Name  string
					Value any
				} `json:"args"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s: bad line %q: %v", path, line, err)
			}
			if ev.Name == "auperf_lost" {
				t.Fatalf("loss reported, the exact count cannot hold: %s", line)
			}
			if ev.Name != "msync" || ev.PID != sum.PID {
				continue
			}
			k := key{ev.TS, ev.TID}
			if prev, dup := seen[k]; dup {
				t.Fatalf("event written twice (%s and %s): %s", prev, path, line)
			}
			seen[k] = path
			n++
		}
		return n
	}
	before, after := count(rotated), count(out)
	t.Logf("rotated file: %d msyncs, new file: %d", before, after)
	if after == 0 {
		t.Fatalf("nothing written to the reopened file (%d in the rotated one)", before)
	}
	if before+after != iterations {
		t.Fatalf("old %d + new %d = %d msyncs, want exactly %d", before, after, before+after, iterations)
	}
}
