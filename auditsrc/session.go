// The audit session: what taking audit changes (the daemon pid or a
// multicast socket, the status fields, our rules, the lean exclusions, the
// state file that lets a later start repair a crash) and how all of it is
// undone.

package auditsrc

import (
	"errors"
	"fmt"
	"sync"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// session is what Run changed and must undo.
type session struct {
	s         *Source
	ctl       *conn
	reader    *conn
	orig      State // what to restore
	left      State // the status as we left it after attach (see restoreStatus)
	unicast   bool
	ownPID    bool       // we are the audit daemon: hand the pid back
	refused   []uint32   // processes told refused as the daemon (daemonRefused)
	pidLost   bool       // another process took the audit pid from us (pidTaken)
	taskRule  []byte     // the task filter loaded (taskfilter.go), under ctlMu
	broad     [][]byte   // the always rules Attach added (tree mode narrows them)
	ctlMu     sync.Mutex // ctl is shared by the reader loop and StartCommand
	locked    bool       // audit locked: our rules were there, nothing to add or delete
	enabled   bool       // we set enabled=1
	added     bool
	lostBase  uint32
	saved     *stateFile
	closeOnce sync.Once
	closeErr  error
	lean      bool          // our exclusions are loaded (see Config.Lean)
	excluded  [][]byte      // the exclude rules we added
	pause     time.Duration // sleep after a drain (0: the socket buffer is too small to wait)
}

// readStateOf is readState; tests make it fail.
var readStateOf = readState

func (s *Source) attach() (ss *session, err error) {
	ss = &session{s: s}
	ss.ctl, err = openConn(0)
	if err != nil {
		return nil, err
	}
	ss.saved, err = lockState(s.cfg.StateDir, s.cfg.Key)
	if err != nil {
		ss.ctl.Close()
		return nil, err
	}
	cur, err := readStateOf(ss.ctl)
	if err != nil {
		// Nothing changed yet, and nothing known to restore: a
		// crashed run's saved state stays for the next start.
		ss.saved.unlock()
		ss.ctl.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ss.close())
		}
	}()
	ss.orig, ss.left = cur, cur
	if saved, ok := ss.saved.read(); ok {
		// A run that crashed left its changes: restore what it found.
		prev := saved.State
		ss.orig.Enabled, ss.orig.RateLimit = prev.Enabled, prev.RateLimit
		ss.orig.BacklogLimit, ss.orig.BacklogWaitTime = prev.BacklogLimit, prev.BacklogWaitTime
		if cur.Enabled == 2 {
			ss.orig.Enabled = 2
		}
		if cur.Enabled != 2 {
			// Its exclusions (keyless: only the file names them).
			ss.excluded = saved.Excluded
			if err := ss.deleteExclusions(); err != nil {
				return ss, fmt.Errorf("remove the exclusions a crashed auperf left: %w", err)
			}
			if cur, err = readStateOf(ss.ctl); err != nil {
				return ss, err
			}
			ss.orig.Rules = cur.Rules
		}
	}
	if cur.Enabled == 2 {
		if !s.rules.loaded(cur.Rules) {
			return ss, ErrLocked
		}
		ss.locked = true
	} else {
		if _, err := deleteKeyed(ss.ctl, s.cfg.Key); err != nil {
			return ss, fmt.Errorf("remove stale auperf audit rules: %w", err)
		}
		if err := ss.saved.write(ss.orig, nil); err != nil {
			return ss, err
		}
	}
	return ss, ss.attach(cur)
}

// close restores what the session changed and releases its sockets,
// once: Close after Run (or Run's own deferred close after Close) must
// not close the same fds again, by then maybe another file's.
func (ss *session) close() error {
	ss.closeOnce.Do(func() {
		ss.ctlMu.Lock()
		ss.closeErr = ss.restore()
		ss.ctlMu.Unlock()
		ss.saved.unlock()
		ss.ctl.Close()
	})
	return ss.closeErr
}

