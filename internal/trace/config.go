// The config file (--config): the run settings under the long flags'
// names, in YAML. Unknown keys, values of the wrong kind and bad
// durations are refused with the file, the line and the reason; flags
// given on the command line win over the file (the command applies Flags
// only to flags it was not given).

package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// File is the config file's settings. Absent keys are nil/empty.
type File struct {
	Source        string   `yaml:"source"`
	Events        []string `yaml:"events"`
	Output        []string `yaml:"output"`
	PID           []int    `yaml:"pid"`
	Comm          []string `yaml:"comm"`
	UID           []int    `yaml:"uid"`
	Failed        *bool    `yaml:"failed"`
	Duration      string   `yaml:"duration"`
	StatsInterval string   `yaml:"stats-interval"`
	RingPages     int      `yaml:"ring-pages"`
	// Audit.
	AuditBackpressure string `yaml:"audit-backpressure"`
	AuditBacklogLimit int    `yaml:"audit-backlog-limit"`
	AuditLean         string `yaml:"audit-lean"`
	AuditTaskFilter   string `yaml:"audit-task-filter"`
	B32               string `yaml:"b32"`
	Insights          string `yaml:"insights"`
	// Service.
	Metrics     *MetricsConfig `yaml:"metrics"`
	StopTimeout string         `yaml:"stop-timeout"`
}

// MetricsConfig is the metrics: mapping.
type MetricsConfig struct {
	Listen string `yaml:"listen"` // host:port of the Prometheus endpoint
}

// configKeys are File's keys, in its order.
var configKeys = []string{"source", "events", "output", "pid", "comm", "uid", "failed", "duration",
	"stats-interval", "ring-pages", "audit-backpressure", "audit-backlog-limit", "audit-lean", "audit-task-filter", "b32", "insights", "metrics", "stop-timeout"}

// mappingKeys take a mapping of their own, with these keys.
var mappingKeys = map[string][]string{"metrics": {"listen"}}

// LoadConfig reads and parses the config file at path.
func LoadConfig(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Usagef("--config: %v", err)
	}
	defer f.Close()
	// auperf runs as root: a file others may write would let them choose
	// what it traces and where it writes.
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o002 != 0 {
		return nil, Usagef("--config %s: writable by every user (mode %04o): refused; chmod o-w %s", path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, Usagef("--config: %v", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses a config file's bytes; name is the file, for errors.
func ParseConfig(name string, data []byte) (*File, error) {
	fail := func(line int, format string, a ...any) error {
		return Usagef("--config %s: line %d: %s", name, line, fmt.Sprintf(format, a...))
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &File{}, nil // empty: nothing set
		}
		return nil, Usagef("--config %s: %s", name, yamlReason(err))
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, Usagef("--config %s: more than one YAML document", name)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return &File{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "want a mapping of settings (key: value), got %s", kindName(root))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !slices.Contains(configKeys, k.Value) {
			return nil, fail(k.Line, "unknown key %q (known: %s)", k.Value, strings.Join(configKeys, ", "))
		}
		if seen[k.Value] {
			return nil, fail(k.Line, "%s is set twice", k.Value)
		}
		seen[k.Value] = true
		if sub, ok := mappingKeys[k.Value]; ok {
			if err := checkMapping(k.Value, v, sub, fail); err != nil {
				return nil, err
			}
			continue
		}
		if err := checkKind(k.Value, v); err != nil {
			return nil, fail(v.Line, "%s: %v", k.Value, err)
		}
		if listKeys[k.Value] && v.Kind == yaml.ScalarNode {
			one := *v
			*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column, Content: []*yaml.Node{&one}}
		}
	}
	var f File
	if err := root.Decode(&f); err != nil {
		return nil, Usagef("--config %s: %s", name, yamlReason(err))
	}
	for _, d := range []struct{ key, v string }{{"duration", f.Duration}, {"stats-interval", f.StatsInterval}, {"stop-timeout", f.StopTimeout}} {
		if d.v == "" {
			continue
		}
		if _, err := time.ParseDuration(d.v); err != nil {
			return nil, fail(lineOf(root, d.key), "%s %q: want a duration with a unit, such as 10s or 5m", d.key, d.v)
		}
	}
	return &f, nil
}

// checkMapping checks a key whose value is a mapping of known scalar keys.
func checkMapping(key string, v *yaml.Node, known []string, fail func(int, string, ...any) error) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return fail(v.Line, "%s: want a mapping (%s: ...), got %s", key, strings.Join(known, ", "), kindName(v))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		sk, sv := v.Content[i], v.Content[i+1]
		if !slices.Contains(known, sk.Value) {
			return fail(sk.Line, "%s: unknown key %q (known: %s)", key, sk.Value, strings.Join(known, ", "))
		}
		if seen[sk.Value] {
			return fail(sk.Line, "%s.%s is set twice", key, sk.Value)
		}
		seen[sk.Value] = true
		if sv.Kind != yaml.ScalarNode {
			return fail(sv.Line, "%s.%s: want a single value, got %s", key, sk.Value, kindName(sv))
		}
	}
	return nil
}

