package insight

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/event"
)

// FileResolver sets ev.File for a successful mmap of a file, from the
// process's /proc entries at the moment the event is handled (live events
// only). The fd the file was mapped from (/proc/PID/fd/N, when the source
// knows it and it is still open) is tried first: one stat, and it does not
// take the traced process's mmap lock, which the mapping's own entry
// (/proc/PID/map_files/START-END, exact while mapped) does, on every call
// of a process busy mapping and unmapping. The fd may have been reused
// since ("from":"fd" says so); without it, the mapping; else "gone".
// Paths are cached by device and inode. Not safe for concurrent use.
type FileResolver struct {
	Proc  string // the procfs mount ("/proc")
	buf   []byte
	paths map[[2]uint64]string
}

// Resolve sets ev.File when ev is a successful mmap of a file.
func (fr *FileResolver) Resolve(ev *event.Event) {
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
	if fd, ok := arg(ev, 4); ok && int32(fd) >= 0 {
		fr.buf = append(fr.buf[:0], fr.Proc...)
		fr.buf = append(fr.buf, '/')
		fr.buf = strconv.AppendInt(fr.buf, int64(ev.ProcessID), 10)
		fr.buf = append(fr.buf, "/fd/"...)
		fr.buf = strconv.AppendInt(fr.buf, int64(int32(fd)), 10)
		if f := fr.stat(string(fr.buf), "fd"); f != nil {
			ev.File = f
			return
		}
	}
	start := uint64(ev.ReturnValue)
	fr.buf = append(fr.buf[:0], fr.Proc...)
	fr.buf = append(fr.buf, '/')
	fr.buf = strconv.AppendInt(fr.buf, int64(ev.ProcessID), 10)
	fr.buf = append(fr.buf, "/map_files/"...)
	fr.buf = strconv.AppendUint(fr.buf, start, 16)
	fr.buf = append(fr.buf, '-')
	fr.buf = strconv.AppendUint(fr.buf, start+pageUp(length), 16)
	if f := fr.stat(string(fr.buf), "map"); f != nil {
		ev.File = f
		return
	}
	ev.File = gone
}

// gone is every file that was gone (shared: never changed).
var gone = &event.File{From: "gone"}

func (fr *FileResolver) stat(link, from string) *event.File {
	var st unix.Stat_t
	if unix.Stat(link, &st) != nil {
		return nil
	}
	key := [2]uint64{st.Dev, st.Ino}
	path, ok := fr.paths[key]
	if !ok {
		p, err := os.Readlink(link)
		if err != nil {
			return nil
		}
		if fr.paths == nil || len(fr.paths) >= 4096 {
			fr.paths = map[[2]uint64]string{}
		}
		path = p
		fr.paths[key] = path
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
