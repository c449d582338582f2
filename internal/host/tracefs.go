// The tracefs locator: where a tracefs with syscall events is mounted, or
// where one may be mounted, and why neither (masked by another mount, not
// readable, a kernel without tracing). One locator for probe and run.

package host

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// TraceFSState says where tracefs stands.
type TraceFSState string

const (
	TraceFSMounted   TraceFSState = "mounted"   // readable at Path now
	TraceFSMountable TraceFSState = "mountable" // not mounted; `run` may mount FSType on Path
	TraceFSAbsent    TraceFSState = "absent"
)

// TraceFS is where the syscall tracepoints are (or could be).
type TraceFS struct {
	State  TraceFSState `json:"state"`
	Path   string       `json:"path,omitempty"`   // as the host names it: "/sys/kernel/tracing"
	FSType string       `json:"fstype,omitempty"` // "tracefs", or "debugfs" (tracing/ inside, pre-4.1)
	Dir    string       `json:"-"`                // Path through Paths (fixture roots)
}

// Mount is one line of a mount table.
type Mount struct{ Point, FSType string }

// ReadMounts reads the mount table (ProcFS/mounts, else ProcFS/self/mounts).
func ReadMounts(p Paths) ([]Mount, error) {
	f, err := os.Open(p.Proc("mounts"))
	if err != nil {
		if f, err = os.Open(p.Proc("self", "mounts")); err != nil {
			return nil, err
		}
	}
	defer f.Close()
	var ms []Mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 3 {
			ms = append(ms, Mount{UnescapeMount(fs[1]), fs[2]})
		}
	}
	return ms, sc.Err()
}

// UnescapeMount undoes /proc/mounts' octal escapes (\040 for a space).
func UnescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Covering is the mount that path lies on: the last one listed whose mount
// point is path or one of its parents. A later mount hides earlier ones,
// which is how a tmpfs masks tracefs in a container or test namespace.
// The root mount is the exception: nothing is mounted over "/" after the
// fact, but after a pivot_root /proc/mounts may list "/" after "/sys", and
// it must not hide what is mounted below it.
func Covering(ms []Mount, path string) (Mount, bool) {
	var m, root Mount
	found, rootFound := false, false
	for _, e := range ms {
		switch {
		case e.Point == "/":
			root, rootFound = e, true
		case e.Point == path || strings.HasPrefix(path, strings.TrimSuffix(e.Point, "/")+"/"):
			m, found = e, true
		}
	}
	if !found {
		return root, rootFound
	}
	return m, found
}

// Where the kernel offers tracefs: its own mount point since 4.1, and
// debugfs's tracing/ directory (automounted tracefs since 4.1, part of
// debugfs before).
const (
	TracingPath = "/sys/kernel/tracing"
	DebugPath   = "/sys/kernel/debug"
)

