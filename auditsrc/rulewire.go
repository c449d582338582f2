// Audit rules on the wire: building a rule from an auditctl line (with the
// fields go-libaudit lacks: sessionid, several keys), reading keys and
// fields back out of a kernel rule, and adding and deleting rules by key
// (never all rules: only those carrying ours).

package auditsrc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/elastic/go-libaudit/v2/rule"
	"golang.org/x/sys/unix"
)

// AUDIT_* rule field numbers and operators (include/uapi/linux/audit.h)
// that go-libaudit's rule builder does not know.
const (
	fieldSessionID = 25         // AUDIT_SESSIONID, kernel 4.10+
	fieldFilterKey = 210        // AUDIT_FILTERKEY
	opEqual        = 0x40000000 // AUDIT_EQUAL
	opNotEqual     = 0x30000000 // AUDIT_NOT_EQUAL
	keySeparator   = 0x01       // AUDIT_KEY_SEPARATOR between several keys
	maxRuleFields  = 64         // AUDIT_MAX_FIELDS
	bitmaskSize    = 64         // AUDIT_BITMASK_SIZE
)

// Offsets in struct audit_rule_data (the wire format of a rule).
const (
	offFieldCount = 8
	offFields     = 12 + 4*bitmaskSize
	offValues     = offFields + 4*maxRuleFields
	offFieldFlags = offValues + 4*maxRuleFields
	offBufLen     = offFieldFlags + 4*maxRuleFields
	offBuf        = offBufLen + 4
)

// ruleKeys returns the keys of a rule in wire format. String fields keep
// their bytes in buf in field order; values[i] is a string's length.
func ruleKeys(r []byte) []string {
	if len(r) < offBuf {
		return nil
	}
	le := binary.NativeEndian
	n := int(le.Uint32(r[offFieldCount:]))
	if n > maxRuleFields {
		return nil
	}
	buf := r[offBuf:]
	if bl := int(le.Uint32(r[offBufLen:])); bl <= len(buf) {
		buf = buf[:bl]
	}
	var keys []string
	pos := 0
	for i := 0; i < n; i++ {
		f := le.Uint32(r[offFields+4*i:])
		if !isStringField(f) {
			continue
		}
		l := int(le.Uint32(r[offValues+4*i:]))
		if pos+l > len(buf) {
			return keys
		}
		if f == fieldFilterKey {
			for _, k := range bytes.Split(buf[pos:pos+l], []byte{keySeparator}) {
				keys = append(keys, string(k))
			}
		}
		pos += l
	}
	return keys
}

// isStringField reports whether a rule field keeps its value in buf
// (audit_to_entry_common/audit_data_to_entry in kernel/auditfilter.c).
func isStringField(f uint32) bool {
	switch f {
	case 13, 14, 15, 16, 17, // AUDIT_SUBJ_USER .. AUDIT_SUBJ_CLR
		19, 20, 21, 22, 23, // AUDIT_OBJ_USER .. AUDIT_OBJ_LEV_HIGH
		105, 107, // AUDIT_WATCH, AUDIT_DIR
		112,            // AUDIT_EXE
		fieldFilterKey: // AUDIT_FILTERKEY
		return true
	}
	return false
}

// hasKey reports whether rule r carries key.
func hasKey(r []byte, key string) bool {
	for _, k := range ruleKeys(r) {
		if k == key {
			return true
		}
	}
	return false
}

// buildRule turns an auditctl-style rule into wire format and appends
// extra numeric fields go-libaudit cannot express (AUDIT_SESSIONID).
func buildRule(line string, extra ...[2]uint32) ([]byte, error) {
	r, err := parseRuleLine(line)
	if err != nil {
		return nil, fmt.Errorf("parse audit rule %q: %w", line, err)
	}
	wf, err := rule.Build(r)
	if err != nil {
		return nil, fmt.Errorf("build audit rule %q: %w", line, err)
	}
	if len(extra) == 0 {
		return wf, nil
	}
	b := append([]byte(nil), wf...)
	le := binary.NativeEndian
	n := int(le.Uint32(b[offFieldCount:]))
	if n+len(extra) > maxRuleFields {
		return nil, fmt.Errorf("build audit rule %q: too many fields", line)
	}
	for _, fv := range extra {
		le.PutUint32(b[offFields+4*n:], fv[0])
		le.PutUint32(b[offValues+4*n:], fv[1])
		le.PutUint32(b[offFieldFlags+4*n:], opEqual)
		n++
	}
	le.PutUint32(b[offFieldCount:], uint32(n))
	return b, nil
}

