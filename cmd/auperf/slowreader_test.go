// Test that a decode into a slow reader loses nothing: a million records
// (the recorded raw.log 4,000 times over, serials renumbered) piped
// through `auperf decode -` into a reader that pauses.

package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// serialRE finds a record's serial in its audit(SEC.MSEC:SERIAL) stamp.
var serialRE = regexp.MustCompile(`audit\(([0-9.]+):([0-9]+)\)`)

// repeatLog writes raw times over, each copy's serials moved past the
// previous copy's, and returns how many records it wrote.
func repeatLog(w io.Writer, raw []byte, times int) (int, error) {
	lines := bytes.SplitAfter(raw, []byte("\n"))
	bw := bufio.NewWriterSize(w, 1<<20)
	n := 0
	for k := range times {
		for _, l := range lines {
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			l = serialRE.ReplaceAllFunc(l, func(m []byte) []byte {
				s := serialRE.FindSubmatch(m)
				serial, _ := strconv.Atoi(string(s[2]))
				return []byte("audit(" + string(s[1]) + ":" + strconv.Itoa(serial+k*100000) + ")")
			})
			if _, err := bw.Write(l); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, bw.Flush()
}

func TestDecodeSlowReaderMillion(t *testing.T) {
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	raw, err := os.ReadFile("../../testdata/audit/raw.log")
	if err != nil {
		t.Fatal(err)
	}
	once, err := runEventsApp(t, "decode", "--output", "json", "../../testdata/audit/raw.log")
	if err != nil {
		t.Fatal(err)
	}
	perCopy := bytes.Count([]byte(once), []byte("\n"))
	const times = 4000
	cmd := exec.Command(bin, "decode", "--quiet", "--output", "json", "-")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	records := make(chan int, 1)
	go func() {
		n, _ := repeatLog(in, raw, times)
		in.Close()
		records <- n
	}()
	// The slow reader: 64 KiB at a time, with a pause after each.
	buf := make([]byte, 64<<10)
	events := 0
	for {
		n, err := out.Read(buf)
		events += bytes.Count(buf[:n], []byte("\n"))
		if err != nil {
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("decode: %v\n%s", err, stderr.String())
	}
	n := <-records
	if n < 1_000_000 {
		t.Fatalf("only %d records written", n)
	}
	if want := perCopy * times; events != want {
		t.Errorf("%d events through a slow reader from %d records, want %d", events, n, want)
	}
	t.Logf("%d records, %d events, all through a slow reader", n, events)
}
