package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Syscalls are the six calls of the workload's loop, in loop order. Every
// tracer in the bench is asked for exactly these.
var Syscalls = []string{"mmap", "mprotect", "msync", "mlock2", "munlock", "munmap"}

func isLoopSyscall(name string) bool {
	for _, s := range Syscalls {
		if s == name {
			return true
		}
	}
	return false
}

// Count is what one tracer run wrote: how many of the loop's syscalls of
// the workload process it captured, and how many events it said it lost.
type Count struct {
	Captured uint64 `json:"captured"`
	// Lost is what the tracer reported lost, as best it can be attributed:
	// for auperf the larger of LostEvents and LostStats (both describe the
	// same gaps), for perf trace its LOST lines, for auditd the kernel's
	// lost counter across the run.
	Lost uint64 `json:"lost"`
	// auperf only: the sum of auperf_lost events' "lost" and the loss and
	// drop counters of the last auperf_stats event.
	LostEvents uint64 `json:"lostEvents,omitempty"`
	LostStats  uint64 `json:"lostStats,omitempty"`
	// Lines is how many records of any kind the output held (a sanity check
	// that the tracer wrote anything at all).
	Lines uint64 `json:"lines"`
}

// scanLines calls fn for each line of r, with lines up to 16 MiB.
func scanLines(r io.Reader, fn func(line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 256<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

// auperfLine is the part of an auperf JSON event the count needs.
type auperfLine struct {
	EventName string `json:"eventName"`
	ProcessID int    `json:"processId"`
}

type auperfSpecial struct {
	Args []struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	} `json:"args"`
}

// CountAuperfJSON counts auperf JSON lines (--output json:FILE): events of
// the loop's syscalls with processId pid, plus what auperf_lost events and
// the last auperf_stats event report lost (see statsLost).
func CountAuperfJSON(r io.Reader, pid int) (Count, error) {
	var c Count
	var lastStats uint64
	err := scanLines(r, func(line []byte) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		c.Lines++
		var l auperfLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("auperf json: %w", err)
		}
		switch l.EventName {
		case "auperf_lost", "auperf_stats":
			var s auperfSpecial
			if err := json.Unmarshal(line, &s); err != nil {
				return fmt.Errorf("auperf json: %s: %w", l.EventName, err)
			}
			if l.EventName == "auperf_lost" {
				for _, a := range s.Args {
					if v, ok := argCount(a.Name, a.Value, "lost"); ok {
						c.LostEvents += v
					}
				}
			} else {
				lastStats = statsLost(s)
			}
		default:
			if l.ProcessID == pid && isLoopSyscall(l.EventName) {
				c.Captured++
			}
		}
		return nil
	})
	c.LostStats = lastStats
	c.Lost = max(c.LostEvents, c.LostStats)
	return c, err
}

func argCount(name string, value json.RawMessage, want string) (uint64, bool) {
	if name != want {
		return 0, false
	}
	v, err := strconv.ParseUint(string(value), 10, 64)
	return v, err == nil // null or not a count: nothing to add
}

// statsLost reads the loss out of an auperf_stats event, whose counters are
// named "<stage>.<counter>": for each source stage (perf, audit, pipeline)
// its "lost" counter, or the sum of its "lost_*" counters when it has no
// total; the largest of those (the stages report the same gaps on their
// way down, and the bench runs one source at a time); plus what each
// output sink dropped ("output:...dropped", a loss of its own after the
// pipeline). Other counters ("dropped_self": auperf's own calls) are not
// losses.
func statsLost(s auperfSpecial) uint64 {
	type stage struct {
		total, parts uint64
		hasTotal     bool
	}
	stages := map[string]*stage{}
	var dropped uint64
	for _, a := range s.Args {
		i := strings.LastIndexByte(a.Name, '.')
		group, name := a.Name[:max(i, 0)], a.Name[i+1:]
		v, err := strconv.ParseUint(string(a.Value), 10, 64)
		if err != nil {
			continue
		}
		if strings.HasPrefix(group, "output:") {
			if name == "dropped" {
				dropped += v
			}
			continue
		}
		st := stages[group]
		if st == nil {
			st = &stage{}
			stages[group] = st
		}
		switch {
		case name == "lost":
			st.total, st.hasTotal = v, true
		case strings.HasPrefix(name, "lost_"):
			st.parts += v
		}
	}
	var lost uint64
	for _, st := range stages {
		if st.hasTotal {
			lost = max(lost, st.total)
		} else {
			lost = max(lost, st.parts)
		}
	}
	return lost + dropped
}

var (
	// "  12.345 ( 0.003 ms): comm/tid name(args) = ret" and
	// "       ? (         ): comm/tid  ... [continued]: name()) = ret".
	// The comm is taken up to the first "/<digits> ", so a comm holding
	// "/<digits> " itself would be misread.
	perfTraceLine = regexp.MustCompile(`^\s*\S+ \([^)]*\): (.*?)/(\d+) +(\.\.\. \[continued\]: )?([a-z0-9_]+)\(`)
	perfTraceLost = regexp.MustCompile(`LOST (\d+) events!`)
)

// CountPerfTrace counts `perf trace -o FILE` output: calls of the loop's
// syscalls by the threads tids, and the events its "LOST n events!" lines
// report. A call whose entry perf trace printed early (interrupted, the
// line ends in "...") is counted once, at its "[continued]" exit line; an
// entry whose exit never came is not a completed call and is not counted.
// perf trace shows "comm/tid", not the process id; the comm is not used:
// perf trace sometimes keeps showing the parent's comm after an exec, and
// other processes may share the workload's name. Its LOST lines count every
// process's events, as it traces all of them.
func CountPerfTrace(r io.Reader, tids map[int]bool) (Count, error) {
	var c Count
	err := scanLines(r, func(line []byte) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		c.Lines++
		if m := perfTraceLost.FindSubmatch(line); m != nil {
			n, err := strconv.ParseUint(string(m[1]), 10, 64)
			if err != nil {
				return fmt.Errorf("perf trace: %q: %w", line, err)
			}
			c.Lost += n
			return nil
		}
		m := perfTraceLine.FindSubmatch(line)
		if m == nil || !isLoopSyscall(string(m[4])) {
			return nil
		}
		if tid, err := strconv.Atoi(string(m[2])); err != nil || !tids[tid] {
			return nil
		}
		if len(m[3]) == 0 && bytes.HasSuffix(bytes.TrimRight(line, " "), []byte("...")) {
			return nil // interrupted entry: its [continued] line counts it
		}
		c.Captured++
		return nil
	})
	return c, err
}

// CountAuditLog counts SYSCALL records of an audit log (auditd's RAW or
// ENRICHED format) that carry key and come from process pid. Loss is not
// in the log: the caller takes it from the kernel's lost counter.
func CountAuditLog(r io.Reader, key string, pid int) (Count, error) {
	var c Count
	wantKey := `key="` + key + `"`
	wantPid := "pid=" + strconv.Itoa(pid)
	err := scanLines(r, func(line []byte) error {
		if len(line) == 0 {
			return nil
		}
		c.Lines++
		if !bytes.HasPrefix(line, []byte("type=SYSCALL ")) {
			return nil
		}
		if i := bytes.IndexByte(line, 0x1d); i >= 0 {
			line = line[:i] // ENRICHED: interpreted fields follow
		}
		var keyOK, pidOK bool
		for _, f := range strings.Fields(string(line)) {
			switch {
			case f == wantKey:
				keyOK = true
			case f == wantPid:
				pidOK = true
			}
		}
		if keyOK && pidOK {
			c.Captured++
		}
		return nil
	})
	return c, err
}
