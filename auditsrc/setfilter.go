// SetFilter: the user's filter changed while the source runs (SIGHUP with
// a new config). The rules that carry the filter are replaced new-first,
// so that a call the new filter wants is audited throughout.

package auditsrc

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/auperf/auperf/filter"
)

// SetFilter replaces the user's filter. The always rules of the new
// filter are added before those of the old one are deleted (the kernel
// audits a call once however many rules match it), and from then on every
// event is matched against the whole new filter in user space, so that
// what the old rules still let through is not passed on. The process tree
// of `-- COMMAND` mode cannot change.
func (s *Source) SetFilter(f filter.Spec) error {
	if s.cfg.Filter.Tree || f.Tree {
		return errors.New("the filter of a traced command's tree cannot change while it runs")
	}
	rs, err := buildRules(ruleConfig{Events: s.cfg.Events, B32Events: s.cfg.B32Events, Archs: s.cfg.Archs, Filter: f,
		Session: s.cfg.Session, RuleFields: s.cfg.RuleFields, Key: s.cfg.Key, Self: s.self})
	if err != nil {
		return err
	}
	s.mu.Lock()
	ss := s.sess
	s.mu.Unlock()
	if ss != nil {
		if err := ss.replaceRules(rs); err != nil {
			return err
		}
	}
	f.Init()
	s.userFilter.Store(&f)
	return nil
}

// replaceRules swaps the loaded always rules for those of rs: new ones in
// first, then the old ones that rs does not have out.
func (ss *session) replaceRules(rs *ruleSet) error {
	ss.ctlMu.Lock()
	defer ss.ctlMu.Unlock()
	old, err := ss.s.alwaysWire()
	if err != nil {
		return err
	}
	all, err := rs.wire()
	if err != nil {
		return err
	}
	next := all[len(rs.never):]
	if ss.locked {
		if !rulesEqual(old, next) {
			return errors.New("audit is locked (enabled=2): the rules that carry the filter cannot change")
		}
		return nil
	}
	if !ss.added {
		// Not loaded (a command's session adds them later, or Run
		// ended): nothing in the kernel to change.
		ss.s.setAlways(next)
		return nil
	}
	for _, r := range next {
		if !containsRule(old, r) {
			if err := addRule(ss.ctl, r); err != nil {
				return fmt.Errorf("new filter: %w", err)
			}
		}
	}
	for _, r := range old {
		if !containsRule(next, r) {
			if err := deleteRule(ss.ctl, r); err != nil {
				return fmt.Errorf("new filter: %w", err)
			}
		}
	}
	ss.broad = next
	ss.s.setAlways(next)
	return nil
}

// alwaysWire is the always rules loaded now (wire format).
func (s *Source) alwaysWire() ([][]byte, error) {
	s.mu.Lock()
	cur := s.always
	s.mu.Unlock()
	if cur != nil {
		return cur, nil
	}
	all, err := s.rules.wire()
	if err != nil {
		return nil, err
	}
	return all[len(s.rules.never):], nil
}

func (s *Source) setAlways(w [][]byte) {
	s.mu.Lock()
	s.always = w
	s.mu.Unlock()
}

func containsRule(rules [][]byte, r []byte) bool {
	for _, x := range rules {
		if bytes.Equal(x, r) {
			return true
		}
	}
	return false
}

func rulesEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		if !containsRule(b, r) {
			return false
		}
	}
	return true
}
