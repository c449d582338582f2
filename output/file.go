package output

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// fileWriter appends batches to a file, rotates it by size and reopens it
// on SIGHUP.
type fileWriter struct {
	path    string
	mode    os.FileMode
	maxSize int64
	keep    int
	fsync   time.Duration

	f        *os.File
	size     int64
	dirty    bool // written since the last fsync
	lastSync time.Time
	partial  bool // the last write stopped inside a batch
	reopenAt bool // reopen before the next batch (asked for mid-batch)
	checked  time.Time
}

// linkCheck is how often a file sink checks that its file still has a
// name: one removed under it (rm -r of its directory) would swallow every
// event, counted written.
const linkCheck = time.Second

func newFileWriter(s *sinkSpec) *fileWriter {
	return &fileWriter{path: s.path, mode: s.mode, maxSize: s.maxSize, keep: s.keep, fsync: s.fsync}
}

// open opens (creating) the file for appending. A file we create gets
// exactly mode, whatever the umask; an existing file keeps its own.
//
// auperf runs as root, and a file path is where anyone who can change it
// would make root write: the last component is never followed if it is a
// symbolic link (O_NOFOLLOW), and a directory that others may write (not
// sticky) or that another user owns is refused.
func (w *fileWriter) open() error {
	dir := filepath.Dir(w.path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := safeDir(dir); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_APPEND | syscall.O_CLOEXEC | syscall.O_NOFOLLOW
	f, err := os.OpenFile(w.path, flags|os.O_CREATE|os.O_EXCL, w.mode)
	if err == nil {
		if err := f.Chmod(w.mode); err != nil {
			f.Close()
			return err
		}
	} else if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(w.path, flags, 0)
	}
	if errors.Is(err, syscall.ELOOP) {
		return symlinkRefused(w.path)
	}
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !st.Mode().IsRegular() && st.Mode()&fs.ModeCharDevice == 0 && st.Mode()&fs.ModeNamedPipe == 0 {
		f.Close()
		return fmt.Errorf("%s is not a regular file", w.path)
	}
	w.f, w.size = f, st.Size()
	if !st.Mode().IsRegular() {
		w.maxSize = 0 // never rotate a device or a pipe
	}
	return nil
}

func (w *fileWriter) messages() bool { return false }
func (w *fileWriter) skipped() int   { return 0 }

func (w *fileWriter) write(b *batch, pos int) (int, error) {
	if pos == 0 && w.f != nil && !w.reopenAt {
		if now := time.Now(); now.Sub(w.checked) >= linkCheck {
			w.checked = now
			if fi, err := w.f.Stat(); err == nil && fi.Mode().IsRegular() {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
					w.reopenAt = true
				}
			}
		}
	}
	if pos == 0 && w.reopenAt {
		w.reopenAt = false
		if err := w.reopen(); err != nil {
			return pos, err
		}
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return pos, err
		}
	}
	end := len(b.buf)
	if w.maxSize > 0 && w.size+int64(end-pos) > w.maxSize && (pos == 0 || b.buf[pos-1] == '\n') {
		// Past max_size: what fits goes in, cut after a line, then the
		// file rotates; a batch larger than max_size spans files. A
		// single line longer than max_size fills a fresh file alone.
		room := w.maxSize - w.size
		cut := -1
		if room > 0 {
			cut = bytes.LastIndexByte(b.buf[pos:pos+int(min(room, int64(end-pos)))], '\n')
		}
		if cut < 0 && w.size > 0 {
			if err := w.rotate(); err != nil {
				return pos, fmt.Errorf("rotate %s: %w", w.path, err)
			}
			room = w.maxSize
			cut = bytes.LastIndexByte(b.buf[pos:pos+int(min(room, int64(end-pos)))], '\n')
		}
		if cut < 0 {
			cut = bytes.IndexByte(b.buf[pos:], '\n') // one line, longer than max_size
		}
		if cut >= 0 {
			end = pos + cut + 1
		}
	}
	n, err := w.f.Write(b.buf[pos:end])
	w.partial = pos+n < len(b.buf)
	w.size += int64(n)
	if n > 0 {
		w.dirty = true
	}
	return pos + n, err
}

