// The task filter: while auperf traces only `-- COMMAND`'s audit session
// and is the only audit reader, processes started outside that session get
// no audit context, so they keep the fast syscall path.

package auditsrc

import (
	"encoding/binary"
	"fmt"
)

// The task filter.
//
// Once audit has been enabled on a boot, the kernel gives every process
// forked afterwards an audit context (audit_alloc at fork, as soon as
// audit_ever_enabled), and with it the audit syscall entry and exit path,
// whatever the rules. The one thing that keeps a new process off that path
// is the task list: a rule there is evaluated once, at fork, for the child
// (whose audit session is its parent's), and a `never` match leaves the
// child without a context for its lifetime. While the command runs in its
// own audit session S, auperf loads
//
//	-a never,task -F sessionid!=S -k KEY
//
// (auditctl refuses sessionid on the task list; the kernel accepts it, on
// 4.10+ where the field exists), so that processes forked outside S pay
// nothing for our rules; the command and everything it forks (session S)
// get a context and are audited as before. Processes already running are
// not changed. (auperf's own threads that the Go runtime starts from the
// thread that gave the command its session are in S too: they are
// auperf's pid, which the never rule on the exit list excludes.) The rule carries our key: it is deleted with our other
// rules on exit, and by the next start or `auperf cleanup` after a crash.
//
// The price: a process forked outside S while the rule is loaded has no
// audit context for its lifetime, so an audit daemon started later does
// not see its syscalls either. So the rule is loaded only under the same
// conditions as lean records (auperf is the audit daemon and nobody else
// reads audit), is deleted as soon as another reader appears, and is off
// with --audit-task-filter off.

// taskFilterRule is the wire rule that leaves processes outside session
// ses without an audit context.
func taskFilterRule(ses uint32, key string) ([]byte, error) {
	r, err := buildRule("-a never,task -k "+key, [2]uint32{fieldSessionID, ses})
	if err != nil {
		return nil, err
	}
	// buildRule appends its extra fields with "="; this one is "!=".
	le := binary.NativeEndian
	n := int(le.Uint32(r[offFieldCount:]))
	for i := range n {
		if le.Uint32(r[offFields+4*i:]) == fieldSessionID {
			le.PutUint32(r[offFieldFlags+4*i:], opNotEqual)
		}
	}
	return r, nil
}

// taskFilterEligible reports whether the task filter may be loaded for
// the command's session: allowed, auperf is the audit daemon with its own
// rules, and nobody else reads audit.
func (ss *session) taskFilterEligible() bool {
	s := ss.s
	return s.cfg.TaskFilter != LeanOff && ss.unicast && ss.ownPID && !ss.locked && noOtherReader(s.cfg.Paths)
}

// startTaskFilter loads the task filter for session ses when it may, and
// says what it did.
func (ss *session) startTaskFilter(ses uint32) {
	if !ss.taskFilterEligible() {
		return
	}
	if err := ss.addTaskFilter(ses); err != nil {
		ss.s.warn("processes started outside the command keep the audit syscall path: %v", err)
		return
	}
	if ss.s.c.taskFilter.Load() == 0 {
		return // the source stopped meanwhile
	}
	ss.s.warn("no other process reads audit: processes started outside the command's audit session (%d) while auperf runs get no audit context, so they keep the fast syscall path (one task rule, -a never,task -F sessionid!=%d, deleted on exit or as soon as another audit reader appears); they stay unaudited for their lifetime, also by an audit daemon started later; --audit-task-filter off keeps every new process audited (and slower)", ses, ses)
}

func (ss *session) addTaskFilter(ses uint32) error {
	r, err := taskFilterRule(ses, ss.s.cfg.Key)
	if err != nil {
		return err
	}
	ss.ctlMu.Lock()
	defer ss.ctlMu.Unlock()
	if !ss.added {
		return nil // stopped meanwhile: no rule of ours may be added
	}
	if err := addRule(ss.ctl, r); err != nil {
		return fmt.Errorf("audit task filter: %w", err)
	}
	ss.taskRule = r
	ss.s.c.taskFilter.Store(1)
	return nil
}

// endTaskFilter deletes the task filter while the source runs: another
// audit reader appeared, and the processes forked from now on are its to
// audit.
func (ss *session) endTaskFilter() error {
	ss.ctlMu.Lock()
	defer ss.ctlMu.Unlock()
	if ss.taskRule == nil || !ss.added {
		return nil
	}
	if err := deleteRule(ss.ctl, ss.taskRule); err != nil {
		return fmt.Errorf("delete the audit task filter: %w", err)
	}
	ss.taskRule = nil
	ss.s.c.taskFilter.Store(0)
	return nil
}
