// The audit status: the one type for it, reading it (and the rules), setting
// fields with acknowledgement, and restoring only what we changed.

package auditsrc

import (
	"bytes"
	"fmt"
	"syscall"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// Status is the kernel's audit status (AUDIT_GET), the fields auperf reads:
// the one type for it, used by the source, the selector's probes and
// their fixtures (yaml) and reports (json).
type Status struct {
	Enabled         uint32 `yaml:"enabled" json:"enabled"` // 0 off, 1 on, 2 locked
	Failure         uint32 `yaml:"failure" json:"failure"` // never changed by auperf
	PID             uint32 `yaml:"pid" json:"pid"`         // the audit daemon's pid, 0 = none
	RateLimit       uint32 `yaml:"rate_limit" json:"rateLimit"`
	BacklogLimit    uint32 `yaml:"backlog_limit" json:"backlogLimit"`
	BacklogWaitTime uint32 `yaml:"backlog_wait_time" json:"backlogWaitTime"`
	Lost            uint32 `yaml:"lost" json:"lost"`       // a counter, not configuration
	Backlog         uint32 `yaml:"backlog" json:"backlog"` // records queued now
}

// State is the part of the kernel's audit configuration that auperf may
// change and must restore: the status fields it sets and the rule list.
type State struct {
	Status
	Rules [][]byte `json:"-"`
}

// Equal reports whether s and o are the same configuration (Lost aside).
func (s State) Equal(o State) bool {
	if s.Enabled != o.Enabled || s.Failure != o.Failure || s.PID != o.PID ||
		s.RateLimit != o.RateLimit || s.BacklogLimit != o.BacklogLimit ||
		s.BacklogWaitTime != o.BacklogWaitTime || len(s.Rules) != len(o.Rules) {
		return false
	}
	for i := range s.Rules {
		if !bytes.Equal(s.Rules[i], o.Rules[i]) {
			return false
		}
	}
	return true
}

// KeyedRules counts the rules of s that carry key (an always rule of
// auperf's, and its never rule).
func (s State) KeyedRules(key string) int {
	n := 0
	for _, r := range s.Rules {
		if hasKey(r, key) {
			n++
		}
	}
	return n
}

// String prints s like auditctl -s / -l do, for test logs and reports.
func (s State) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "enabled=%d failure=%d pid=%d rate_limit=%d backlog_limit=%d backlog_wait_time=%d rules=%d",
		s.Enabled, s.Failure, s.PID, s.RateLimit, s.BacklogLimit, s.BacklogWaitTime, len(s.Rules))
	for _, r := range s.Rules {
		b.WriteString("\n  ")
		b.WriteString(ruleString(r))
	}
	return b.String()
}

// ReadStatus reads the current audit status (read-only: a socket that
// never asks to be the daemon).
func ReadStatus() (Status, error) {
	c, err := openConn(0)
	if err != nil {
		return Status{}, fmt.Errorf("open audit netlink socket: %w", err)
	}
	defer c.Close()
	st, err := getStatus(c)
	if err != nil {
		return Status{}, err
	}
	return statusOf(st), nil
}

func statusOf(st *libaudit.AuditStatus) Status {
	return Status{Enabled: st.Enabled, Failure: st.Failure, PID: st.PID, RateLimit: st.RateLimit,
		BacklogLimit: st.BacklogLimit, BacklogWaitTime: st.BacklogWaitTime, Lost: st.Lost, Backlog: st.Backlog}
}

// ReadState reads the current audit status and rule list.
func ReadState() (State, error) {
	c, err := openConn(0)
	if err != nil {
		return State{}, err
	}
	defer c.Close()
	return readState(c)
}

func readState(c *conn) (State, error) {
	cl := c.client()
	st, err := cl.GetStatus()
	if err != nil {
		return State{}, fmt.Errorf("get audit status: %w", err)
	}
	rules, err := cl.GetRules()
	if err != nil {
		return State{}, fmt.Errorf("list audit rules: %w", err)
	}
	return State{Status: statusOf(st), Rules: rules}, nil
}