// listKeys take a list (or one value, a list of one).
var listKeys = map[string]bool{"events": true, "output": true, "pid": true, "comm": true, "uid": true}

// checkKind refuses a value whose YAML kind does not fit the key: a list
// where one value goes, a mapping anywhere, text for a number.
func checkKind(key string, v *yaml.Node) error {
	list := listKeys[key]
	number := map[string]bool{"pid": true, "uid": true, "ring-pages": true, "audit-backlog-limit": true}[key]
	scalars := []*yaml.Node{v}
	switch {
	case v.Kind == yaml.SequenceNode && list:
		scalars = v.Content
	case v.Kind == yaml.ScalarNode && list && key == "events":
		// events: msync,mmap is taken as the flag's comma list.
	case v.Kind == yaml.ScalarNode && list:
		// One value for a list: a list of one.
	case v.Kind != yaml.ScalarNode:
		return fmt.Errorf("want a single value, got %s", kindName(v))
	}
	for _, s := range scalars {
		if s.Kind != yaml.ScalarNode {
			return fmt.Errorf("want plain values, got %s", kindName(s))
		}
		if number {
			if _, err := strconv.ParseInt(s.Value, 10, 64); err != nil {
				return fmt.Errorf("%q is not a whole number", s.Value)
			}
		}
		if key == "failed" && s.Tag != "!!bool" {
			return fmt.Errorf("%q: want true or false", s.Value)
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a single value"
}

// lineOf is the line of key in mapping m.
func lineOf(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return m.Line
}

// yamlReason is a YAML error without the parser's prefix.
func yamlReason(err error) string {
	return strings.TrimPrefix(strings.Join(strings.Fields(err.Error()), " "), "yaml: ")
}

// FlagValue is one setting of the file as the flag that has the same name
// takes it: the value in the flag's syntax (lists: one value each).
type FlagValue struct {
	Name   string
	Values []string
}

// Flags lists the settings the file gives, in the file struct's order.
// Scalars the file leaves empty (or 0) are not listed: they keep the
// flag's default.
func (f *File) Flags() []FlagValue {
	var out []FlagValue
	add := func(name string, values ...string) {
		if len(values) > 0 && !(len(values) == 1 && values[0] == "") {
			out = append(out, FlagValue{name, values})
		}
	}
	ints := func(v []int) []string {
		s := make([]string, len(v))
		for i, n := range v {
			s[i] = strconv.Itoa(n)
		}
		return s
	}
	nonZero := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	add("source", f.Source)
	if len(f.Events) > 0 {
		add("events", strings.Join(f.Events, ","))
	}
	add("output", f.Output...)
	add("pid", ints(f.PID)...)
	add("comm", f.Comm...)
	add("uid", ints(f.UID)...)
	if f.Failed != nil {
		add("failed", strconv.FormatBool(*f.Failed))
	}
	add("duration", f.Duration)
	add("stats-interval", f.StatsInterval)
	add("ring-pages", nonZero(f.RingPages))
	add("audit-backpressure", f.AuditBackpressure)
	add("audit-lean", f.AuditLean)
	add("audit-task-filter", f.AuditTaskFilter)
	add("audit-backlog-limit", nonZero(f.AuditBacklogLimit))
	add("b32", f.B32)
	add("insights", f.Insights)
	if f.Metrics != nil {
		add("metrics-listen", f.Metrics.Listen)
	}
	add("stop-timeout", f.StopTimeout)
	return out
}
