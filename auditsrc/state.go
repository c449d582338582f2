// The state file: what a running source found and changed, locked in
// /run/auperf so that the next start after a crash restores it.

package auditsrc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// stateFile remembers, while a source runs, the audit status it found, so
// that the next run after a crash (SIGKILL, power loss) restores that and
// not the crashed run's changes. Its flock also keeps two sources with the
// same key from deleting each other's rules.
type stateFile struct {
	f          *os.File
	path       string
	pidLock    string // the lock file, on kernels without flock ("": flock)
	dirCreated bool   // we made its directory: removed with the file, if empty
	cleared    bool   // everything restored: the file goes on unlock
}

type savedState struct {
	PID   int   `json:"pid"` // the auperf that wrote it
	State State `json:"state"`
	// Excluded are the exclude rules (wire format) the run added for
	// lean records: they carry no key, so only this file names them.
	Excluded [][]byte `json:"excluded,omitempty"`
}

func lockState(dir, key string) (*stateFile, error) {
	_, err := os.Stat(dir)
	dirCreated := errors.Is(err, os.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create audit state directory: %w", err)
	}
	path := filepath.Join(dir, "audit-"+key+".json")
	for tries := 0; ; tries++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open audit state file: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			if errors.Is(err, unix.ENOSYS) {
				// A kernel without CONFIG_FILE_LOCKING: a lock
				// file made with O_EXCL instead.
				return lockByFile(f, path, key, dirCreated)
			}
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("another auperf audit source with key %q is running (lock %s)", key, path)
			}
			return nil, fmt.Errorf("lock audit state file: %w", err)
		}
		// A source that stops cleanly unlinks the file while it holds
		// the lock: a lock taken on the unlinked file is no lock.
		if same, err := samePath(f, path); err != nil || same || tries == 10 {
			if err != nil || !same {
				f.Close()
				return nil, fmt.Errorf("lock audit state file %s: it keeps being replaced", path)
			}
			return &stateFile{f: f, path: path, dirCreated: dirCreated}, nil
		}
		f.Close()
	}
}

// lockByFile locks the state file at path (open as f) on a kernel without
// flock (CONFIG_FILE_LOCKING off): PATH.lock is created exclusively and
// holds our pid. A lock file whose pid is gone is stale (a killed run)
// and is taken over; one whose pid lives is another auperf.
func lockByFile(f *os.File, path, key string, dirCreated bool) (*stateFile, error) {
	lock := path + ".lock"
	for tries := 0; tries < 10; tries++ {
		lf, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err == nil {
			_, werr := fmt.Fprintf(lf, "%d\n", os.Getpid())
			if cerr := lf.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(lock)
				f.Close()
				return nil, fmt.Errorf("write audit state lock %s: %w", lock, werr)
			}
			return &stateFile{f: f, path: path, pidLock: lock, dirCreated: dirCreated}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			f.Close()
			return nil, fmt.Errorf("lock audit state file (no flock on this kernel): %w", err)
		}
		b, _ := os.ReadFile(lock)
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 && pid != os.Getpid() && processAlive(pid) {
			f.Close()
			return nil, fmt.Errorf("another auperf audit source with key %q is running (pid %d, lock %s; remove it if pid %d is not auperf)", key, pid, lock, pid)
		}
		os.Remove(lock) // stale: its auperf is gone
	}
	f.Close()
	return nil, fmt.Errorf("lock audit state file %s: it keeps being replaced", lock)
}

// samePath reports whether path still names the open file f.
func samePath(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// read returns what a crashed run saved, if any.
func (sf *stateFile) read() (savedState, bool) {
	b := make([]byte, 64<<10)
	n, _ := sf.f.ReadAt(b, 0)
	s, ok := parseSaved(b[:n])
	if !ok || s.PID == os.Getpid() {
		return savedState{}, false
	}
	return s, true
}

// parseSaved parses a state file's content; false when it holds none.
func parseSaved(b []byte) (savedState, bool) {
	var s savedState
	if len(b) == 0 || json.Unmarshal(b, &s) != nil || s.PID == 0 {
		return savedState{}, false
	}
	return s, true
}

// write saves the state found and the exclusions added (or about to be).
func (sf *stateFile) write(st State, excluded [][]byte) error {
	b, err := json.Marshal(savedState{PID: os.Getpid(), State: st, Excluded: excluded})
	if err != nil {
		return err
	}
	if err := sf.f.Truncate(0); err != nil {
		return fmt.Errorf("save audit state: %w", err)
	}
	if _, err := sf.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("save audit state: %w", err)
	}
	return sf.f.Sync()
}

// clear forgets the saved state: everything was restored. unlock then
// deletes the file (and its directory, if we made it and it is empty),
// so that a clean run leaves nothing behind in /run.
func (sf *stateFile) clear() {
	_ = sf.f.Truncate(0)
	_ = sf.f.Sync()
	sf.cleared = true
}

func (sf *stateFile) unlock() {
	if sf.cleared {
		// Unlinked while locked: see lockState.
		_ = os.Remove(sf.path)
	}
	if sf.pidLock != "" {
		_ = os.Remove(sf.pidLock)
	} else {
		unix.Flock(int(sf.f.Fd()), unix.LOCK_UN)
	}
	sf.f.Close()
	if sf.cleared && sf.dirCreated {
		_ = os.Remove(filepath.Dir(sf.path)) // fails, harmlessly, if not empty
	}
}
