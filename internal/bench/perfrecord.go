package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The perf-record row: `perf record -a` of the loop syscalls' enter and
// exit tracepoints, the floor for auperf's perf source (the same kernel
// events into the same kind of per-CPU rings, written to a file without
// decoding). Counted afterwards with `perf script`.

// perfRecordEvents are the tracepoints of the loop syscalls.
func perfRecordEvents() []string {
	var ev []string
	for _, s := range Syscalls {
		ev = append(ev, "syscalls:sys_enter_"+s, "syscalls:sys_exit_"+s)
	}
	return ev
}

func (b *bench) runPerfRecord(ctx context.Context, run *Run, base, summary string) (string, error) {
	out := base + ".perf.data"
	os.Remove(out)
	args := []string{b.cfg.Perf, "record", "-a", "-e", strings.Join(perfRecordEvents(), ","), "-o", out}
	if !b.cfg.Keep {
		defer os.Remove(out)
	}
	tids, err := b.runPerfTool(ctx, run, args, summary, 120*time.Second)
	if err != nil {
		return shellJoin(args), err
	}
	run.Count, err = b.countPerfRecord(out, tids)
	return shellJoin(args), err
}

// unmountNewTracefs returns a function that unmounts the tracefs mounts
// made since it was called: perf mounts tracefs when it is not mounted
// and leaves it so, and the bench leaves the host as found.
func (b *bench) unmountNewTracefs() func() {
	before := tracefsMounts()
	return func() {
		for mp := range tracefsMounts() {
			if !before[mp] {
				unix.Unmount(mp, unix.MNT_DETACH)
			}
		}
	}
}

// countPerfRecord runs `perf script` on a recording and counts the exits
// of loop syscalls by the workload's threads (one per call), and the
// samples perf reports lost.
func (b *bench) countPerfRecord(data string, tids map[int]bool) (Count, error) {
	cmd := exec.Command(b.cfg.Perf, "script", "-i", data, "-F", "tid,event", "--show-lost-events")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return Count{}, err
	}
	if err := cmd.Start(); err != nil {
		return Count{}, fmt.Errorf("perf script: %w", err)
	}
	c, cerr := CountPerfScript(pipe, tids)
	io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil {
		return c, fmt.Errorf("perf script: %v: %s", err, lastLine(stderr.String()))
	}
	return c, cerr
}

// perfScriptLine is a `perf script -F tid,event` line: "  1234 syscalls:sys_exit_msync: ".
var perfScriptLine = regexp.MustCompile(`^\s*(\d+)\s+syscalls:sys_(enter|exit)_(\w+):`)

// perfScriptLost is what --show-lost-events prints for a PERF_RECORD_LOST
// ("18969 PERF_RECORD_LOST lost 62" with perf 6.1).
var perfScriptLost = regexp.MustCompile(`PERF_RECORD_LOST lost (\d+)`)

// CountPerfScript counts, in `perf script -F tid,event --show-lost-events`
// output, the exits of loop syscalls by tids, and the lost samples.
func CountPerfScript(r io.Reader, tids map[int]bool) (Count, error) {
	var c Count
	err := scanLines(r, func(line []byte) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		c.Lines++
		if m := perfScriptLost.FindSubmatch(line); m != nil {
			n, err := strconv.ParseUint(string(m[1]), 10, 64)
			if err != nil {
				return fmt.Errorf("perf script: %q: %w", line, err)
			}
			c.Lost += n
			return nil
		}
		m := perfScriptLine.FindSubmatch(line)
		if m == nil || string(m[2]) != "exit" || !isLoopSyscall(string(m[3])) {
			return nil
		}
		if tid, err := strconv.Atoi(string(m[1])); err == nil && tids[tid] {
			c.Captured++
		}
		return nil
	})
	return c, err
}
