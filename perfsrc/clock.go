// Clock: which clock the tracepoints stamp records with, and how those
// stamps become wall time (an offset, followed across clock steps, or a
// calibration of perf's own clock on kernels without use_clockid).

package perfsrc

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// clock turns record timestamps into wall time. The poller goroutine owns
// it: retime and calibrate run between rounds, calibrated inside one.
type clock struct {
	id    int32 // the clock id in use, -1: perf's own
	off   int64 // added to record timestamps to make wall time
	calib calibration
}

// wall is the wall time of a record stamped ts.
func (c *clock) wall(ts uint64) int64 { return int64(ts) + c.off }

// pickClock chooses the timestamp clock: CLOCK_REALTIME where tracepoints
// accept it (they may not: it is not NMI-safe), else CLOCK_MONOTONIC (4.1+),
// else the perf clock; the last two are turned into wall time with an
// offset taken now (the perf clock's offset is only approximate). It
// returns what the event attributes need: use_clockid and the clock id.
func pickClock(f *Format, cpu int, perfClockOnly bool) (*clock, bool, int32, error) {
	var err error
	for _, try := range []struct {
		use bool
		id  int32
	}{{true, unix.CLOCK_REALTIME}, {true, unix.CLOCK_MONOTONIC}, {false, 0}} {
		if perfClockOnly && try.use {
			continue
		}
		if err = openProbe(f.ID, cpu, try.use, try.id); err != nil {
			continue
		}
		c := &clock{id: try.id}
		if !try.use || try.id != unix.CLOCK_REALTIME {
			c.off = realtimeOffset()
		}
		if !try.use {
			c.id = -1
		}
		return c, try.use, try.id, nil
	}
	return nil, false, 0, fmt.Errorf("open tracepoint syscalls:%s on cpu %d: %w", f.Name, cpu, err)
}

// calibration maps perf's own clock (kernels without use_clockid) to wall
// time: our thread renames itself to its own name, which the kernel stamps
// in a COMM record with the perf clock; the wall clock read just before and
// after brackets that stamp.
type calibration struct {
	tid      int32
	t0, t1   int64 // wall clock around the rename
	pending  bool
	lastWall int64
}

const calibrateEvery = int64(10 * time.Second)

// calibrate starts a calibration (perf clock only).
func (c *clock) calibrate() {
	now := wallNow()
	if c.id != -1 || (c.calib.pending && now-c.calib.lastWall < calibrateEvery) {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var name [16]byte
	if err := unix.Prctl(unix.PR_GET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
		return
	}
	t0 := wallNow()
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); err != nil {
		return
	}
	t1 := wallNow()
	c.calib = calibration{tid: int32(unix.Gettid()), t0: t0, t1: t1, pending: true, lastWall: t1}
}

// comm takes a COMM record of our own thread tid stamped ts: the end of a
// pending calibration when it is the calibrating thread's.
func (c *clock) comm(tid int32, ts uint64) {
	if c.calib.pending && tid == c.calib.tid {
		c.off = c.calib.t0 + (c.calib.t1-c.calib.t0)/2 - int64(ts)
		c.calib.pending = false
	}
}

// retime keeps the offset of a non-wall clock current: a calibration for
// perf's clock, the realtime-monotonic offset after a clock step.
func (c *clock) retime() {
	switch c.id {
	case -1:
		if wallNow()-c.calib.lastWall >= calibrateEvery {
			c.calibrate()
		}
	case unix.CLOCK_MONOTONIC:
		// One read per round; a careful one when it looks moved.
		if off, _ := offsetSandwich(); off-c.off > offsetSlack || c.off-off > offsetSlack {
			if off = realtimeOffset(); off-c.off > offsetSlack || c.off-off > offsetSlack {
				c.off = off
			}
		}
	}
}

// offsetSlack is how far the realtime-monotonic offset may move (a clock
// step) before timestamps follow it.
const offsetSlack = int64(10 * time.Microsecond)

// realtimeOffset is CLOCK_REALTIME - CLOCK_MONOTONIC. Each try reads
// realtime between two monotonic reads and the tightest pair wins: a
// thread preempted between two plain reads (a VM's vCPU can lose
// milliseconds) would shift every timestamp of the run by that much.
func realtimeOffset() int64 {
	var best, off int64 = -1, 0
	for range 5 {
		if o, w := offsetSandwich(); best < 0 || w < best {
			best, off = w, o
		}
	}
	return off
}

// offsetSandwich reads realtime between two monotonic reads: the offset,
// and the window it may be wrong by.
func offsetSandwich() (off, window int64) {
	var m1, rt, m2 unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m1)
	unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m2)
	window = m2.Nano() - m1.Nano()
	return rt.Nano() - (m1.Nano() + window/2), window
}

func wallNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	return ts.Nano()
}
