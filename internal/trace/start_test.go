// Tests of start without root: fake sources and mounts on fixture roots,
// for the perf-to-audit fallback, refusals, mounting and the command.

package trace

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/host"
	"github.com/auperf/auperf/internal/source"
	"github.com/auperf/auperf/perfsrc"
	"github.com/auperf/auperf/selector"
)

// fakeSource is a source that attaches (or fails to) without a kernel and
// remembers what was done to it.
type fakeSource struct {
	name      string
	attachErr error
	attached  int
	closed    int
	started   []string // commands StartCommand started
	warnings  []string
	perf      perfsrc.Config
	audit     auditsrc.Config
}

var _ AuditSource = (*fakeSource)(nil)

func (f *fakeSource) Name() string                             { return f.name }
func (f *fakeSource) Attach() error                            { f.attached++; return f.attachErr }
func (f *fakeSource) Run(context.Context, event.Handler) error { return nil }
func (f *fakeSource) Close() error                             { f.closed++; return nil }
func (f *fakeSource) Stats() []event.Counter                   { return nil }
func (f *fakeSource) Warnings() []string                       { return f.warnings }
func (f *fakeSource) SetFilter(filter.Spec) error              { return nil }
func (f *fakeSource) StartCommand(cmd *exec.Cmd) error {
	f.started = append(f.started, cmd.Path)
	f.warnings = append(f.warnings, "command in its own audit session")
	return nil
}

// fakeHost is an Env over a fixture root with fake sources and mounts.
type fakeHost struct {
	t        *testing.T
	root     string // the fixture Select probes
	replan   string // the fixture Replan probes (tracefs mounted)
	perf     *fakeSource
	audit    *fakeSource
	mounted  []string
	unmounts int
	warned   []string
}

func newFakeHost(t *testing.T, root string) *fakeHost {
	return &fakeHost{t: t, root: root, perf: &fakeSource{name: "perf"}, audit: &fakeSource{name: "audit"}}
}

func fixtureRoot(name string) string { return filepath.Join("..", "..", "testdata", "roots", name) }

func (h *fakeHost) env() Env {
	sel := func(root string) func([]string, selector.Source, selector.B32Mode) (*selector.Plan, error) {
		return func(events []string, force selector.Source, b32 selector.B32Mode) (*selector.Plan, error) {
			cfg, err := selector.FixtureConfig(fixtureRoot(root))
			if err != nil {
				h.t.Fatal(err)
			}
			cfg.B32 = b32
			return selector.Select(cfg, events, force)
		}
	}
	return Env{
		Select: sel(h.root),
		Replan: func(p *selector.Plan, dir string) (*selector.Plan, error) {
			return sel(h.replan)(p.Host.Events(), p.Requested, selector.B32Auto)
		},
		Mount: func(t host.TraceFS) (string, func(), error) {
			h.mounted = append(h.mounted, t.Path)
			return t.Dir, func() { h.unmounts++ }, nil
		},
		NewPerf: func(c perfsrc.Config) (source.Source, error) {
			h.perf.perf = c
			return h.perf, nil
		},
		NewAudit: func(c auditsrc.Config) (AuditSource, error) {
			h.audit.audit = c
			return h.audit, nil
		},
		Warn: func(s string) { h.warned = append(h.warned, s) },
	}
}

func (h *fakeHost) start(settings Settings) (*Session, error) {
	h.t.Helper()
	opts, err := settings.Options(4242)
	if err != nil {
		h.t.Fatal(err)
	}
	env := h.env()
	plan, err := Plan(env, opts)
	if err != nil {
		return nil, err
	}
	return Start(env, plan, opts)
}

