// Tests of plans and probe answers on every fixture root.

package selector

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/internal/host"
)

func fixture(t *testing.T, name string) Config {
	t.Helper()
	cfg, err := FixtureConfig(filepath.Join("..", "testdata", "roots", name))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var memory = decode.DefaultEvents

// want describes a plan: the source of every event not listed in
// exceptions is def; reasons are substrings.
type want struct {
	def        Source
	defReason  string
	exceptions map[string]wantEvent
	perf       bool
	tracefs    string // perf's tracefs path
	audit      bool
	multicast  bool
	b32        bool     // every planned event has b32 names
	notes      []string // substrings, each in some note
	unusable   bool     // Plan.Usable fails
}

type wantEvent struct {
	src    Source
	reason string
}

func TestPlanFixtures(t *testing.T) {
	tests := []struct {
		root   string
		events []string
		force  Source
		b32    B32Mode
		want   want
	}{
		// Audit off: auto does not turn it on for b32 rules alone.
		{root: "linux-6.18", want: want{
			def: SourcePerf, defReason: "perf_event_open work", perf: true, tracefs: "/sys/kernel/tracing",
			notes: []string{"32-bit (ia32) syscalls are not seen: audit is off", "--b32 on sees them"},
		}},
		{root: "linux-6.18", b32: B32On, want: want{
			def: SourcePerf, defReason: "perf_event_open work", perf: true, tracefs: "/sys/kernel/tracing",
			audit: true, b32: true, notes: []string{"not enabled at boot", "lasting cost: turning audit on"},
		}},
		{root: "linux-6.18", b32: B32Off, force: SourceAudit, want: want{
			def: SourceAudit, audit: true, notes: []string{"--b32 off", "lasting cost"},
		}},
		{root: "centos7-3.10", want: want{
			def: SourcePerf, defReason: "syscalls:sys_enter_", perf: true, tracefs: "/sys/kernel/debug/tracing",
			exceptions: map[string]wantEvent{"mlock2": {SourceNone, "kernel 3.10 has no mlock2 (added in 4.4)"}},
			notes:      []string{"32-bit (ia32) syscalls are not seen", "auditd owns audit and kernel 3.10 has no audit multicast (added in 3.16)"},
		}},
		{root: "no-ftrace-syscalls", want: want{
			def: SourceAudit, defReason: "perf unusable: no events/syscalls in /sys/kernel/tracing: kernel built without CONFIG_FTRACE_SYSCALLS",
			audit: true, b32: true,
		}},
		{root: "linux-4.1", want: want{
			def: SourcePerf, perf: true, tracefs: "/sys/kernel/debug/tracing",
			exceptions: map[string]wantEvent{"mlock2": {SourceNone, "kernel 4.1 has no mlock2 (added in 4.4)"}},
			notes:      []string{"kernel built without CONFIG_AUDIT"},
		}},
		{root: "container-paranoid3", want: want{
			def:       SourceNone,
			defReason: "perf: perf_event_open on syscalls:sys_enter_msync denied: perf_event_paranoid=3 and no CAP_PERFMON or CAP_SYS_ADMIN",
			unusable:  true,
		}},
		{root: "audit-locked", want: want{
			def: SourcePerf, perf: true, tracefs: "/sys/kernel/tracing",
			notes: []string{"audit is locked (enabled=2)"},
		}},
		{root: "auditd-multicast", want: want{
			def: SourcePerf, perf: true, tracefs: "/sys/kernel/tracing", audit: true, multicast: true, b32: true,
		}},
		{root: "tracefs-unmounted", b32: B32On, want: want{
			def: SourcePerf, defReason: "run mounts tracefs on /sys/kernel/tracing", perf: true, tracefs: "/sys/kernel/tracing",
			audit: true, b32: true,
		}},
		// Found under lockdown in a Debian 6.1 guest (make vmtest):
		// tracefs mounts but holds no events.
		{root: "lockdown-confidentiality", want: want{
			def: SourceAudit, defReason: "kernel lockdown (confidentiality) forbids tracefs", audit: true, b32: true,
		}},
		{root: "tracefs-masked", want: want{
			def: SourceAudit, defReason: "/sys/kernel/tracing is covered by a tmpfs mount", audit: true, b32: true,
		}},
		// Both sources for different events: the fixture has no
		// tracepoints for personality, so audit takes it.
		{root: "linux-6.18", events: []string{"msync", "personality"}, want: want{
			def: SourcePerf, perf: true, tracefs: "/sys/kernel/tracing", audit: true, b32: true,
			exceptions: map[string]wantEvent{"personality": {SourceAudit, "perf: no syscalls:sys_enter_personality/sys_exit_personality tracepoints"}},
		}},
		{root: "linux-6.18", force: SourceAudit, want: want{
			def: SourceAudit, defReason: "--source audit", audit: true, b32: true,
		}},
		{root: "linux-6.18", force: SourcePerf, want: want{
			def: SourcePerf, perf: true, tracefs: "/sys/kernel/tracing",
			notes: []string{"--source perf leaves audit out"},
		}},
		{root: "auditd-multicast", force: SourceAudit, want: want{
			def: SourceAudit, audit: true, multicast: true, b32: true,
		}},
		{root: "centos7-3.10", force: SourcePerf, want: want{
			def: SourcePerf, perf: true, tracefs: "/sys/kernel/debug/tracing",
			exceptions: map[string]wantEvent{"mlock2": {SourceNone, "kernel 3.10 has no mlock2"}},
		}},
	}
	for _, tt := range tests {
		name := tt.root
		if tt.force != "" {
			name += "/" + string(tt.force)
		}
		if tt.events != nil {
			name += "/" + strings.Join(tt.events, ",")
		}
		if tt.b32 != B32Auto {
			name += "/b32=" + tt.b32.String()
		}
		t.Run(name, func(t *testing.T) {
			events := tt.events
			if events == nil {
				events = memory
			}
			cfg := fixture(t, tt.root)
			cfg.B32 = tt.b32
			p, err := Select(cfg, events, tt.force)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			checkPlan(t, p, events, tt.want)
		})
	}
}

func checkPlan(t *testing.T, p *Plan, events []string, w want) {
	t.Helper()
	if len(p.Events) != len(events) {
		t.Fatalf("plan has %d events, want %d", len(p.Events), len(events))
	}
	for i, e := range p.Events {
		if e.Name != events[i] {
			t.Errorf("event %d is %s, want %s", i, e.Name, events[i])
		}
		exp := wantEvent{w.def, w.defReason}
		if x, ok := w.exceptions[e.Name]; ok {
			exp = x
		}
		if e.Source != exp.src || !strings.Contains(e.Reason, exp.reason) {
			t.Errorf("%s: %s (%s), want %s (%q)", e.Name, e.Source, e.Reason, exp.src, exp.reason)
		}
		if e.Reason == "" {
			t.Errorf("%s: no reason", e.Name)
		}
		if e.Source == SourcePerf && p.Host.TraceFS.State == host.TraceFSMounted && (e.EnterID == 0 || e.ExitID == 0) {
			t.Errorf("%s: perf without tracepoint ids", e.Name)
		}
		if w.b32 && e.Source != SourceNone && len(e.B32) == 0 {
			t.Errorf("%s: no b32 names", e.Name)
		}
		if !w.b32 && len(e.B32) > 0 {
			t.Errorf("%s: b32 %v, want none", e.Name, e.B32)
		}
	}
	if (p.Perf != nil) != w.perf {
		t.Errorf("perf part: %+v, want present=%v", p.Perf, w.perf)
	} else if p.Perf != nil {
		if p.Perf.TraceFS.Path != w.tracefs {
			t.Errorf("perf tracefs %q, want %q", p.Perf.TraceFS.Path, w.tracefs)
		}
		if !slices.Equal(p.Perf.Events, p.EventsOf(SourcePerf)) {
			t.Errorf("perf events %v, plan's %v", p.Perf.Events, p.EventsOf(SourcePerf))
		}
	}
	if (p.Audit != nil) != w.audit {
		t.Errorf("audit part: %+v, want present=%v", p.Audit, w.audit)
	} else if p.Audit != nil {
		if p.Audit.Multicast != w.multicast {
			t.Errorf("audit multicast %v, want %v", p.Audit.Multicast, w.multicast)
		}
		if w.b32 && slices.Contains(events, "mmap") && !slices.Contains(p.Audit.B32, "mmap2") {
			t.Errorf("audit b32 %v lacks mmap2 (32-bit libcs map with it)", p.Audit.B32)
		}
	}
	for _, n := range w.notes {
		if !slices.ContainsFunc(p.Notes, func(s string) bool { return strings.Contains(s, n) }) {
			t.Errorf("no note with %q in %q", n, p.Notes)
		}
	}
	if err := p.Usable(); (err != nil) != w.unusable {
		t.Errorf("Usable() = %v, want unusable=%v", err, w.unusable)
	}
}

func TestForceUnusable(t *testing.T) {
	tests := []struct {
		root   string
		force  Source
		reason string
	}{
		{"container-paranoid3", SourcePerf, "perf_event_paranoid=3 and no CAP_PERFMON or CAP_SYS_ADMIN"},
		{"container-paranoid3", SourceAudit, "audit status request denied (EPERM): no CAP_AUDIT_CONTROL"},
		{"audit-locked", SourceAudit, "audit is locked (enabled=2)"},
		{"centos7-3.10", SourceAudit, "auditd owns audit and kernel 3.10 has no audit multicast (added in 3.16)"},
		{"linux-4.1", SourceAudit, "kernel built without CONFIG_AUDIT"},
		{"no-ftrace-syscalls", SourcePerf, "kernel built without CONFIG_FTRACE_SYSCALLS"},
		{"tracefs-masked", SourcePerf, "/sys/kernel/tracing is covered by a tmpfs mount"},
	}
	for _, tt := range tests {
		t.Run(tt.root+"/"+string(tt.force), func(t *testing.T) {
			p, err := Select(fixture(t, tt.root), memory, tt.force)
			var ue *UnusableError
			if !errors.As(err, &ue) {
				t.Fatalf("Select = %+v, %v; want an UnusableError", p, err)
			}
			if ue.Source != tt.force || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q, want --source %s and %q", err, tt.force, tt.reason)
			}
			if !errors.Is(err, ErrNotSupported) {
				t.Errorf("error %v does not match ErrNotSupported", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	// Forced perf where no requested event has tracepoints (kernel too old).
	_, err := Select(fixture(t, "linux-4.1"), []string{"mlock2"}, SourcePerf)
	if err == nil || !strings.Contains(err.Error(), "kernel 4.1 has no mlock2") {
		t.Errorf("perf for mlock2 on 4.1: %v", err)
	}
}

// TestProbeResults pins individual probe answers that the plans above do
// not show.
func TestProbeResults(t *testing.T) {
	tests := []struct {
		root, probe string
		status      string
		text        string // substring of value (ok) or reason
		minKernel   string
	}{
		{"linux-6.18", "arch", "ok", "x86_64", ""},
		{"centos7-3.10", "arch", "ok", "x86_64", ""}, // uname: no /proc/sys/kernel/arch before 6.1
		{"centos7-3.10", "perf_clockid", "no", "no perf use_clockid (added in 4.1)", "4.1"},
		{"centos7-3.10", "tracepoints mlock2", "no", "kernel 3.10 has no mlock2 (added in 4.4)", "4.4"},
		{"centos7-3.10", "audit_owner", "ok", "auditd (pid 1023)", ""},
		{"centos7-3.10", "audit_multicast", "no", "added in 3.16", "3.16"},
		{"centos7-3.10", "ia32_emulation", "ok", "/boot/config-3.10.0-1160.el7.x86_64", ""},
		{"centos7-3.10", "tracefs", "ok", "/sys/kernel/debug/tracing (debugfs, mounted)", ""},
		{"linux-6.18", "ia32_emulation", "ok", "/proc/config.gz", ""},
		{"linux-4.1", "ia32_emulation", "ok", "/proc/sys/abi/vsyscall32", ""},
		{"linux-4.1", "audit_netlink", "no", "EPROTONOSUPPORT", ""},
		{"container-paranoid3", "seccomp", "ok", "2 (a filter is active", ""},
		{"container-paranoid3", "perf_event_open", "no", "(EACCES)", ""},
		{"container-paranoid3", "capabilities", "ok", "lacks CAP_SYS_ADMIN,CAP_PERFMON,CAP_AUDIT_CONTROL,CAP_AUDIT_READ", ""},
		{"audit-locked", "audit_enabled", "no", "locked", ""},
		{"audit-locked", "audit_boot", "ok", "audit=1", ""},
		{"no-ftrace-syscalls", "syscall_tracepoints", "no", "CONFIG_FTRACE_SYSCALLS", ""},
		{"tracefs-unmounted", "tracefs", "ok", "not mounted: run mounts it", ""},
		{"tracefs-unmounted", "syscall_tracepoints", "ok", "CONFIG_FTRACE_SYSCALLS=y", ""},
		{"tracefs-unmounted", "perf_event_open", "unknown", "not tried", ""},
		{"tracefs-masked", "tracefs", "no", "covered by a tmpfs mount", ""},
		{"lockdown-confidentiality", "lockdown", "ok", "confidentiality (/sys/kernel/security/lockdown)", ""},
		{"lockdown-confidentiality", "tracefs", "no", "kernel lockdown (confidentiality) forbids tracefs", ""},
		{"tracefs-unmounted", "lockdown", "ok", "none (no lockdown= on the kernel command line", ""},
		{"auditd-multicast", "audit_multicast", "ok", "CAP_AUDIT_READ", ""},
		{"linux-6.18", "audit_boot", "no", "audit is off now", ""},
		{"linux-6.18", "audit_readers", "ok", "none besides auperf: run excludes PROCTITLE and EOE", ""},
		{"no-ftrace-syscalls", "audit_readers", "ok", "1 multicast listener(s) besides auperf: run keeps PROCTITLE and EOE", ""},
		{"audit-locked", "audit_readers", "ok", "run adds no rule", ""},
	}
	hosts := map[string]*Host{}
	for _, tt := range tests {
		t.Run(tt.root+"/"+tt.probe, func(t *testing.T) {
			h := hosts[tt.root]
			if h == nil {
				h = Probe(fixture(t, tt.root), memory)
				hosts[tt.root] = h
			}
			r, ok := h.Result(tt.probe)
			if !ok {
				t.Fatalf("no result %q in %v", tt.probe, h.Results)
			}
			text := r.Value
			if r.Err != nil {
				text = r.Err.Error()
			}
			if r.Status() != tt.status || !strings.Contains(text, tt.text) {
				t.Errorf("%s: %s %q, want %s %q", tt.probe, r.Status(), text, tt.status, tt.text)
			}
			var ns *NotSupportedError
			if !errors.As(r.Err, &ns) {
				if tt.minKernel != "" {
					t.Errorf("%v is not a NotSupportedError, want MinKernel %q", r.Err, tt.minKernel)
				}
			} else if ns.MinKernel != tt.minKernel {
				t.Errorf("MinKernel %q, want %q", ns.MinKernel, tt.minKernel)
			}
		})
	}
}

func TestParseRelease(t *testing.T) {
	for rel, want := range map[string]Version{
		"3.10.0-1160.el7.x86_64": {3, 10, 0},
		"6.18.44-fc-v657":        {6, 18, 44},
		"4.1":                    {4, 1, 0},
		"6.9-rc1":                {6, 9, 0},
		"5.15.0-91-generic":      {5, 15, 0},
	} {
		got, err := ParseRelease(rel)
		if err != nil || got != want {
			t.Errorf("ParseRelease(%q) = %v, %v; want %v", rel, got, err, want)
		}
	}
	if _, err := ParseRelease("garbage"); err == nil {
		t.Error("ParseRelease(garbage) did not fail")
	}
}

// TestReplanAfterMount: a "mountable" plan becomes a plan with tracepoint
// ids once run has mounted tracefs (here: another fixture's tracefs).
func TestReplanAfterMount(t *testing.T) {
	cfg := fixture(t, "tracefs-unmounted")
	cfg.B32 = B32On
	p, err := Select(cfg, memory, SourceAuto)
	if err != nil {
		t.Fatal(err)
	}
	if p.Perf == nil || p.Perf.TraceFS.State != host.TraceFSMountable {
		t.Fatalf("perf part %+v, want mountable tracefs", p.Perf)
	}
	dir := filepath.Join("..", "testdata", "roots", "linux-6.18", "sys", "kernel", "tracing")
	q, err := p.Replan(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, q, memory, want{def: SourcePerf, defReason: "perf_event_open work", perf: true, tracefs: dir, audit: true, b32: true})
}

// TestWithoutPerf: when the perf source fails to start for a reason no
// probe foresaw, auto moves its events to audit, and forced perf fails.
func TestWithoutPerf(t *testing.T) {
	p, err := Select(fixture(t, "linux-6.18"), memory, SourceAuto)
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.WithoutPerf(errors.New("PERF_EVENT_IOC_ID: inappropriate ioctl"))
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, q, memory, want{def: SourceAudit, defReason: "perf unusable: the perf source failed to start: PERF_EVENT_IOC_ID", audit: true, b32: true,
		notes: []string{"not enabled at boot"}})
	if !slices.Equal(q.Audit.Events, memory) || !slices.Equal(q.Audit.B32Events, memory) {
		t.Errorf("audit events %v, b32 events %v; want all", q.Audit.Events, q.Audit.B32Events)
	}
	if p.Events[0].Source != SourcePerf {
		t.Error("WithoutPerf changed the original plan")
	}
	p, _ = Select(fixture(t, "linux-6.18"), memory, SourcePerf)
	if _, err := p.WithoutPerf(errors.New("boom")); !errors.As(err, new(*UnusableError)) {
		t.Errorf("forced perf without perf: %v, want UnusableError", err)
	}
}

// TestUnusableSaysEachReasonOnce: when every event fails for the same
// reasons, the refusal names them once ("all events"), so that it stays
// one readable line instead of twelve copies.
func TestUnusableSaysEachReasonOnce(t *testing.T) {
	p := &Plan{Events: []EventPlan{
		{Name: "msync", Reason: "perf: no; audit: no"},
		{Name: "mmap", Reason: "perf: no; audit: no"},
	}}
	err := p.Usable()
	want := "no event can be traced here (all events: perf: no; audit: no)"
	if err == nil || err.Error() != want {
		t.Fatalf("Usable() = %v, want %q", err, want)
	}
	p.Events = append(p.Events, EventPlan{Name: "mlock2", Reason: "kernel has no mlock2"})
	want = "no event can be traced here (msync,mmap: perf: no; audit: no; mlock2: kernel has no mlock2)"
	if err := p.Usable(); err == nil || err.Error() != want {
		t.Fatalf("Usable() = %v, want %q", err, want)
	}
}

// No plan of any fixture root, on either arch, traces one event with two
// sources: an event is perf's or audit's natively, and b32 rules name only
// syscalls of the host's compat ABI (i386 on x86_64, arm on arm64). On
// arm64 the audit source once fell back to native rules for its b32 events
// and reported every call twice beside perf.
func TestPlanNeverTwoSources(t *testing.T) {
	roots, err := os.ReadDir(filepath.Join("..", "testdata", "roots"))
	if err != nil {
		t.Fatal(err)
	}
	arches := map[string]bool{}
	for _, r := range roots {
		if !r.IsDir() {
			continue
		}
		for _, force := range []Source{SourceAuto, SourcePerf, SourceAudit} {
			p, err := Select(fixture(t, r.Name()), memory, force)
			if err != nil {
				continue // a forced source that cannot work here
			}
			arches[p.Host.Arch] = true
			var perf, audit []string
			if p.Perf != nil {
				perf = p.Perf.Events
			}
			if p.Audit != nil {
				audit = p.Audit.Events
				native, _ := decode.ArchByName(p.Host.Arch)
				compat, ok := decode.CompatArch(native)
				for _, n := range p.Audit.B32 {
					if _, known := decode.SyscallNumber(compat, n); !ok || !known {
						t.Errorf("%s/%s: b32 rule for %s on %s, whose compat ABI has no such syscall", r.Name(), force, n, p.Host.Arch)
					}
				}
			}
			for _, e := range perf {
				if slices.Contains(audit, e) {
					t.Errorf("%s/%s: %s planned for perf and audit", r.Name(), force, e)
				}
			}
		}
	}
	if !arches["x86_64"] || !arches["aarch64"] {
		t.Errorf("fixture arches %v: want x86_64 and aarch64", arches)
	}
}
