// Tests of the report's JSON shape on every fixture.

package selector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// validateReport checks a decoded `auperf probe --json` document against
// the shape doc.go documents, key by key: no key missing, none extra, every
// enum in range.
func validateReport(doc map[string]any) error {
	v := &validator{}
	v.object("", doc, []string{"kernel", "probes", "plan"}, []string{"error"})
	if k, ok := doc["kernel"].(map[string]any); v.ok(ok, "kernel: not an object") {
		v.object("kernel", k, []string{"release", "version", "arch"}, nil)
		v.str("kernel.release", k["release"], nil)
		if s, _ := k["version"].(string); s != "" && !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(s) {
			v.fail("kernel.version %q", s)
		}
		v.str("kernel.arch", k["arch"], nil)
	}
	probes, ok := doc["probes"].([]any)
	v.ok(ok && len(probes) > 0, "probes: not a non-empty array")
	for i, p := range probes {
		at := fmt.Sprintf("probes[%d]", i)
		m, ok := p.(map[string]any)
		if !v.ok(ok, at+": not an object") {
			continue
		}
		v.object(at, m, []string{"name", "status"}, []string{"value", "reason", "minKernel"})
		v.str(at+".name", m["name"], nil)
		status := v.str(at+".status", m["status"], []string{"ok", "no", "unknown"})
		_, hasReason := m["reason"]
		v.ok(hasReason == (status != "ok"), at+": reason present exactly when status is not ok")
		if mk, ok := m["minKernel"]; ok {
			v.ok(status == "no", at+": minKernel without status no")
			v.ok(regexp.MustCompile(`^\d+\.\d+$`).MatchString(fmt.Sprint(mk)), at+": minKernel not M.m")
		}
	}
	_, hasErr := doc["error"]
	plan, isObj := doc["plan"].(map[string]any)
	v.ok(hasErr == (doc["plan"] == nil), "plan is null exactly when error is present")
	if hasErr {
		v.str("error", doc["error"], nil)
	}
	if !isObj {
		return v.err
	}
	v.object("plan", plan, []string{"requested", "events", "perf", "audit", "notes"}, nil)
	v.str("plan.requested", plan["requested"], []string{"auto", "perf", "audit"})
	evs, ok := plan["events"].([]any)
	v.ok(ok, "plan.events: not an array")
	for i, e := range evs {
		at := fmt.Sprintf("plan.events[%d]", i)
		m, ok := e.(map[string]any)
		if !v.ok(ok, at+": not an object") {
			continue
		}
		v.object(at, m, []string{"name", "source", "reason"}, []string{"tracepoint", "enterId", "exitId", "b32"})
		v.str(at+".name", m["name"], nil)
		src := v.str(at+".source", m["source"], []string{"perf", "audit", "none"})
		v.str(at+".reason", m["reason"], nil)
		if _, ok := m["tracepoint"]; ok {
			v.ok(src == "perf", at+": tracepoint on a non-perf event")
		}
		for _, k := range []string{"enterId", "exitId"} {
			if n, ok := m[k]; ok {
				f, isNum := n.(float64)
				v.ok(isNum && f > 0 && src == "perf", at+"."+k+": positive number on a perf event")
			}
		}
		if b, ok := m["b32"]; ok {
			v.strs(at+".b32", b)
		}
	}
	if pp := plan["perf"]; pp != nil {
		m, ok := pp.(map[string]any)
		if v.ok(ok, "plan.perf: not an object or null") {
			v.object("plan.perf", m, []string{"events", "tracefs"}, nil)
			v.strs("plan.perf.events", m["events"])
			if tf, ok := m["tracefs"].(map[string]any); v.ok(ok, "plan.perf.tracefs: not an object") {
				v.object("plan.perf.tracefs", tf, []string{"state", "path", "fstype"}, nil)
				v.str("plan.perf.tracefs.state", tf["state"], []string{"mounted", "mountable"})
				v.str("plan.perf.tracefs.path", tf["path"], nil)
				v.str("plan.perf.tracefs.fstype", tf["fstype"], []string{"tracefs", "debugfs"})
			}
		}
	}
	if ap := plan["audit"]; ap != nil {
		m, ok := ap.(map[string]any)
		if v.ok(ok, "plan.audit: not an object or null") {
			v.object("plan.audit", m, []string{"events", "b32Events", "b32", "multicast", "enabled"}, []string{"owner"})
			v.strs("plan.audit.events", m["events"])
			v.strs("plan.audit.b32Events", m["b32Events"])
			v.strs("plan.audit.b32", m["b32"])
			_, isBool := m["multicast"].(bool)
			v.ok(isBool, "plan.audit.multicast: not a bool")
			en, _ := m["enabled"].(float64)
			v.ok(en == 0 || en == 1, "plan.audit.enabled: not 0 or 1")
		}
	}
	v.strs("plan.notes", plan["notes"])
	return v.err
}

