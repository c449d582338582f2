// Cleanup: what a killed audit source left (SIGKILL, a crash, power
// loss), restored from its state file without starting a source: `auperf
// cleanup`, systemd's ExecStopPost, and every start of `auperf run`.

package auditsrc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Leftover reads the state file of key in stateDir without locking or
// changing anything: the pid of the auperf that wrote it and whether that
// process still runs. ok is false when there is no state to restore.
func Leftover(stateDir, key string) (pid int, running, ok bool) {
	b, err := os.ReadFile(filepath.Join(stateDir, "audit-"+key+".json"))
	if err != nil || len(b) == 0 {
		return 0, false, false
	}
	s, ok := parseSaved(b)
	if !ok {
		return 0, false, false
	}
	return s.PID, processAlive(s.PID), true
}

// Cleanup restores what a killed audit source with key left, as its state
// file in stateDir says: the status fields it changed (enabled,
// backlog_limit, backlog_wait_time, rate_limit) back to what that run
// found, its keyed rules and its lean exclusions deleted. It returns one
// line per change made; none when there was nothing to do. A state file
// held by a running auperf is left alone (said in a line, no error).
func Cleanup(stateDir, key string) ([]string, error) {
	path := filepath.Join(stateDir, "audit-"+key+".json")
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	sf, err := lockState(stateDir, key)
	if err != nil {
		if pid, running, ok := Leftover(stateDir, key); ok && running {
			return []string{fmt.Sprintf("audit: left alone: auperf pid %d is running with key %q", pid, key)}, nil
		}
		return nil, err
	}
	saved, ok := sf.read()
	if !ok {
		// Empty (a clean stop) or not ours to read: nothing to restore.
		sf.clear()
		sf.unlock()
		return nil, nil
	}
	ctl, err := openConn(0)
	if err != nil {
		sf.unlock()
		return nil, err
	}
	defer ctl.Close()
	cur, err := readState(ctl)
	if err != nil {
		sf.unlock()
		return nil, err
	}
	var did []string
	if cur.Enabled == 2 {
		sf.unlock()
		return []string{"audit: locked (enabled=2): the rules and status a killed auperf left cannot change until reboot"}, nil
	}
	var errs []error
	ss := &session{ctl: ctl, excluded: saved.Excluded}
	nExcl := 0
	for _, r := range saved.Excluded {
		if containsRule(cur.Rules, r) {
			nExcl++
		}
	}
	if err := ss.deleteExclusions(); err != nil {
		errs = append(errs, err)
	} else if nExcl > 0 {
		did = append(did, fmt.Sprintf("audit: deleted %d lean-mode exclusion rule(s) of auperf pid %d", nExcl, saved.PID))
	}
	n, err := deleteKeyed(ctl, key)
	if err != nil {
		errs = append(errs, err)
	}
	if n > 0 {
		did = append(did, fmt.Sprintf("audit: deleted %d rule(s) with key %q", n, key))
	}
	o := saved.State
	for _, f := range []struct {
		name      string
		cur, orig uint32
	}{
		{"enabled", cur.Enabled, o.Enabled},
		{"backlog_limit", cur.BacklogLimit, o.BacklogLimit},
		{"backlog_wait_time", cur.BacklogWaitTime, o.BacklogWaitTime},
		{"rate_limit", cur.RateLimit, o.RateLimit},
	} {
		if f.cur != f.orig {
			did = append(did, fmt.Sprintf("audit: %s %d -> %d (as auperf pid %d found it)", f.name, f.cur, f.orig, saved.PID))
		}
	}
	if err := restoreStatus(ctl, o, nil); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		sf.clear()
	}
	sf.unlock()
	return did, errors.Join(errs...)
}
