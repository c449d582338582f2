// The guest's initramfs: a gzipped cpio (newc) archive built here, with
// busybox, auperf's static binaries, the kernel's config in /boot (for
// probe: stock kernels have no /proc/config.gz) and the init script.

package vmtest

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
)

// File is one file of the initramfs.
type File struct {
	Path string // inside the guest, without the leading /
	Src  string // a host file to copy, or
	Data []byte // the contents
	Mode os.FileMode
}

// WriteInitramfs writes a gzipped newc cpio archive of files (and the
// directories they need, /dev/console, and the mount points init uses) to
// out.
func WriteInitramfs(out string, files []File) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	w := &cpio{w: zw, ino: 1}
	dirs := map[string]bool{}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "boot", "root", "run"} {
		dirs[d] = true
	}
	for _, fl := range files {
		for d := path.Dir(fl.Path); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		if err := w.entry(d, 0o40755, 0, 0, nil); err != nil {
			return err
		}
	}
	if err := w.entry("dev/console", 0o20600, 5, 1, nil); err != nil {
		return err
	}
	for _, fl := range files {
		data := fl.Data
		if fl.Src != "" {
			if data, err = os.ReadFile(fl.Src); err != nil {
				return err
			}
		}
		mode := fl.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := w.entry(fl.Path, 0o100000|uint32(mode.Perm()), 0, 0, data); err != nil {
			return err
		}
	}
	if err := w.entry("TRAILER!!!", 0, 0, 0, nil); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// cpio writes newc entries.
type cpio struct {
	w   io.Writer
	ino uint32
	n   int64
}

func (c *cpio) entry(name string, mode, rdevMajor, rdevMinor uint32, data []byte) error {
	nlink := 1
	if mode&0o170000 == 0o40000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.ino++
	if err := c.write([]byte(hdr + name + "\x00")); err != nil {
		return err
	}
	if err := c.pad(); err != nil {
		return err
	}
	if err := c.write(data); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpio) write(b []byte) error {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return err
}

func (c *cpio) pad() error {
	if r := c.n % 4; r != 0 {
		return c.write(make([]byte, 4-r))
	}
	return nil
}
