package insight

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/event"
)

// ResolveFile sets ev.File for a successful mmap of a file, from the
// process's /proc entries at this moment (live events only): the mapping
// itself (/proc/PID/map_files/START-END, exact while it is mapped), else
// the fd it was mapped from (/proc/PID/fd/N, if the source knows the fd
// and it is still open: maybe reused since), else "gone". proc is the
// procfs mount ("/proc").
func ResolveFile(ev *event.Event, proc string) {
	if ev.Known&event.HasReturn == 0 || ev.IsError() || ev.Known&event.HasProcess == 0 {
		return
	}
	if ev.Syscall != "mmap" && ev.Syscall != "mmap2" {
		return
	}
	flags, ok := arg(ev, 3)
	length, ok1 := arg(ev, 1)
	if !ok || !ok1 || flags&mapAnonymous != 0 {
		return
	}
	pid := strconv.Itoa(int(ev.ProcessID))
	start := uint64(ev.ReturnValue)
	m := proc + "/" + pid + "/map_files/" + strconv.FormatUint(start, 16) + "-" + strconv.FormatUint(start+pageUp(length), 16)
	if f := statFile(m, "map"); f != nil {
		ev.File = f
		return
	}
	if fd, ok := arg(ev, 4); ok && int32(fd) >= 0 {
		if f := statFile(proc+"/"+pid+"/fd/"+strconv.Itoa(int(int32(fd))), "fd"); f != nil {
			ev.File = f
			return
		}
	}
	ev.File = &event.File{From: "gone"}
}

func statFile(link, from string) *event.File {
	var st unix.Stat_t
	if unix.Stat(link, &st) != nil {
		return nil
	}
	path, err := os.Readlink(link)
	if err != nil {
		return nil
	}
	return &event.File{Path: path, Dev: st.Dev, Inode: st.Ino, From: from}
}

// Alive reports whether process pid still runs: it has a /proc entry and
// is not a zombie (whose mappings are gone).
func Alive(pid int32) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}
