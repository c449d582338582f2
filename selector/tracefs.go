package selector

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/auperf/auperf/perfsrc"
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
	Dir    string       `json:"-"`                // Path through Config (fixture roots)
}

type mountEntry struct{ point, fstype string }

func readMounts(c Config) ([]mountEntry, error) {
	f, err := os.Open(c.proc("mounts"))
	if err != nil {
		if f, err = os.Open(c.proc("self", "mounts")); err != nil {
			return nil, err
		}
	}
	defer f.Close()
	var ms []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 3 {
			ms = append(ms, mountEntry{perfsrc.UnescapeMount(fs[1]), fs[2]})
		}
	}
	return ms, sc.Err()
}

// covering is the mount that path lies on: the last one listed whose mount
// point is path or one of its parents. A later mount hides earlier ones,
// which is how a tmpfs masks tracefs in a container or test namespace.
// The root mount is the exception: nothing is mounted over "/" after the
// fact, but after a pivot_root /proc/mounts may list "/" after "/sys", and
// it must not hide what is mounted below it.
func covering(ms []mountEntry, path string) (mountEntry, bool) {
	var m, root mountEntry
	found, rootFound := false, false
	for _, e := range ms {
		switch {
		case e.point == "/":
			root, rootFound = e, true
		case e.point == path || strings.HasPrefix(path, strings.TrimSuffix(e.point, "/")+"/"):
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
	tracingPath = "/sys/kernel/tracing"
	debugPath   = "/sys/kernel/debug"
)

// locateTraceFS finds a mounted tracefs, or says whether one can be
// mounted. It never mounts.
func locateTraceFS(c Config, ms []mountEntry) (TraceFS, string) {
	// denied: a tracefs is mounted but this user may not read it (tracefs
	// is 0700 root): that, not "not mounted", is what the user must hear.
	var denied string
	mounted := func(path, fstype string) (TraceFS, bool) {
		dir := c.hostPath(path)
		st, err := os.Stat(filepath.Join(dir, "events"))
		if errors.Is(err, fs.ErrPermission) && denied == "" {
			denied = fstype + " at " + path + " is mounted but not readable by this user (permission denied): run as root"
		}
		if err != nil || !st.IsDir() {
			return TraceFS{}, false
		}
		return TraceFS{State: TraceFSMounted, Path: path, FSType: fstype, Dir: dir}, true
	}
	if m, ok := covering(ms, tracingPath); ok && m.fstype == "tracefs" {
		if t, ok := mounted(tracingPath, "tracefs"); ok {
			return t, ""
		}
	}
	if m, ok := covering(ms, debugPath+"/tracing"); ok && (m.fstype == "tracefs" || m.fstype == "debugfs") {
		if t, ok := mounted(debugPath+"/tracing", m.fstype); ok {
			return t, ""
		}
	}
	for _, e := range ms { // tracefs mounted somewhere else, and not hidden
		if m, _ := covering(ms, e.point); e.fstype == "tracefs" && m == e {
			if t, ok := mounted(e.point, "tracefs"); ok {
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
	for _, cand := range []struct{ path, fstype string }{{tracingPath, "tracefs"}, {debugPath, "debugfs"}} {
		m, ok := covering(ms, cand.path)
		if ok && m.fstype != "sysfs" {
			if isDir(c.hostPath(cand.path)) || m.point == cand.path {
				masked = append(masked, cand.path+" is covered by a "+m.fstype+" mount")
			}
			continue
		}
		if isDir(c.hostPath(cand.path)) {
			return TraceFS{State: TraceFSMountable, Path: cand.path, FSType: cand.fstype, Dir: c.hostPath(cand.path)}, ""
		}
	}
	if len(masked) > 0 {
		return TraceFS{State: TraceFSAbsent}, "tracefs is not mounted and cannot be: " + strings.Join(masked, ", ")
	}
	return TraceFS{State: TraceFSAbsent}, "no tracefs: neither " + tracingPath + " nor " + debugPath + " exists (kernel without CONFIG_TRACING)"
}