// getStatus reads the status only (the lost counter poll).
func getStatus(c *conn) (*libaudit.AuditStatus, error) {
	st, err := c.client().GetStatus()
	if err != nil {
		return nil, fmt.Errorf("get audit status: %w", err)
	}
	return st, nil
}

// setStatus sends one AUDIT_SET and waits for its acknowledgement.
// go-libaudit has no setter for an arbitrary mask (nor for pid 0 from
// another socket of the same process, which is how we hand the pid back).
func setStatus(c *conn, s libaudit.AuditStatus) error {
	const size = int(unsafe.Sizeof(libaudit.AuditStatus{}))
	data := make([]byte, size)
	copy(data, (*[size]byte)(unsafe.Pointer(&s))[:])
	seq, err := c.Send(syscall.NetlinkMessage{
		Header: syscall.NlMsghdr{Type: libaudit.AuditSet, Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK},
		Data:   data,
	})
	if err != nil {
		return fmt.Errorf("send audit set: %w", err)
	}
	return waitAck(c, seq)
}

// waitAck reads until the acknowledgement of request seq, skipping audit
// records (sequence 0) that arrive meanwhile.
func waitAck(c *conn, seq uint32) error {
	for tries := 0; tries < 1000; tries++ {
		ready, err := c.wait(2000)
		if err != nil {
			return err
		}
		if !ready {
			return fmt.Errorf("no acknowledgement from the kernel for audit request %d", seq)
		}
		n, err := c.recv(c.buf, true)
		if err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return fmt.Errorf("read audit acknowledgement: %w", err)
		}
		h := (*syscall.NlMsghdr)(unsafe.Pointer(&c.buf[0]))
		if h.Seq != seq {
			continue
		}
		if h.Type != unix.NLMSG_ERROR {
			continue
		}
		return libaudit.ParseNetlinkError(c.buf[unix.NLMSG_HDRLEN:n])
	}
	return fmt.Errorf("no acknowledgement from the kernel for audit request %d", seq)
}

// restoreStatus sets the status fields of o (enabled, rate_limit,
// backlog_limit, backlog_wait_time) that differ from the kernel's. With
// left (what the kernel held when we were done changing it), only fields
// we changed (o differs from left) and nobody changed since (the kernel
// still holds left's value) are set back: a change someone else made
// while we ran stays. It never sets the pid, the failure mode, or
// enabled=2.
func restoreStatus(c *conn, o State, left *State) error {
	cur, err := getStatus(c)
	if err != nil {
		return err
	}
	ours := func(cur, orig, l uint32) bool {
		if left == nil {
			return cur != orig
		}
		return orig != l && cur == l
	}
	set := libaudit.AuditStatus{}
	var l State
	if left != nil {
		l = *left
	}
	if ours(cur.BacklogLimit, o.BacklogLimit, l.BacklogLimit) {
		set.Mask |= libaudit.AuditStatusBacklogLimit
		set.BacklogLimit = o.BacklogLimit
	}
	if ours(cur.BacklogWaitTime, o.BacklogWaitTime, l.BacklogWaitTime) {
		set.Mask |= libaudit.AuditStatusBacklogWaitTime
		set.BacklogWaitTime = o.BacklogWaitTime
	}
	if ours(cur.RateLimit, o.RateLimit, l.RateLimit) {
		set.Mask |= libaudit.AuditStatusRateLimit
		set.RateLimit = o.RateLimit
	}
	if ours(cur.Enabled, o.Enabled, l.Enabled) && o.Enabled < 2 && cur.Enabled < 2 {
		set.Mask |= libaudit.AuditStatusEnabled
		set.Enabled = o.Enabled
	}
	if set.Mask == 0 {
		return nil
	}
	if err := setStatus(c, set); err != nil {
		return fmt.Errorf("restore audit status: %w", err)
	}
	return nil
}
