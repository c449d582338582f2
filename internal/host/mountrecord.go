// Mount records: a tracefs (or debugfs) auperf mounted is recorded in
// RunDir while it is mounted, so that a run killed before it could unmount
// is repaired by `auperf cleanup` or the next start.

package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RunDir holds what a running auperf changed and must undo: the audit
// state file (auditsrc) and mount records. systemd's RuntimeDirectory.
var RunDir = "/run/auperf"

type mountRecord struct {
	PID    int    `json:"pid"`
	Dir    string `json:"dir"`
	FSType string `json:"fstype"`
}

func recordPath(pid int) string {
	return filepath.Join(RunDir, "mount-"+strconv.Itoa(pid)+".json")
}

// recordMount notes our mount of fstype on dir. A record that cannot be
// written costs only the repair after a crash: the mount goes ahead.
func recordMount(dir, fstype string) {
	if err := os.MkdirAll(RunDir, 0o700); err != nil {
		return
	}
	b, _ := json.Marshal(mountRecord{PID: os.Getpid(), Dir: dir, FSType: fstype})
	f, err := os.OpenFile(recordPath(os.Getpid()), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return
	}
	f.Write(b)
	f.Sync()
	f.Close()
}

// forgetMount removes our record of a mount on dir.
func forgetMount(dir string) {
	path := recordPath(os.Getpid())
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var r mountRecord
	if json.Unmarshal(b, &r) == nil && r.Dir == dir {
		os.Remove(path)
		os.Remove(RunDir) // only if empty: another record or state file keeps it
	}
}

// LeftMount is a mount a killed auperf left.
type LeftMount struct {
	PID        int
	Dir        string
	FSType     string
	StillThere bool // still mounted (else only the record is left)
}

// LeftMounts lists the mount records of auperf processes that are gone.
func LeftMounts(p Paths) []LeftMount {
	recs, _ := filepath.Glob(filepath.Join(RunDir, "mount-*.json"))
	ms, _ := ReadMounts(p)
	var out []LeftMount
	for _, path := range recs {
		b, err := os.ReadFile(path)
		var r mountRecord
		if err != nil || json.Unmarshal(b, &r) != nil || r.PID <= 0 {
			continue
		}
		if r.PID == os.Getpid() || isAuperf(p, r.PID) {
			continue
		}
		l := LeftMount{PID: r.PID, Dir: r.Dir, FSType: r.FSType}
		for _, m := range ms {
			if m.Point == r.Dir && m.FSType == r.FSType {
				l.StillThere = true
			}
		}
		out = append(out, l)
	}
	return out
}

// CleanupMounts unmounts what killed auperf runs mounted and forgets their
// records; one line per mount undone.
func CleanupMounts(p Paths) ([]string, error) {
	var did []string
	var errs []error
	for _, l := range LeftMounts(p) {
		if l.StillThere {
			if err := Unmount(l.Dir); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s (mounted by auperf pid %d): %w", l.Dir, l.PID, err))
				continue
			}
			did = append(did, fmt.Sprintf("unmounted %s at %s (mounted by auperf pid %d)", l.FSType, l.Dir, l.PID))
		}
		os.Remove(recordPath(l.PID))
	}
	os.Remove(RunDir) // only if empty
	return did, errors.Join(errs...)
}

// isAuperf reports whether pid is a running auperf: a reused pid is not,
// nor a killed one its parent has not reaped yet (a zombie).
func isAuperf(p Paths, pid int) bool {
	b, err := os.ReadFile(p.WithDefaults().Proc(strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+3 > len(s) {
		return false
	}
	comm, state := s[open+1:end], s[end+2]
	return strings.HasPrefix(comm, "auperf") && state != 'Z' && state != 'X'
}