// parseRuleLine parses the auditctl syntax auperf writes its syscall rules
// in: "-a LIST,ACTION", "-F FIELD<op>VALUE", "-S NAME|NR[,...]", "-k KEY".
// (go-libaudit's flags parser would pull in one more module.)
func parseRuleLine(line string) (*rule.SyscallRule, error) {
	words := strings.Fields(line)
	r := &rule.SyscallRule{Type: rule.AppendSyscallRuleType}
	for i := 0; i < len(words); i++ {
		opt := words[i]
		if i+1 >= len(words) {
			return nil, fmt.Errorf("option %s needs a value", opt)
		}
		i++
		v := words[i]
		switch opt {
		case "-a", "-A":
			if opt == "-A" {
				r.Type = rule.PrependSyscallRuleType
			}
			list, action, ok := strings.Cut(v, ",")
			if !ok {
				return nil, fmt.Errorf("-a %s: want LIST,ACTION", v)
			}
			if list == "always" || list == "never" {
				list, action = action, list
			}
			r.List, r.Action = list, action
		case "-S":
			r.Syscalls = append(r.Syscalls, strings.Split(v, ",")...)
		case "-k":
			r.Keys = append(r.Keys, v)
		case "-F":
			lhs, op, rhs, ok := cutOperator(v)
			if !ok {
				return nil, fmt.Errorf("-F %s: no operator", v)
			}
			r.Filters = append(r.Filters, rule.FilterSpec{Type: rule.ValueFilterType, LHS: lhs, Comparator: op, RHS: rhs})
		default:
			return nil, fmt.Errorf("unsupported option %s", opt)
		}
	}
	if r.List == "" {
		return nil, errors.New("no -a LIST,ACTION")
	}
	return r, nil
}

func cutOperator(s string) (lhs, op, rhs string, ok bool) {
	for _, o := range []string{"!=", ">=", "<=", "&=", "=", ">", "<", "&"} {
		if i := strings.Index(s, o); i > 0 {
			return s[:i], o, s[i+len(o):], true
		}
	}
	return "", "", "", false
}

func addRule(c *conn, r []byte) error {
	if err := c.client().AddRule(r); err != nil {
		return fmt.Errorf("add audit rule %s: %w", ruleString(r), err)
	}
	return nil
}

func deleteRule(c *conn, r []byte) error {
	seq, err := c.Send(syscall.NetlinkMessage{
		Header: syscall.NlMsghdr{Type: uint16(1012), Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK}, // AUDIT_DEL_RULE
		Data:   r,
	})
	if err != nil {
		return fmt.Errorf("delete audit rule %s: %w", ruleString(r), err)
	}
	if err := waitAck(c, seq); err != nil {
		return fmt.Errorf("delete audit rule %s: %w", ruleString(r), err)
	}
	return nil
}

func ruleString(r []byte) string {
	// go-libaudit does not know AUDIT_SESSIONID: print the rule without
	// it and add it back.
	b, extra := withoutField(r, fieldSessionID)
	s, err := rule.ToCommandLine(rule.WireFormat(b), false)
	if err != nil {
		return "(unparsable rule)"
	}
	for _, v := range extra {
		s += fmt.Sprintf(" -F sessionid=%d", v)
	}
	return s
}

// withoutField returns a copy of rule r without the numeric field f, and
// the values it had.
func withoutField(r []byte, f uint32) ([]byte, []uint32) {
	if len(r) < offBuf {
		return r, nil
	}
	le := binary.NativeEndian
	n := int(le.Uint32(r[offFieldCount:]))
	if n > maxRuleFields {
		return r, nil
	}
	b := append([]byte(nil), r...)
	var vals []uint32
	j := 0
	for i := 0; i < n; i++ {
		fi := le.Uint32(r[offFields+4*i:])
		if fi == f {
			vals = append(vals, le.Uint32(r[offValues+4*i:]))
			continue
		}
		le.PutUint32(b[offFields+4*j:], fi)
		le.PutUint32(b[offValues+4*j:], le.Uint32(r[offValues+4*i:]))
		le.PutUint32(b[offFieldFlags+4*j:], le.Uint32(r[offFieldFlags+4*i:]))
		j++
	}
	for k := j; k < n; k++ {
		le.PutUint32(b[offFields+4*k:], 0)
		le.PutUint32(b[offValues+4*k:], 0)
		le.PutUint32(b[offFieldFlags+4*k:], 0)
	}
	le.PutUint32(b[offFieldCount:], uint32(j))
	return b, vals
}

// deleteKeyed deletes every rule carrying key and returns how many.
func deleteKeyed(c *conn, key string) (int, error) {
	rules, err := c.client().GetRules()
	if err != nil {
		return 0, fmt.Errorf("list audit rules: %w", err)
	}
	n := 0
	var errs []error
	for _, r := range rules {
		if hasKey(r, key) {
			if err := deleteRule(c, r); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}
