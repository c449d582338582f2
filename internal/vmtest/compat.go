// The 32-bit compat run of arm64 guests: a static 32-bit arm (armhf)
// busybox, run under `auperf run`, must be seen through audit's b32 rules.

package vmtest

import (
	"fmt"
	"os"
	"strings"

	"github.com/auperf/auperf/internal/workload"
)

// Compat32Arg is what the compat run's 32-bit busybox does: dd with a
// 1 MiB block, whose buffer it maps with mmap2 (anonymous, read-write,
// private), and never unmaps (exit does).
const Compat32Arg = "dd if=/dev/zero of=/dev/null bs=1048576 count=2"

// CheckCompat32 checks the compat run: the 32-bit program ran (exit 0),
// audit reported its calls with arch "arm" (perf cannot: syscall
// tracepoints skip compat syscalls), among them the mmap2 of dd's 1 MiB
// buffer at a 32-bit address, and no 32-bit call came twice or from perf.
func CheckCompat32(events string, runExit int, runLog string) Result {
	r := Result{Source: "auto-arm32", Plan: "audit b32 (arm)", RunExit: runExit, Matched: map[string]int{}}
	fail := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
	if runExit != 0 {
		log, _ := os.ReadFile(runLog)
		fail("run exited %d: %s", runExit, strings.TrimSpace(string(log)))
	}
	f, err := os.Open(events)
	if err != nil {
		fail("no events: %v", err)
		return r
	}
	defer f.Close()
	evs, _, err := workload.ReadEvents(f)
	if err != nil {
		fail("events: %v", err)
		return r
	}
	r.Events = len(evs)
	var buf string
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Arch != "arm" {
			continue
		}
		if e.Source != "audit" {
			fail("a 32-bit arm call from %s: %+v", e.Source, e)
		}
		r.Matched[e.Source]++
		k := fmt.Sprintf("%d/%d/%s/%v/%v", e.Timestamp, e.PID, e.Name, e.Args, e.Ret)
		if seen[k] {
			r.Extra++
		}
		seen[k] = true
		if e.Name == "mmap2" && num(e.Ret) > 0 && e.Errno == "" && argNum(e, "length") == 1<<20 &&
			argDecoded(e, "prot") == "PROT_READ|PROT_WRITE" && argDecoded(e, "flags") == "MAP_PRIVATE|MAP_ANONYMOUS" {
			if ret := num(e.Ret); ret < 1<<32 {
				buf = fmt.Sprintf("0x%x", ret)
			}
		}
	}
	if r.Matched["audit"] == 0 {
		fail("no 32-bit arm call seen (arch \"arm\")")
	}
	if buf == "" {
		var calls []string
		for _, e := range evs {
			if e.Arch == "arm" {
				calls = append(calls, fmt.Sprintf("%s(%v)=%v", e.Name, e.Args, e.Ret))
			}
		}
		fail("no mmap2 of dd's 1 MiB buffer (PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS) at a 32-bit address; 32-bit calls: %s", strings.Join(calls, " "))
	}
	if r.Extra > 0 {
		fail("%d 32-bit calls reported twice", r.Extra)
	}
	return r
}

// num is a JSON number or "0x..." string as a number.
func num(v any) uint64 {
	switch v := v.(type) {
	case float64:
		return uint64(v)
	case string:
		var n uint64
		fmt.Sscanf(v, "0x%x", &n)
		return n
	}
	return 0
}

func argNum(e workload.Event, name string) uint64 {
	for _, a := range e.Args {
		if a.Name == name {
			return num(a.Value)
		}
	}
	return 0
}

func argDecoded(e workload.Event, name string) string {
	for _, a := range e.Args {
		if a.Name == name {
			return a.Decoded
		}
	}
	return ""
}
