// Rule building, pure: from the events, archs and filter, the auditctl
// rule lines auperf loads (a never rule for its own pid first, then the
// always rules tagged with its key), the set of syscalls they select, and
// what of the filter they leave to be matched in user space. No kernel I/O:
// rule building is tested on its own, and the log decoder uses the same
// syscall selection.

package auditsrc

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/filter"
)

// syscallSet is which syscalls, per arch, auperf reports, and where the
// fd of each arch's mmap comes from.
type syscallSet struct {
	all     bool                     // every syscall (decoding a log without --events)
	want    [decode.ArchCount][]bool // per decode.Arch: syscall numbers we trace
	mmapFd  [decode.ArchCount]int32  // per arch: the mmap whose fd is argument 4 (-1: none)
	oldMmap int32                    // i386's mmap (old_mmap: one pointer to its arguments; -1: none)
}

// newSyscallSet selects the syscalls of events in every arch of archs (the
// 32-bit side of b32Events instead, when not nil), and returns their numbers
// per arch, in event order.
func newSyscallSet(events, b32Events []string, archs []decode.Arch) (*syscallSet, map[decode.Arch][]string, error) {
	set := allSyscalls()
	set.all = false
	perArch := map[decode.Arch][]string{}
	for _, a := range archs {
		if int(a) >= len(set.want) || a == decode.ArchUnknown {
			return nil, nil, fmt.Errorf("audit rules: unsupported arch %v", a)
		}
		evs := events
		if a.IsCompat() && b32Events != nil {
			evs = b32Events
		}
		for _, ev := range evs {
			for _, name := range namesFor(a, ev) {
				nr, ok := decode.SyscallNumber(a, name)
				if !ok {
					continue
				}
				for len(set.want[a]) <= nr {
					set.want[a] = append(set.want[a], false)
				}
				if !set.want[a][nr] {
					set.want[a][nr] = true
					perArch[a] = append(perArch[a], strconv.Itoa(nr))
				}
			}
		}
	}
	return set, perArch, nil
}

// allSyscalls selects every syscall of every arch.
func allSyscalls() *syscallSet {
	set := &syscallSet{all: true, oldMmap: -1}
	for i := range set.mmapFd {
		set.mmapFd[i] = -1
	}
	// The mmap whose MMAP record gives argument 4 (the fd), per arch,
	// and i386's old mmap, from the syscall tables.
	for _, a := range []decode.Arch{decode.ArchX86_64, decode.ArchARM64} {
		if nr, ok := decode.SyscallNumber(a, "mmap"); ok {
			set.mmapFd[a] = int32(nr)
		}
	}
	for _, a := range []decode.Arch{decode.ArchI386, decode.ArchARM} {
		if nr, ok := decode.SyscallNumber(a, "mmap2"); ok {
			set.mmapFd[a] = int32(nr)
		}
	}
	if nr, ok := decode.SyscallNumber(decode.ArchI386, "mmap"); ok {
		set.oldMmap = int32(nr)
	}
	return set
}

// wanted reports whether syscall nr of arch a is reported.
func (set *syscallSet) wanted(a decode.Arch, nr int32) bool {
	if set.all {
		return true
	}
	if int(a) >= len(set.want) {
		return false
	}
	w := set.want[a]
	return nr >= 0 && int(nr) < len(w) && w[nr]
}

// ruleConfig is what the rules are made from.
type ruleConfig struct {
	Events, B32Events []string
	Archs             []decode.Arch
	Filter            filter.Spec
	Session           uint32   // narrow every always rule to this audit session
	RuleFields        []string // extra "-F field=value" conditions
	Key               string
	Self              int32 // our pid: the never rule
}

// ruleSet is the rules of one source.
type ruleSet struct {
	*syscallSet
	key     string
	session uint32
	never   []string // "-a never,exit ..." per arch: our own pid
	always  []string // "-a always,exit ..." rules
	// rest is what the rules could not express, matched in user space
	// (needMatch when it is not empty).
	rest      filter.Spec
	needMatch bool
}

