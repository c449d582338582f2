// The `-- COMMAND` tree: the command started in an audit session of its own
// and the rules narrowed to that session.

package auditsrc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/auperf/auperf/internal/crash"
	"golang.org/x/sys/unix"
)

// Tracing a command's process tree (`auperf run -- COMMAND`).
//
// Audit rules have no "descendant of" field, and a pid rule added when a
// child appears would miss the child's first calls. But every task
// inherits its audit session id (ses) from its parent, and a task gets a
// fresh one when it writes its loginuid. So StartCommand gives the thread
// that forks the command a new audit session, narrows the rules to it
// (-F sessionid=, kernel 4.10+), and forks: the command and everything it
// starts, however deep and however short-lived, carry that session and
// nothing else does. The cost: the command runs in its own audit session,
// and when auperf had no login uid (unset), the command's loginUserId
// becomes auperf's uid.
//
// Where that cannot work (loginuid immutable, kernel without the
// sessionid field) the rules stay as Attach added them, host-wide for the
// selected syscalls, and the tree is followed in user space from each
// event's ppid (filter.Tree), which can miss a process whose parent
// exited before either made a traced call.

// StartCommand starts cmd so that it and all its descendants are traced
// (see above). Call it after Attach, instead of cmd.Start, when Config.Filter.Tree
// is set. It returns cmd.Start's error; a failure to set up the session is
// not an error but a warning (Warnings) and the host-wide fallback.
func (s *Source) StartCommand(cmd *exec.Cmd) error {
	s.mu.Lock()
	ss := s.sess
	s.mu.Unlock()
	if ss == nil {
		return errors.New("audit source: StartCommand before Attach")
	}
	done := make(chan error, 1)
	go func() {
		defer crash.Recover()
		// The goroutine never unlocks its thread: the thread, whose
		// session differs from the rest of auperf, ends with it.
		runtime.LockOSThread()
		if ses, err := newAuditSession(); err != nil {
			s.warn("cannot give the command its own audit session (%v): following its process tree in user space from rules on every process", err)
			ss.widen()
		} else if err := ss.narrowToSession(ses); err != nil {
			s.warn("cannot narrow the audit rules to the command's session %d (%v): following its process tree in user space from rules on every process", ses, err)
			ss.widen()
		} else {
			s.session.Store(ses)
			ss.startTaskFilter(ses)
		}
		done <- cmd.Start()
	}()
	return <-done
}

// newAuditSession gives the calling thread (locked) a new audit session by
// writing its loginuid, and returns the session id. The loginuid is kept
// when set; an unset one becomes the thread's uid (a valid uid is what
// starts a session).
func newAuditSession() (uint32, error) {
	dir := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/"
	b, err := os.ReadFile(dir + "loginuid")
	if err != nil {
		return 0, err
	}
	auid := strings.TrimSpace(string(b))
	if auid == "4294967295" {
		auid = strconv.Itoa(os.Getuid())
	}
	if err := os.WriteFile(dir+"loginuid", []byte(auid), 0); err != nil {
		return 0, fmt.Errorf("write loginuid: %w", err)
	}
	b, err = os.ReadFile(dir + "sessionid")
	if err != nil {
		return 0, err
	}
	ses, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil || ses == 0 || ses == 4294967295 {
		return 0, fmt.Errorf("read sessionid %q: no session", strings.TrimSpace(string(b)))
	}
	return uint32(ses), nil
}

// narrowToSession adds the always rules with -F sessionid=ses, then
// removes the host-wide ones Attach added (unless Config.StartsCommand
// kept it from adding them).
func (ss *session) narrowToSession(ses uint32) error {
	s := ss.s
	ss.ctlMu.Lock()
	defer ss.ctlMu.Unlock()
	if !ss.added || ss.locked {
		return errors.New("the rules are not ours to change")
	}
	for _, l := range s.rules.always {
		r, err := buildRule(l, [2]uint32{fieldSessionID, ses})
		if err != nil {
			return err
		}
		if err := addRule(ss.ctl, r); err != nil {
			return err
		}
	}
	for _, r := range ss.broad {
		if err := deleteRule(ss.ctl, r); err != nil {
			return err
		}
	}
	ss.broad = nil
	return nil
}

// widen adds the host-wide always rules that Config.StartsCommand held
// back (the fallback when the session cannot be used).
func (ss *session) widen() {
	ss.ctlMu.Lock()
	defer ss.ctlMu.Unlock()
	if !ss.s.cfg.StartsCommand || ss.broad != nil || ss.locked || !ss.added {
		return // (!added: stopped, our rules are gone and must stay gone)
	}
	for _, l := range ss.s.rules.always {
		r, err := buildRule(l)
		if err == nil {
			err = addRule(ss.ctl, r)
		}
		if err != nil {
			ss.s.warn("add audit rule: %v", err)
			return
		}
		ss.broad = append(ss.broad, r)
	}
}

// feedTree tells the user-space process tree (filter.Tree, shared with
// the pipeline's filter) that an event of the command's session comes
// from a descendant: all of the session is the tree.
func (s *Source) feedTree(sys *syscallRecord) {
	ses := s.session.Load()
	t := s.cfg.Filter.Procs
	if ses == 0 || t == nil || len(s.cfg.Filter.PIDs) == 0 ||
		sys.has&(hasSes|hasPid|hasPPid) != hasSes|hasPid|hasPPid || sys.ses != ses {
		return
	}
	pp, p := int(sys.ppid), int(sys.pid)
	if !t.Contains(pp) {
		t.Fork(s.cfg.Filter.PIDs[0], pp)
	}
	if !t.Contains(p) {
		t.Fork(pp, p)
	}
}
