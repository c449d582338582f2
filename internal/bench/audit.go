package bench

import (
	"fmt"
	"strings"
)

// AuditState is the audit configuration the bench must leave as it found
// it: the settable fields of `auditctl -s` and the rule list of
// `auditctl -l`.
type AuditState struct {
	Status map[string]string // key -> value, as auditctl -s prints them
	Rules  string            // auditctl -l output, trimmed
}

// auditKeys are the settings compared before and after; lost, backlog and
// backlog_wait_time_actual are counters and move on their own.
var auditKeys = []string{"enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time"}

// ParseAuditStatus parses `auditctl -s` output ("key value" lines; the
// value is the rest of the line).
func ParseAuditStatus(out string) map[string]string {
	m := make(map[string]string)
	for line := range strings.SplitSeq(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// Diff lists how s differs from before, one "field: before -> now" per
// difference; empty means the state is as it was.
func (s AuditState) Diff(before AuditState) []string {
	var d []string
	for _, k := range auditKeys {
		if before.Status[k] != s.Status[k] {
			d = append(d, fmt.Sprintf("%s: %q -> %q", k, before.Status[k], s.Status[k]))
		}
	}
	if before.Rules != s.Rules {
		d = append(d, fmt.Sprintf("rules: %q -> %q", before.Rules, s.Rules))
	}
	return d
}

// String is the state in one line, for reports.
func (s AuditState) String() string {
	var b strings.Builder
	for i, k := range auditKeys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, s.Status[k])
	}
	fmt.Fprintf(&b, " rules=%q", s.Rules)
	return b.String()
}
