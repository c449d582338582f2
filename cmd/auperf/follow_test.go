// Test of `auperf decode --follow` across auditd's rotation: the log grows
// (a line even arrives in two writes), is renamed and recreated, grows
// again; every event of both files is decoded once.

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDecodeFollowRotation(t *testing.T) {
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	raw, err := os.ReadFile("../../testdata/audit/raw.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	half := len(lines) / 2
	// Keep whole events in each file: cut at a SYSCALL line.
	for half < len(lines) && !bytes.Contains(lines[half], []byte("type=SYSCALL")) {
		half++
	}
	first, second := bytes.Join(lines[:half], nil), bytes.Join(lines[half:], nil)
	want, err := runEventsApp(t, "decode", "--output", "json", "../../testdata/audit/raw.log")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "audit.log")
	out := filepath.Join(dir, "out.json")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(first[:len(first)/2])
	cmd := exec.Command(bin, "decode", "--follow", "--output", "json:"+out, log)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(500 * time.Millisecond)
	f.Write(first[len(first)/2:]) // the rest, the cut line completed
	time.Sleep(500 * time.Millisecond)
	f.Close()
	// auditd's rotation: rename, then a new file at the same path.
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := os.WriteFile(log, second, 0o600); err != nil {
		t.Fatal(err)
	}
	// Every event in the output (the last groups complete by age).
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(out); bytes.Count(b, []byte("\n")) >= strings.Count(want, "\n") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("decode --follow: %v\n%s", err, stderr.String())
	}
	got, _ := os.ReadFile(out)
	if string(got) != want {
		t.Errorf("followed output (%d lines) differs from decoding the whole log (%d lines)\nstderr: %s",
			bytes.Count(got, []byte("\n")), strings.Count(want, "\n"), stderr.String())
	}
}
