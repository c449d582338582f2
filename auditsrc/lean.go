// Lean records: the two keyless exclusions of PROCTITLE and EOE while
// auperf is the only audit reader, and how they are undone.

package auditsrc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/internal/host"
)

// Lean records.
//
// For every audited call the kernel formats, allocates, queues and sends
// a SYSCALL record, a PROCTITLE record (the command line, hex encoded) and
// an EOE record, in the audited process's own syscall exit path, and
// wakes kauditd for each. Profiled under the bench loop, that is about
// 70% of what an audited call costs (perf record -a -g: audit_log_exit).
// PROCTITLE and EOE carry nothing auperf reports, so while auperf is the
// audit daemon and no other process reads audit (a multicast listener such
// as journald or another auperf), it excludes both record types with two
// exclude-list rules:
//
//	-a never,exclude -F msgtype=PROCTITLE
//	-a never,exclude -F msgtype=EOE
//
// The exclude list is evaluated before a record is even allocated, and
// the kernel does not count excluded records as lost. Exclusions are
// host-wide, but then the records would have reached nobody but us.
// Rules on the exclude list cannot carry a key (the kernel's exclude
// filter stops at a field it does not know), so the state file records
// the exclusions we added and the next start deletes them after a crash.
// An exclusion that was already loaded is neither added nor deleted.
//
// Without EOE, a group is complete when its known records are in: the
// memory family logs a SYSCALL record and, for an mmap of a file, an MMAP
// record after it. Lean mode is therefore only used when every selected
// event is of the memory family.
//
// When another reader appears while we run, the exclusions are deleted
// (within the status interval): the reader then receives full events.

// excludeTypes are the record types lean mode excludes.
var excludeTypes = []string{"PROCTITLE", "EOE"}

// leanEligible reports whether the selected events all have a record set
// known without EOE, and lean mode is allowed.
func (s *Source) leanEligible() bool {
	return s.cfg.Lean != LeanOff && !s.rules.all && LeanEvents(slices.Concat(s.cfg.Events, s.cfg.B32Events))
}

// LeanEvents reports whether lean records can serve these events: all of
// the memory family, whose record set is known without EOE.
func LeanEvents(events []string) bool {
	for _, e := range events {
		if !slices.Contains(decode.DefaultEvents, e) {
			return false
		}
	}
	return len(events) > 0
}

// noOtherReader reports whether no other socket listens to audit's
// multicast group and we can tell (same network namespace as init: the
// kernel multicasts audit records in the initial one only).
func noOtherReader(p host.Paths) bool {
	if !initNetNS(p) {
		return false
	}
	f, err := os.Open(p.Proc("net", "netlink"))
	if err != nil {
		return false
	}
	defer f.Close()
	n, ok := AuditListeners(f)
	return ok && n == 0
}

// initNetNS reports whether we are in the initial network namespace: as
// pid 1's, or, where pid 1 is out of reach (a pid namespace, no ptrace
// access), by the fixed inode kernels since 6.x give the initial one.
func initNetNS(p host.Paths) bool {
	self, err := os.Readlink(p.Proc("self", "ns", "net"))
	if err != nil {
		return false
	}
	if init, err := os.Readlink(p.Proc("1", "ns", "net")); err == nil {
		return self == init
	}
	return self == initNetNSLink
}

// initNetNSLink is the initial network namespace with a fixed inode
// number (0xEFFFFFF9, NET_NS_INIT_INO).
const initNetNSLink = "net:[4026531833]"

// AuditListeners counts the NETLINK_AUDIT sockets of /proc/net/netlink
// (read from r) that joined a multicast group: other readers of audit
// records. ok is false if the table is not understood.
func AuditListeners(r io.Reader) (n int, ok bool) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return 0, false
	}
	head := strings.Fields(sc.Text())
	eth, groups := slices.Index(head, "Eth"), slices.Index(head, "Groups")
	if eth < 0 || groups < 0 {
		return 0, false
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) <= max(eth, groups) {
			return 0, false
		}
		if f[eth] == "9" && strings.Trim(f[groups], "0") != "" {
			n++
		}
	}
	return n, sc.Err() == nil
}

// exclusionRules are the wire rules of lean mode.
func exclusionRules() ([][]byte, error) {
	var out [][]byte
	for _, t := range excludeTypes {
		r, err := buildRule("-a never,exclude -F msgtype=" + t)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// startLean adds the exclusions not already among rules (the rule list
// found), saving them in the state file first.
func (ss *session) startLean(rules [][]byte) error {
	want, err := exclusionRules()
	if err != nil {
		return err
	}
	var add [][]byte
	for _, r := range want {
		if !slices.ContainsFunc(rules, func(o []byte) bool { return bytes.Equal(o, r) }) {
			add = append(add, r)
		}
	}
	if len(add) == 0 {
		return nil
	}
	// Saved before they are loaded: a crash in between leaves the next
	// start something to check, not a rule nobody knows of.
	if err := ss.saved.write(ss.orig, add); err != nil {
		return err
	}
	for _, r := range add {
		ss.excluded = append(ss.excluded, r)
		if err := addRule(ss.ctl, r); err != nil {
			return fmt.Errorf("lean audit records: %w", err)
		}
	}
	ss.lean = true
	ss.s.c.lean.Store(1)
	// Attach holds s.mu: Warnings is read after it returns.
	ss.s.warnings = append(ss.s.warnings, "no other process reads audit: while auperf runs, PROCTITLE and EOE records are excluded (two keyless exclude rules, deleted on exit or as soon as another audit reader appears; --audit-lean off keeps them)")
	return nil
}

// deleteExclusions deletes the exclusions we added, those still loaded.
func (ss *session) deleteExclusions() error {
	if len(ss.excluded) == 0 {
		return nil
	}
	rules, err := ss.ctl.client().GetRules()
	if err != nil {
		return fmt.Errorf("list audit rules: %w", err)
	}
	var errs []error
	for _, r := range ss.excluded {
		if !slices.ContainsFunc(rules, func(o []byte) bool { return bytes.Equal(o, r) }) {
			continue
		}
		if err := deleteRule(ss.ctl, r); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("delete lean-mode exclusions: %w", errors.Join(errs...))
	}
	ss.excluded, ss.lean = nil, false
	return nil
}

// endLean deletes the exclusions while the source runs (another reader
// appeared) and tells the reader to look for the deletion's serial.
func (ss *session) endLean(r *reader) error {
	ss.ctlMu.Lock()
	defer ss.ctlMu.Unlock()
	if err := ss.deleteExclusions(); err != nil {
		return err
	}
	r.awaitLeanEnd = true
	ss.s.c.leanEnded.Add(1)
	return ss.saved.write(ss.orig, nil)
}
