package workload

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"unicode/utf8"
)

// Call is the ground truth of one syscall the workload issued: one JSON
// line of its -out file.
type Call struct {
	PID    int       `json:"pid"`
	TID    int       `json:"tid"`
	Comm   string    `json:"comm"`  // /proc/self/comm when the workload started
	Exe    string    `json:"exe"`   // /proc/self/exe when the workload started
	Arch   string    `json:"arch"`  // "x86_64" or "i386" (the ABI used for the call)
	Nr     int       `json:"nr"`    // syscall number in that arch's table
	Name   string    `json:"name"`  // syscall name in that arch's table ("mmap2")
	Args   [6]uint64 `json:"args"`  // raw words as passed (i386: zero-extended 32-bit)
	NArgs  int       `json:"nargs"` // how many arguments the syscall takes
	Ret    int64     `json:"ret"`   // raw kernel return: value or -errno
	Errno  string    `json:"errno,omitempty"`
	TS     int64     `json:"ts"`               // wall clock (ns since epoch) just before the call
	CPU    int       `json:"cpu"`              // CPU the thread was pinned to, -1 if not pinned
	Thread int       `json:"thread"`           // workload thread index (0..threads-1)
	Round  int       `json:"round"`            // script round or loop iteration
	Label  string    `json:"label"`            // step name, unique within a round and thread
	Expect string    `json:"expect,omitempty"` // errno the step expects, "" = success
}

// Failed reports whether the call returned an error.
func (c *Call) Failed() bool { return c.Ret < 0 && c.Ret >= -4095 }

// Summary is what the loop mode writes (and the script mode with -summary).
type Summary struct {
	Mode        string            `json:"mode"` // "loop" or "script"
	PID         int               `json:"pid"`
	Threads     int               `json:"threads"`
	Iterations  int               `json:"iterations"` // per thread (loop) or rounds (script)
	Calls       map[string]uint64 `json:"calls"`      // per syscall name
	Total       uint64            `json:"total"`      // sum of Calls
	Failed      uint64            `json:"failed"`     // calls that returned an error
	Unexpected  uint64            `json:"unexpected"` // calls whose result differed from the step's expectation
	StartNs     int64             `json:"start_ns"`   // wall clock when the threads were released
	EndNs       int64             `json:"end_ns"`     // wall clock when the last thread finished
	ElapsedNs   int64             `json:"elapsed_ns"`
	CallsPerSec float64           `json:"calls_per_sec"`
}

// ReadTruth reads a truth file (JSON lines).
func ReadTruth(path string) ([]Call, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read truth: %w", err)
	}
	defer f.Close()
	var calls []Call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("read truth %s:%d: %w", path, n, err)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read truth %s: %w", path, err)
	}
	return calls, nil
}

// ReadSummary reads a summary file (one JSON object).
func ReadSummary(path string) (Summary, error) {
	var s Summary
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read summary: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read summary %s: %w", path, err)
	}
	return s, nil
}

// appendCall encodes c as one JSON line without allocating: the workload
// calls it between syscalls and must not grow its heap.
func appendCall(b []byte, c *Call) []byte {
	b = append(b, `{"pid":`...)
	b = strconv.AppendInt(b, int64(c.PID), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendInt(b, int64(c.TID), 10)
	b = append(b, `,"comm":`...)
	b = appendString(b, c.Comm)
	b = append(b, `,"exe":`...)
	b = appendString(b, c.Exe)
	b = append(b, `,"arch":`...)
	b = appendString(b, c.Arch)
	b = append(b, `,"nr":`...)
	b = strconv.AppendInt(b, int64(c.Nr), 10)
	b = append(b, `,"name":`...)
	b = appendString(b, c.Name)
	b = append(b, `,"args":[`...)
	for i, a := range c.Args {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, a, 10)
	}
	b = append(b, `],"nargs":`...)
	b = strconv.AppendInt(b, int64(c.NArgs), 10)
	b = append(b, `,"ret":`...)
	b = strconv.AppendInt(b, c.Ret, 10)
	if c.Errno != "" {
		b = append(b, `,"errno":`...)
		b = appendString(b, c.Errno)
	}
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, c.TS, 10)
	b = append(b, `,"cpu":`...)
	b = strconv.AppendInt(b, int64(c.CPU), 10)
	b = append(b, `,"thread":`...)
	b = strconv.AppendInt(b, int64(c.Thread), 10)
	b = append(b, `,"round":`...)
	b = strconv.AppendInt(b, int64(c.Round), 10)
	b = append(b, `,"label":`...)
	b = appendString(b, c.Label)
	if c.Expect != "" {
		b = append(b, `,"expect":`...)
		b = appendString(b, c.Expect)
	}
	return append(b, "}\n"...)
}

// appendString writes s as a JSON string. comm and exe come from the
// system and may hold anything; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
