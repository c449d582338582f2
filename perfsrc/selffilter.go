// The kernel self-filter: a tracepoint filter that keeps auperf's own
// threads out of the rings (the Go runtime maps, unmaps and advises memory
// all the time), kept current as those threads exit.

package perfsrc

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/elastic/go-perf"
	"golang.org/x/sys/unix"
)

// selfFilter is the tracepoint filter on our own thread ids taken at
// attach (common_pid is a thread id; threads the Go runtime starts later
// are dropped in user space). A thread of ours that exits leaves the
// filter (exited) before its id can be reused by another process.
type selfFilter struct {
	tids   []int32
	events []*perf.Event // the tracepoint events that carry the filter
}

// ownThreads lists the threads of process self now (nil if there are too
// many for a filter).
func ownThreads(procRoot string, self int32) []int32 {
	ents, err := os.ReadDir(filepath.Join(procRoot, strconv.Itoa(int(self)), "task"))
	if err != nil || len(ents) > 64 {
		return nil
	}
	var out []int32
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, int32(n))
		}
	}
	return out
}

// String is the filter expression ("" with no thread to exclude).
func (f *selfFilter) String() string {
	var b strings.Builder
	for _, tid := range f.tids {
		if b.Len() > 0 {
			b.WriteString(" && ")
		}
		b.WriteString("common_pid != ")
		b.WriteString(strconv.Itoa(int(tid)))
	}
	return b.String()
}

// add sets the filter on a new tracepoint event. A kernel that refuses
// the filter costs only the user-space drop of our own events.
func (f *selfFilter) add(ev *perf.Event) {
	f.events = append(f.events, ev)
	if flt := f.String(); flt != "" {
		setFilter(ev, flt)
	}
}

// exited takes an exited thread of ours out of the filter.
func (f *selfFilter) exited(tid int32) {
	i := slices.Index(f.tids, tid)
	if i < 0 {
		return
	}
	f.tids = slices.Delete(f.tids, i, i+1)
	flt := f.String()
	if flt == "" {
		flt = "common_pid != 0" // no thread to exclude: 0 is the idle task
	}
	for _, ev := range f.events {
		setFilter(ev, flt)
	}
}

// setFilter is PERF_EVENT_IOC_SET_FILTER, which go-perf lacks.
func setFilter(ev *perf.Event, flt string) error {
	fd, err := ev.FD()
	if err != nil {
		return err
	}
	p, err := unix.BytePtrFromString(flt)
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.PERF_EVENT_IOC_SET_FILTER), uintptr(unsafe.Pointer(p)))
	runtime.KeepAlive(p)
	if e != 0 {
		return fmt.Errorf("PERF_EVENT_IOC_SET_FILTER %q: %w", flt, e)
	}
	return nil
}