// buildRules makes the rule lines and the set of wanted syscalls, decides
// which filters the rules carry, and checks that every rule builds.
func buildRules(cfg ruleConfig) (*ruleSet, error) {
	f := cfg.Filter
	rs := &ruleSet{key: cfg.Key, session: cfg.Session, rest: f}

	var pidOpts, uidOpts []string
	switch {
	case cfg.Session != 0:
		// The tree is the audit session: the rules say it all.
		rs.rest.PIDs, rs.rest.Tree = nil, false
	case len(f.PIDs) > 0 && !f.Tree:
		for _, p := range f.PIDs {
			pidOpts = append(pidOpts, "-F pid="+strconv.Itoa(p))
		}
	}
	for _, u := range f.UIDs {
		uidOpts = append(uidOpts, "-F uid="+strconv.FormatUint(uint64(u), 10))
	}
	// Conditions in one rule are ANDed; alternatives need one rule each.
	// Keep the product small: what does not fit is matched in user space.
	const maxCombos = 32
	if len(pidOpts)*max(len(uidOpts), 1) > maxCombos {
		uidOpts = nil
	}
	if len(pidOpts) > maxCombos {
		pidOpts = nil
	}
	if pidOpts != nil {
		rs.rest.PIDs = nil
	}
	if uidOpts != nil {
		rs.rest.UIDs = nil
	}
	common := ""
	if f.Failed {
		common += " -F success=0"
		rs.rest.Failed = false
	}
	for _, rf := range cfg.RuleFields {
		common += " " + rf
	}
	rs.needMatch = !rs.rest.Empty()
	if len(pidOpts) == 0 {
		pidOpts = []string{""}
	}
	if len(uidOpts) == 0 {
		uidOpts = []string{""}
	}

	set, perArch, err := newSyscallSet(cfg.Events, cfg.B32Events, cfg.Archs)
	if err != nil {
		return nil, err
	}
	rs.syscallSet = set
	for _, a := range cfg.Archs {
		nrs := perArch[a]
		if len(nrs) == 0 {
			continue
		}
		head := "-F arch=" + a.AuditRuleArch() + " -S " + strings.Join(nrs, ",")
		rs.never = append(rs.never, fmt.Sprintf("-a never,exit %s -F pid=%d -k %s", head, cfg.Self, cfg.Key))
		for _, p := range pidOpts {
			for _, u := range uidOpts {
				line := "-a always,exit " + head
				for _, part := range []string{p, u} {
					if part != "" {
						line += " " + part
					}
				}
				rs.always = append(rs.always, line+common+" -k "+cfg.Key)
			}
		}
	}
	if len(rs.always) == 0 {
		return nil, errors.New("audit rules: no syscall of the selected events exists in the selected archs")
	}
	// Check that every rule builds before touching the kernel.
	if _, err := rs.wire(); err != nil {
		return nil, err
	}
	return rs, nil
}

// lines are the auditctl-style rules, in the order they are added.
func (rs *ruleSet) lines() []string { return slices.Concat(rs.never, rs.always) }

// wire builds the rules for the kernel: the never rules, then the always
// rules (narrowed to the session, if any).
func (rs *ruleSet) wire() ([][]byte, error) {
	var extra [][2]uint32
	if rs.session != 0 {
		extra = append(extra, [2]uint32{fieldSessionID, rs.session})
	}
	var out [][]byte
	for _, l := range rs.never {
		r, err := buildRule(l)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	for _, l := range rs.always {
		r, err := buildRule(l, extra...)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// loaded reports whether rules (the kernel's list) hold rules of ours.
func (rs *ruleSet) loaded(rules [][]byte) bool {
	for _, r := range rules {
		if hasKey(r, rs.key) {
			return true
		}
	}
	return false
}
