// Golden tests of `auperf decode`'s summary and exit status on inputs that
// are not clean audit logs: cut short, bit-flipped, an over-long line,
// binary junk, empty, a directory, several hosts, gzip. The inputs are
// made here from the recorded raw.log; the goldens are in
// testdata/audit/summary (-update rewrites them).

package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// decodeInputs makes the inputs in dir, by name.
func decodeInputs(t *testing.T, dir string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/audit/raw.log")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("raw.log", raw)
	write("cut.log", raw[:20000]) // ends inside a SYSCALL record
	flip := bytes.Clone(raw)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		flip[rng.IntN(len(flip))] ^= 0x10
	}
	write("flip.log", flip)
	lines := bytes.SplitAfter(raw, []byte("\n"))
	long := bytes.Join([][]byte{bytes.Join(lines[:10], nil), []byte("type=SYSCALL msg=audit(1.1:1): " + strings.Repeat("x", 17<<20) + "\n"), bytes.Join(lines[10:], nil)}, nil)
	write("long.log", long)
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(rng.IntN(256))
	}
	write("junk.log", junk)
	write("empty.log", nil)
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Two hosts whose events have the same serials, interleaved.
	var multi bytes.Buffer
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		multi.WriteString("node=web01 ")
		multi.Write(l)
		multi.WriteString("node=db02 ")
		multi.Write(l)
	}
	write("multi.log", multi.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	write("raw.log.1.gz", gz.Bytes())
	return map[string][]string{
		"clean":     {"raw.log"},
		"truncated": {"cut.log"},
		"bitflip":   {"flip.log"},
		"longline":  {"long.log"},
		"junk":      {"junk.log"},
		"empty":     {"empty.log"},
		"directory": {"raw.log", "logs"},
		"missing":   {"raw.log", "nosuch.log"},
		"multihost": {"multi.log"},
		"gzip":      {"raw.log.1.gz"},
		"lenient":   {"--lenient", "cut.log"},
	}
}

func TestDecodeSummaryGolden(t *testing.T) {
	dir := t.TempDir()
	cases := decodeInputs(t, dir)
	t.Chdir(dir)
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			app := newApp()
			app.Writer, app.ErrWriter = &out, &errOut
			err := app.Run(append([]string{"auperf", "decode", "--output", "json"}, args...))
			st := exitOf(err)
			if st != 0 && err != nil && !asExit(err, new(exitStatus)) {
				fmt.Fprintf(&errOut, "auperf: %v\n", err) // as runMain prints it
			}
			events := bytes.Count(out.Bytes(), []byte("\n"))
			got := fmt.Sprintf("%s\nevents written: %d\nexit status: %d\n", errOut.String(), events, st)
			checkGolden(t, filepath.Join(repoDir(t), "testdata", "audit", "summary", name+".txt"), got)
		})
	}
}

// exitOf is the exit status runMain gives for err.
func exitOf(err error) int {
	if err == nil {
		return 0
	}
	var st exitStatus
	if asExit(err, &st) {
		return int(st)
	}
	if isUsage(err) {
		return 2
	}
	return 1
}

// repoDir is the repository's root (tests run in their package's
// directory until they chdir).
var repoRoot string

func repoDir(t *testing.T) string {
	t.Helper()
	if repoRoot == "" {
		t.Fatal("repository root unknown")
	}
	return repoRoot
}

func init() {
	if wd, err := os.Getwd(); err == nil {
		repoRoot = filepath.Join(wd, "..", "..")
	}
}

// Two hosts' events with the same serials stay apart, each with its host
// as hostName, and equal but for it.
func TestDecodeMultiHost(t *testing.T) {
	dir := t.TempDir()
	decodeInputs(t, dir)
	out, err := runEventsApp(t, "decode", "--output", "json", filepath.Join(dir, "multi.log"))
	if err != nil {
		t.Fatal(err)
	}
	single, err := runEventsApp(t, "decode", "--output", "json", filepath.Join(dir, "raw.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(single), "\n")
	by := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		for _, h := range []string{"web01", "db02"} {
			if strings.Contains(l, `"hostName":"`+h+`"`) {
				by[h] = append(by[h], strings.Replace(l, `,"hostName":"`+h+`"`, "", 1))
			}
		}
	}
	for _, h := range []string{"web01", "db02"} {
		if len(by[h]) != len(want) {
			t.Fatalf("%s: %d events, want %d", h, len(by[h]), len(want))
		}
		for i := range want {
			if by[h][i] != want[i] {
				t.Fatalf("%s event %d:\n%s\nwant (but for hostName):\n%s", h, i, by[h][i], want[i])
			}
		}
	}
}