type validator struct{ err error }

func (v *validator) fail(format string, a ...any) {
	if v.err == nil {
		v.err = fmt.Errorf(format, a...)
	}
}

func (v *validator) ok(cond bool, msg string) bool {
	if !cond {
		v.fail("%s", msg)
	}
	return cond
}

func (v *validator) object(at string, m map[string]any, required, optional []string) {
	for _, k := range required {
		if _, ok := m[k]; !ok {
			v.fail("%s: missing %q", at, k)
		}
	}
	for k := range m {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			v.fail("%s: undocumented key %q", at, k)
		}
	}
}

func (v *validator) str(at string, x any, enum []string) string {
	s, ok := x.(string)
	if !ok || s == "" {
		v.fail("%s: not a non-empty string: %v", at, x)
	}
	if enum != nil && !slices.Contains(enum, s) {
		v.fail("%s: %q not one of %v", at, s, enum)
	}
	return s
}

func (v *validator) strs(at string, x any) {
	a, ok := x.([]any)
	if !ok {
		v.fail("%s: not an array: %v", at, x)
		return
	}
	for i, e := range a {
		v.str(fmt.Sprintf("%s[%d]", at, i), e, nil)
	}
}

// TestReportJSONShape validates the JSON of every fixture, with every
// --source, against the documented shape.
func TestReportJSONShape(t *testing.T) {
	roots, err := os.ReadDir(filepath.Join("..", "testdata", "roots"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range roots {
		if !r.IsDir() {
			continue
		}
		for _, force := range []Source{SourceAuto, SourcePerf, SourceAudit} {
			t.Run(r.Name()+"/"+string(force), func(t *testing.T) {
				h := Probe(fixture(t, r.Name()), memory)
				p, err := h.Plan(memory, force)
				var buf bytes.Buffer
				if err := NewReport(h, p, err).WriteJSON(&buf); err != nil {
					t.Fatal(err)
				}
				var doc map[string]any
				if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
					t.Fatal(err)
				}
				if err := validateReport(doc); err != nil {
					t.Errorf("%v\n%s", err, buf.Bytes())
				}
				n++
			})
		}
	}
	if n < 9*3 {
		t.Errorf("validated %d documents, want every fixture (9+) with 3 sources", n)
	}
}

func TestValidatorRejects(t *testing.T) {
	bad := []string{
		`{"kernel":{"release":"x","version":"","arch":"x86_64"},"probes":[],"plan":null,"error":"e"}`,
		`{"kernel":{"release":"x","version":"","arch":"x86_64"},"probes":[{"name":"a","status":"maybe"}],"plan":null,"error":"e"}`,
		`{"kernel":{"release":"x","version":"","arch":"x86_64"},"probes":[{"name":"a","status":"no"}],"plan":null,"error":"e"}`,
		`{"kernel":{"release":"x","version":"","arch":"x86_64"},"probes":[{"name":"a","status":"ok"}],"plan":null}`,
		`{"kernel":{"release":"x","version":"","arch":"x86_64"},"probes":[{"name":"a","status":"ok"}],"plan":{"requested":"auto","events":[{"name":"m","source":"bpf","reason":"r"}],"perf":null,"audit":null,"notes":[]}}`,
		`{"kernel":{"release":"x","version":"","arch":"x86_64"},"probes":[{"name":"a","status":"ok","extra":1}],"plan":null,"error":"e"}`,
	}
	for _, s := range bad {
		var doc map[string]any
		if err := json.Unmarshal([]byte(s), &doc); err != nil {
			t.Fatal(err)
		}
		if validateReport(doc) == nil {
			t.Errorf("validator accepted %s", s)
		}
	}
}