func (ss *session) attach(cur State) error {
	s := ss.s
	daemonAlive := cur.PID != 0 && processAlive(int(cur.PID))
	switch s.cfg.Mode {
	case ModeUnicast:
		ss.unicast = true
	case ModeMulticast:
		ss.unicast = false
	default:
		ss.unicast = !daemonAlive
	}
	var err error
	if ss.unicast {
		ss.reader, err = openConn(0)
	} else {
		ss.reader, err = openConn(libaudit.NetlinkGroupReadLog)
	}
	if err != nil {
		return err
	}
	if ss.reader.setRcvBuf(s.cfg.RcvBuf) >= minPauseRcvBuf {
		ss.pause = drainPause
	}
	if ss.unicast {
		// The kernel sends to the socket that asked to be the daemon.
		if err := ss.reader.client().SetPID(libaudit.WaitForReply); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("become the audit daemon: another daemon owns audit (pid %d): %w", cur.PID, err)
			}
			return fmt.Errorf("become the audit daemon: %w", err)
		}
		ss.ownPID = true
	}
	if ss.locked {
		return nil
	}
	set := libaudit.AuditStatus{}
	if cur.Enabled == 0 {
		set.Mask |= libaudit.AuditStatusEnabled
		set.Enabled = 1
		ss.enabled = true
	}
	// The backlog is the queue of whoever is the daemon: by multicast it
	// is auditd's (its limit and wait are its admin's), not ours.
	if ss.unicast {
		limit := s.cfg.BacklogLimit
		if limit == 0 && cur.BacklogLimit < DefaultBacklogLimit && cur.BacklogLimit != 0 {
			limit = DefaultBacklogLimit
		}
		if limit != 0 && limit != cur.BacklogLimit {
			set.Mask |= libaudit.AuditStatusBacklogLimit
			set.BacklogLimit = limit
		}
		wait := cur.BacklogWaitTime
		if s.cfg.Backpressure == BackpressureDrop {
			wait = 0
		} else if wait == 0 {
			wait = s.cfg.BacklogWaitTime
		}
		if wait != cur.BacklogWaitTime {
			set.Mask |= libaudit.AuditStatusBacklogWaitTime
			set.BacklogWaitTime = wait
		}
	}
	if set.Mask != 0 {
		if err := setStatus(ss.ctl, set); err != nil {
			return fmt.Errorf("set audit status: %w", err)
		}
		if set.Mask&libaudit.AuditStatusEnabled != 0 {
			ss.left.Enabled = set.Enabled
		}
		if set.Mask&libaudit.AuditStatusBacklogLimit != 0 {
			ss.left.BacklogLimit = set.BacklogLimit
		}
		if set.Mask&libaudit.AuditStatusBacklogWaitTime != 0 {
			ss.left.BacklogWaitTime = set.BacklogWaitTime
		}
	}
	if ss.unicast && s.leanEligible() && noOtherReader(s.cfg.Paths) {
		if err := ss.startLean(cur.Rules); err != nil {
			return err
		}
	}
	st, err := getStatus(ss.ctl)
	if err != nil {
		return err
	}
	ss.lostBase = st.Lost
	rules, err := s.rules.wire()
	if err != nil {
		return err
	}
	for i, r := range rules {
		if i >= len(s.rules.never) && s.cfg.StartsCommand && s.cfg.Filter.Tree {
			break // StartCommand adds them, narrowed to the command
		}
		ss.added = true
		if err := addRule(ss.ctl, r); err != nil {
			return err
		}
		if i >= len(s.rules.never) {
			ss.broad = append(ss.broad, r)
		}
	}
	return nil
}

// restore undoes attach: our rules, the pid, the status fields.
func (ss *session) restore() error {
	var errs []error
	if ss.added {
		if _, err := deleteKeyed(ss.ctl, ss.s.cfg.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ss.deleteExclusions(); err != nil {
		errs = append(errs, err)
	}
	// The status first, while we are still the daemon: the kernel
	// sends the CONFIG_CHANGE records of these changes (and of the
	// rule deletions) to the daemon, and with no daemon it prints them
	// to the kernel log. Audit switched off before the pid is handed
	// back, the pid change logs nothing at all.
	if ss.ownPID {
		if st, err := getStatus(ss.ctl); err == nil {
			ss.pidTaken(st.PID) // (the loop reported it, or it just happened)
		}
	}
	// The status fields are the new daemon's when it took the pid from
	// us (enabled, backlog): putting ours back would turn its audit off.
	if !ss.locked && !ss.pidLost {
		if err := restoreStatus(ss.ctl, ss.orig, &ss.left); err != nil {
			errs = append(errs, err)
		}
	}
	if ss.reader != nil {
		if ss.ownPID {
			// kauditd sends asynchronously: let it hand the records
			// of those changes to us before there is no daemon.
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
				if st, err := getStatus(ss.ctl); err != nil || st.Backlog == 0 {
					break
				}
			}
			// Only the daemon's own process may hand the pid back.
			if err := setStatus(ss.ctl, libaudit.AuditStatus{Mask: libaudit.AuditStatusPID, PID: 0}); err != nil {
				errs = append(errs, fmt.Errorf("release the audit pid: %w", err))
			}
		}
		ss.reader.Close()
	}
	if !ss.locked && len(errs) == 0 {
		ss.saved.clear()
	}
	return errors.Join(errs...)
}

// removeRules deletes our rules when the source stops: no rule may be
// added after it (see widen).
func (ss *session) removeRules() error {
	ss.ctlMu.Lock()
	defer ss.ctlMu.Unlock()
	if ss.added {
		if _, err := deleteKeyed(ss.ctl, ss.s.cfg.Key); err != nil {
			return err
		}
		ss.added = false
	}
	return nil
}
