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
	f *os.File
}

type savedState struct {
	PID   int   `json:"pid"` // the auperf that wrote it
	State State `json:"state"`
	// Excluded are the exclude rules (wire format) the run added for
	// lean records: they carry no key, so only this file names them.
	Excluded [][]byte `json:"excluded,omitempty"`
}

func lockState(dir, key string) (*stateFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create audit state directory: %w", err)
	}
	path := filepath.Join(dir, "audit-"+key+".json")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit state file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another auperf audit source with key %q is running (lock %s)", key, path)
		}
		return nil, fmt.Errorf("lock audit state file: %w", err)
	}
	return &stateFile{f: f}, nil
}

// read returns what a crashed run saved, if any.
func (sf *stateFile) read() (savedState, bool) {
	var s savedState
	b := make([]byte, 64<<10)
	n, _ := sf.f.ReadAt(b, 0)
	if n == 0 || json.Unmarshal(b[:n], &s) != nil || s.PID == os.Getpid() {
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

// clear forgets the saved state: everything was restored.
func (sf *stateFile) clear() {
	_ = sf.f.Truncate(0)
	_ = sf.f.Sync()
}

func (sf *stateFile) unlock() {
	unix.Flock(int(sf.f.Fd()), unix.LOCK_UN)
	sf.f.Close()
}
