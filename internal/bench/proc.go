package bench

import (
	"bytes"
	"fmt"
	"strconv"
)

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on every
// Linux architecture that auperf runs on).
const userHZ = 100

// ProcTimes are the CPU times of /proc/PID/stat, in seconds: the process's
// own (all its threads, live and exited) and those of its reaped children.
type ProcTimes struct {
	User, Sys           float64
	ChildUser, ChildSys float64
}

// ParseProcStat reads utime, stime, cutime and cstime (fields 14-17) from
// the contents of /proc/PID/stat. The comm field may hold spaces and
// parentheses, so fields are counted from the last ')'.
func ParseProcStat(b []byte) (ProcTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcTimes{}, fmt.Errorf("parse /proc stat: no comm field")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14.
	if len(f) < 15 {
		return ProcTimes{}, fmt.Errorf("parse /proc stat: %d fields after comm", len(f))
	}
	var t [4]float64
	for k := range t {
		v, err := strconv.ParseUint(string(f[11+k]), 10, 64)
		if err != nil {
			return ProcTimes{}, fmt.Errorf("parse /proc stat field %d: %w", 14+k, err)
		}
		t[k] = float64(v) / userHZ
	}
	return ProcTimes{User: t[0], Sys: t[1], ChildUser: t[2], ChildSys: t[3]}, nil
}

// ParseVmHWM returns the VmHWM line of /proc/PID/status (peak resident set
// size) in bytes; ok is false when there is none (a kernel thread or a
// zombie, whose memory is gone).
func ParseVmHWM(b []byte) (bytesHWM uint64, ok bool) { return ParseStatusKB(b, "VmHWM") }

// ParseStatusKB returns a "KEY: N kB" line of /proc/PID/status in bytes
// (VmHWM, VmRSS); ok is false when there is none.
func ParseStatusKB(b []byte, key string) (uint64, bool) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, found := bytes.CutPrefix(line, []byte(key+":"))
		if !found {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}