// rotate renames PATH.i to PATH.i+1 (PATH.keep is removed), PATH to PATH.1,
// and opens a new PATH. With keep 0 the full file is removed.
func (w *fileWriter) rotate() error {
	w.syncNow()
	w.f.Close()
	w.f = nil
	var firstErr error
	keepErr := func(err error) {
		if err != nil && !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	if w.keep == 0 {
		keepErr(os.Remove(w.path))
	} else {
		keepErr(os.Remove(w.path + "." + strconv.Itoa(w.keep)))
		for i := w.keep - 1; i >= 1; i-- {
			keepErr(os.Rename(w.path+"."+strconv.Itoa(i), w.path+"."+strconv.Itoa(i+1)))
		}
		keepErr(os.Rename(w.path, w.path+".1"))
	}
	if err := w.open(); err != nil {
		return err
	}
	return firstErr
}

func (w *fileWriter) syncNow() {
	if w.f != nil && w.fsync > 0 && w.dirty {
		w.f.Sync()
	}
	w.dirty = false
	w.lastSync = time.Now()
}

func (w *fileWriter) maintain(now time.Time) time.Time {
	if w.fsync <= 0 || !w.dirty {
		return time.Time{}
	}
	due := w.lastSync.Add(w.fsync)
	if now.Before(due) {
		return due
	}
	if w.f != nil {
		w.f.Sync()
	}
	w.dirty = false
	w.lastSync = now
	return time.Time{}
}

// reopen closes the file and opens PATH again: after logrotate renamed it,
// new events go to a new file while the old one holds everything before.
// Asked for while a batch is half written (a full disk), it waits for the
// batch to be finished in the old file, so that no file holds half a line.
func (w *fileWriter) reopen() error {
	if w.f != nil && w.partial {
		w.reopenAt = true
		return nil
	}
	if w.f != nil {
		w.syncNow()
		w.f.Close()
		w.f = nil
	}
	return w.open()
}

func (w *fileWriter) close() error {
	if w.f == nil {
		return nil
	}
	// Closed (a stop, a reopen, a rotation): on disk before we say so,
	// whatever the fsync option.
	err := w.f.Sync()
	if errors.Is(err, syscall.EINVAL) {
		err = nil // a device (/dev/null) has nothing to sync
	}
	w.dirty = false
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// streamWriter writes batches to stdout (or Options.Stdout).
type streamWriter struct{ w io.Writer }

func (w *streamWriter) messages() bool               { return false }
func (w *streamWriter) skipped() int                 { return 0 }
func (w *streamWriter) maintain(time.Time) time.Time { return time.Time{} }
func (w *streamWriter) reopen() error                { return nil }
func (w *streamWriter) close() error                 { return nil }
func (w *streamWriter) write(b *batch, pos int) (int, error) {
	n, err := w.w.Write(b.buf[pos:])
	return pos + n, err
}

// safeDir refuses a directory for our files that another user could use
// to redirect them: writable by others without the sticky bit, or owned
// by a user other than root and us.
func safeDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if fi.Mode().Perm()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("directory %s is writable by every user (mode %04o, not sticky): refused; any user could replace the file auperf writes", dir, fi.Mode().Perm())
	}
	if uid := uint32(os.Geteuid()); st.Uid != 0 && st.Uid != uid {
		return fmt.Errorf("directory %s belongs to uid %d, not root or auperf's uid %d: refused; its owner could replace the file auperf writes", dir, st.Uid, uid)
	}
	return nil
}

// symlinkRefused says why a path that is a symbolic link is not written.
func symlinkRefused(path string) error {
	target, err := os.Readlink(path)
	if err != nil {
		return fmt.Errorf("%s is a symbolic link: refused (auperf never writes through one; name the file itself)", path)
	}
	_, serr := os.Stat(path)
	switch {
	case errors.Is(serr, syscall.ELOOP):
		return fmt.Errorf("%s is a symbolic link that loops (-> %s): refused (auperf never writes through one)", path, target)
	case errors.Is(serr, fs.ErrNotExist):
		return fmt.Errorf("%s is a dangling symbolic link (-> %s, which does not exist): refused (auperf never writes through one)", path, target)
	}
	return fmt.Errorf("%s is a symbolic link (-> %s): refused (auperf never writes through one; name the file itself)", path, target)
}

// sameFile reports whether two open files are one.
func sameFile(a, b *os.File) bool {
	if a == nil || b == nil {
		return false
	}
	x, err1 := a.Stat()
	y, err2 := b.Stat()
	return err1 == nil && err2 == nil && os.SameFile(x, y)
}