// Perf is planned, but attaching it fails (what the probes could not
// foresee): auto moves its events to audit, says so, and closes the failed
// perf source; audit gets native rules for every event and the b32 rules.
func TestStartPerfFailsFallsBackToAudit(t *testing.T) {
	h := newFakeHost(t, "linux-6.18")
	h.perf.attachErr = errors.New("simulated attach failure")
	sess, err := h.start(Settings{Events: "msync,mmap"})
	if err != nil {
		t.Fatal(err)
	}
	if h.perf.attached != 1 || h.perf.closed != 1 {
		t.Errorf("failed perf source: attached %d, closed %d; want 1, 1", h.perf.attached, h.perf.closed)
	}
	if len(sess.Sources) != 1 || sess.Sources[0] != h.audit || h.audit.attached != 1 {
		t.Fatalf("sources %v, want the audit source attached", sess.Sources)
	}
	if got := h.audit.audit.Events; !slices.Equal(got, []string{"msync", "mmap"}) {
		t.Errorf("audit events %v, want msync,mmap", got)
	}
	if got := h.audit.audit.Archs; !slices.Equal(got, []decode.Arch{decode.NativeArch(), decode.ArchI386}) {
		t.Errorf("audit archs %v", got)
	}
	if !slices.ContainsFunc(h.warned, func(w string) bool {
		return strings.Contains(w, "perf source failed to start (simulated attach failure)")
	}) {
		t.Errorf("warnings %q: the fallback is not said", h.warned)
	}
	if err := sess.Close(); err != nil || h.audit.closed != 1 {
		t.Errorf("Close: %v, audit closed %d", err, h.audit.closed)
	}
}

// Forced perf that fails to attach is a usage error (exit 2); nothing else
// is attached.
func TestStartForcedPerfFails(t *testing.T) {
	h := newFakeHost(t, "linux-6.18")
	h.perf.attachErr = errors.New("simulated attach failure")
	_, err := h.start(Settings{Source: "perf", Events: "msync"})
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "simulated attach failure") {
		t.Fatalf("err %v, want a usage error naming the failure", err)
	}
	if h.audit.attached != 0 || h.perf.closed != 1 {
		t.Errorf("audit attached %d, perf closed %d", h.audit.attached, h.perf.closed)
	}
}

// Audit planned only for the 32-bit side: when it fails, perf still
// traces and the user is told that 32-bit calls are not seen.
func TestStartAuditB32Fails(t *testing.T) {
	h := newFakeHost(t, "linux-6.18")
	h.audit.attachErr = errors.New("no audit here")
	sess, err := h.start(Settings{Events: "msync", B32: "on"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sess.Sources) != 1 || sess.Sources[0] != h.perf {
		t.Fatalf("sources %v, want perf alone", sess.Sources)
	}
	if h.audit.closed != 1 {
		t.Errorf("failed audit source closed %d times, want 1", h.audit.closed)
	}
	if !slices.ContainsFunc(h.warned, func(w string) bool { return strings.Contains(w, "32-bit (ia32) syscalls are not seen") }) {
		t.Errorf("warnings %q", h.warned)
	}
}

// Audit carrying native events fails: the whole start fails (exit 2) and
// the perf source attached before it is closed again.
func TestStartAuditFailsClosesPerf(t *testing.T) {
	h := newFakeHost(t, "linux-6.18")
	h.audit.attachErr = errors.New("no audit here")
	_, err := h.start(Settings{Events: "msync,mprotect", SourceEvents: []string{"perf=msync", "audit=mprotect"}})
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "audit source: no audit here") {
		t.Fatalf("err %v", err)
	}
	if h.perf.attached != 1 || h.perf.closed != 1 {
		t.Errorf("perf attached %d, closed %d; want 1, 1", h.perf.attached, h.perf.closed)
	}
}

