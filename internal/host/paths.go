// Package host names the host's files: procfs, sysfs, tracefs and the root
// of the rest, as one Paths value that the selector, the perf source and
// the audit source all take, so that tests and `auperf probe --rootfs`
// point every reader at a fixture tree. It also holds the one tracefs
// locator (where tracefs is mounted, or where it may be, and what hides
// it), and mounting and unmounting it.
package host

import (
	"path/filepath"
	"strings"
)

// Paths are the host's file roots. The zero value is the real host.
type Paths struct {
	ProcFS  string // procfs mount, default "/proc"
	SysFS   string // sysfs mount, default "/sys"
	TraceFS string // tracefs (events/ inside); "" = find it from ProcFS/mounts
	RootFS  string // root of everything else (/boot/config-*), default "/"
}

// WithDefaults fills the empty roots (TraceFS stays "" to be found).
func (p Paths) WithDefaults() Paths {
	if p.ProcFS == "" {
		p.ProcFS = "/proc"
	}
	if p.SysFS == "" {
		p.SysFS = "/sys"
	}
	if p.RootFS == "" {
		p.RootFS = "/"
	}
	return p
}

// Proc and Sys name a file under ProcFS / SysFS.
func (p Paths) Proc(elem ...string) string {
	return filepath.Join(append([]string{p.WithDefaults().ProcFS}, elem...)...)
}

func (p Paths) Sys(elem ...string) string {
	return filepath.Join(append([]string{p.WithDefaults().SysFS}, elem...)...)
}

// HostPath maps an absolute path as the host sees it (a mount point from
// /proc/mounts, /boot/config-x) into the configured roots.
func (p Paths) HostPath(path string) string {
	p = p.WithDefaults()
	path = filepath.Clean("/" + path)
	switch {
	case path == "/sys" || strings.HasPrefix(path, "/sys/"):
		return filepath.Join(p.SysFS, strings.TrimPrefix(path, "/sys"))
	case path == "/proc" || strings.HasPrefix(path, "/proc/"):
		return filepath.Join(p.ProcFS, strings.TrimPrefix(path, "/proc"))
	}
	return filepath.Join(p.RootFS, path)
}