// LocateTraceFS finds a mounted tracefs, or says whether one can be
// mounted, with the reason when it is absent. It never mounts. A
// configured p.TraceFS is taken as it is (mounted, or absent when it has
// no events directory). ms is the mount table (ReadMounts); nil when
// there is none to read.
func LocateTraceFS(p Paths, ms []Mount) (TraceFS, string) {
	if p.TraceFS != "" {
		if hasEvents(p.TraceFS) {
			return TraceFS{State: TraceFSMounted, Path: p.TraceFS, FSType: "tracefs", Dir: p.TraceFS}, ""
		}
		return TraceFS{State: TraceFSAbsent}, p.TraceFS + " has no events directory"
	}
	if ms == nil {
		// No mount table (a fixture root without one): what is there
		// is taken as mounted.
		for _, c := range []struct{ path, fstype string }{{TracingPath, "tracefs"}, {DebugPath + "/tracing", "tracefs"}} {
			if dir := p.HostPath(c.path); hasEvents(dir) {
				return TraceFS{State: TraceFSMounted, Path: c.path, FSType: c.fstype, Dir: dir}, ""
			}
		}
	}
	// denied: a tracefs is mounted but this user may not read it (tracefs
	// is 0700 root): that, not "not mounted", is what the user must hear.
	var denied string
	mounted := func(path, fstype string) (TraceFS, bool) {
		dir := p.HostPath(path)
		st, err := os.Stat(filepath.Join(dir, "events"))
		if errors.Is(err, fs.ErrPermission) && denied == "" {
			denied = fstype + " at " + path + " is mounted but not readable by this user (permission denied): run as root"
		}
		if err != nil || !st.IsDir() {
			return TraceFS{}, false
		}
		return TraceFS{State: TraceFSMounted, Path: path, FSType: fstype, Dir: dir}, true
	}
	if m, ok := Covering(ms, TracingPath); ok && m.FSType == "tracefs" {
		if t, ok := mounted(TracingPath, "tracefs"); ok {
			return t, ""
		}
	}
	if m, ok := Covering(ms, DebugPath+"/tracing"); ok && (m.FSType == "tracefs" || m.FSType == "debugfs") {
		if t, ok := mounted(DebugPath+"/tracing", m.FSType); ok {
			return t, ""
		}
	}
	for _, e := range ms { // tracefs mounted somewhere else, and not hidden
		if m, _ := Covering(ms, e.Point); e.FSType == "tracefs" && m == e {
			if t, ok := mounted(e.Point, "tracefs"); ok {
				return t, ""
			}
		}
	}
	if denied != "" {
		return TraceFS{State: TraceFSAbsent}, denied
	}
	// Not mounted: the kernel's empty mount points live in sysfs. One that
	// another filesystem covers has been masked on purpose.
	var masked []string
	for _, cand := range []struct{ path, fstype string }{{TracingPath, "tracefs"}, {DebugPath, "debugfs"}} {
		m, ok := Covering(ms, cand.path)
		if ok && m.FSType != "sysfs" {
			if isDir(p.HostPath(cand.path)) || m.Point == cand.path {
				masked = append(masked, cand.path+" is covered by a "+m.FSType+" mount")
			}
			continue
		}
		if isDir(p.HostPath(cand.path)) {
			return TraceFS{State: TraceFSMountable, Path: cand.path, FSType: cand.fstype, Dir: p.HostPath(cand.path)}, ""
		}
	}
	if len(masked) > 0 {
		return TraceFS{State: TraceFSAbsent}, "tracefs is not mounted and cannot be: " + strings.Join(masked, ", ")
	}
	return TraceFS{State: TraceFSAbsent}, "no tracefs: neither " + TracingPath + " nor " + DebugPath + " exists (kernel without CONFIG_TRACING)"
}

// MountTraceFS mounts what t says is mountable (tracefs on its path, or
// debugfs before 4.1) and returns the directory holding events/. The
// caller unmounts t.Dir with Unmount when done.
func MountTraceFS(t TraceFS) (string, error) {
	if t.State != TraceFSMountable {
		return "", fmt.Errorf("tracefs is %s, not mountable", t.State)
	}
	source := "nodev"
	if t.FSType == "debugfs" {
		source = "debugfs"
	}
	if err := unix.Mount(source, t.Dir, t.FSType, 0, ""); err != nil {
		return "", fmt.Errorf("mount %s on %s: %w", t.FSType, t.Path, err)
	}
	recordMount(t.Dir, t.FSType)
	dir := t.Dir
	if t.FSType == "debugfs" {
		dir = filepath.Join(t.Dir, "tracing")
	}
	if !hasEvents(dir) {
		Unmount(t.Dir)
		return "", fmt.Errorf("mounted %s on %s but it has no events directory", t.FSType, t.Path)
	}
	return dir, nil
}

// Unmount undoes a mount of ours. A mount something still uses (a user
// reading a file in it) is detached: it leaves the tree now and goes when
// the last user lets go, rather than staying mounted.
func Unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err == nil || errors.Is(err, unix.EINVAL) { // EINVAL: not mounted (any more)
		forgetMount(dir)
	}
	return err
}

func hasEvents(dir string) bool { return isDir(filepath.Join(dir, "events")) }

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