// tracefs not mounted but mountable: Start mounts it, plans again with the
// real tracepoints, gives perf the mounted directory, and Close unmounts it
// once.
func TestStartMountsTracefs(t *testing.T) {
	h := newFakeHost(t, "tracefs-unmounted")
	h.replan = "linux-6.18"
	sess, err := h.start(Settings{Events: "msync"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.mounted, []string{"/sys/kernel/tracing"}) {
		t.Errorf("mounted %v", h.mounted)
	}
	if dir := h.perf.perf.Paths.TraceFS; !strings.HasSuffix(dir, filepath.Join("linux-6.18", "sys", "kernel", "tracing")) {
		t.Errorf("perf reads tracefs at %q, want the replanned one", dir)
	}
	sess.Close()
	sess.Close()
	if h.unmounts != 1 {
		t.Errorf("unmounted %d times, want 1", h.unmounts)
	}
}

// The command starts through the audit source when audit runs (its audit
// session), and its warnings are told; without audit it starts plainly.
func TestStartCommand(t *testing.T) {
	h := newFakeHost(t, "linux-6.18")
	sess, err := h.start(Settings{Events: "msync", B32: "on", Command: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	if !h.audit.audit.StartsCommand || !h.perf.perf.Filter.Tree || h.perf.perf.Filter.PIDs[0] != 4242 {
		t.Errorf("command mode not passed on: audit %+v, perf filter %+v", h.audit.audit.StartsCommand, h.perf.perf.Filter)
	}
	if err := sess.StartCommand(exec.Command("/bin/true")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.audit.started, []string{"/bin/true"}) || !slices.Contains(h.warned, "command in its own audit session") {
		t.Errorf("started %v, warned %q", h.audit.started, h.warned)
	}

	h2 := newFakeHost(t, "linux-6.18")
	sess2, err := h2.start(Settings{Source: "perf", Events: "msync"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	if err := sess2.StartCommand(cmd); err != nil || cmd.Process == nil {
		t.Fatalf("plain start: %v", err)
	}
	cmd.Wait()
}

// A plan that traces nothing is refused before anything attaches.
func TestPlanNothingTraceable(t *testing.T) {
	h := newFakeHost(t, "container-paranoid3")
	opts, err := Settings{}.Options(1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Plan(h.env(), opts)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "no event can be traced here") {
		t.Fatalf("err %v", err)
	}
	if h.perf.attached+h.audit.attached != 0 {
		t.Error("a source attached")
	}
}

// On arm64 with CONFIG_COMPAT, auto starts perf for every event and audit
// for the 32-bit arm side only: no native audit rule, which would trace
// perf's calls again.
func TestStartArm64PerfAndCompat(t *testing.T) {
	h := newFakeHost(t, "arm64-6.1")
	sess, err := h.start(Settings{B32: "on"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sess.Sources) != 2 || sess.Sources[0] != h.perf || h.audit.attached != 1 {
		t.Fatalf("sources %v (audit attached %d), want perf and audit", sess.Sources, h.audit.attached)
	}
	if got := h.audit.audit.B32Events; !slices.Equal(got, decode.DefaultEvents) {
		t.Errorf("audit b32 events %v, want the memory family", got)
	}
	if len(h.audit.audit.Archs) != 1 || !h.audit.audit.Archs[0].IsCompat() {
		t.Errorf("audit archs %v, want the compat arch only", h.audit.audit.Archs)
	}
}

// By default (--b32 auto) audit is not turned on for 32-bit callers
// alone: with audit off and perf working, run starts perf only and says
// what that leaves unseen and how to see it; --b32 off never adds them.
func TestStartB32AutoLeavesAuditOff(t *testing.T) {
	for _, b32 := range []string{"", "off"} {
		h := newFakeHost(t, "linux-6.18")
		sess, err := h.start(Settings{B32: b32})
		if err != nil {
			t.Fatal(err)
		}
		if len(sess.Sources) != 1 || sess.Sources[0] != h.perf || h.audit.attached != 0 {
			t.Errorf("--b32 %q: sources %v (audit attached %d), want perf alone", b32, sess.Sources, h.audit.attached)
		}
		want := "--b32 on sees them"
		if b32 == "off" {
			want = "32-bit (ia32) syscalls are not seen: --b32 off"
		}
		if !slices.ContainsFunc(h.warned, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("--b32 %q: warnings %q lack %q", b32, h.warned, want)
		}
		if slices.ContainsFunc(h.warned, func(w string) bool { return strings.HasPrefix(w, "lasting cost") }) {
			t.Errorf("--b32 %q: a lasting cost is announced though audit stays off: %q", b32, h.warned)
		}
	}
	// --b32 on turns audit on, and says what that costs.
	h := newFakeHost(t, "linux-6.18")
	if _, err := h.start(Settings{B32: "on"}); err != nil {
		t.Fatal(err)
	}
	if h.audit.attached != 1 || !slices.ContainsFunc(h.warned, func(w string) bool { return strings.HasPrefix(w, "lasting cost") }) {
		t.Errorf("--b32 on: audit attached %d, warnings %q", h.audit.attached, h.warned)
	}
}
