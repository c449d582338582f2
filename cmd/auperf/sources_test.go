// End-to-end tests of run's sources as the built binary runs them: auto
// with both sources, forced audit, a masked tracefs, events split by hand,
// refusals before anything attaches, perf failing to attach, debugfs.

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/source"
	"github.com/auperf/auperf/internal/trace"
	"github.com/auperf/auperf/internal/workload"
	"github.com/auperf/auperf/perfsrc"
)

// haveIA32 reports whether this kernel runs 32-bit x86 programs (ia32
// emulation).
func haveIA32() bool {
	_, err := os.Stat("/proc/sys/abi/vsyscall32")
	return err == nil
}

func requireIA32(t *testing.T) {
	t.Helper()
	if !haveIA32() {
		ktest.Skip(t, "no ia32 emulation here (/proc/sys/abi/vsyscall32)")
	}
}

// TestIntegrationRunAutoBothSources: `auperf run --b32 on` (auto) picks
// perf for the memory family and adds audit b32 rules for 32-bit callers:
// the workload's 64-bit calls arrive from perf and its int 0x80 calls from
// audit, in one stream, each exactly as the workload made it; the command
// is started once (by audit, in its own audit session) and perf follows it
// all the same; audit is left as found.
func TestIntegrationRunAutoBothSources(t *testing.T) {
	ktest.Require(t)
	requireIA32(t)
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	wl := workload.CopyAs(t, dir, "wl-both")
	out, truthPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "truth.json")
	st, stderr := runAuperf(t, bin, "run", "--b32", "on", "--output", "json:"+out, "--", wl, "-int80", "-threads", "2", "-out", truthPath)
	if st != 0 {
		t.Fatalf("exit status %d\n%s", st, stderr)
	}
	t.Logf("stderr:\n%s", stderr)
	truth, err := workload.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	got := readEvents(t, out)
	m := matchTruth(t, truth, got, memoryCall, func(c workload.Call) string {
		if c.Arch == "i386" {
			return event.SourceAudit
		}
		return event.SourcePerf
	})
	if m[event.SourcePerf] == 0 || m[event.SourceAudit] == 0 {
		t.Errorf("want calls from both sources, got %v", m)
	}
	// The two msyncs of the issue, side by side.
	var msync64, msync32 bool
	for _, c := range truth {
		msync64 = msync64 || c.Label == "msync_sync"
		msync32 = msync32 || c.Label == "i386_msync"
	}
	if !msync64 || !msync32 {
		t.Errorf("the workload made no 64-bit and 32-bit msync (truth has %d calls)", len(truth))
	}
	pids := map[int]bool{}
	for _, g := range got {
		pids[g.PID] = true
		if g.Source == event.SourceAudit && g.Arch != "i386" {
			t.Errorf("audit reported a native call (perf has those): %+v", g)
		}
	}
	if len(pids) != 1 {
		t.Errorf("events of %d processes, want the command's only", len(pids))
	}
	if strings.Contains(stderr, "lost") {
		t.Errorf("loss reported:\n%s", stderr)
	}
}

// TestIntegrationRunAuditSource: --source audit end to end: every call of
// the memory family (64- and 32-bit) as the workload made it, the
// command's exit status, audit restored.
func TestIntegrationRunAuditSource(t *testing.T) {
	ktest.Require(t)
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	wl := workload.CopyAs(t, dir, "wl-audit")
	out, truthPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "truth.json")
	args := []string{"-threads", "2", "-out", truthPath}
	if haveIA32() {
		args = append(args, "-int80")
	}
	// The workload runs under sh, a grandchild of auperf: the whole tree.
	st, stderr := runAuperf(t, bin, append([]string{"run", "--source", "audit", "--output", "json:" + out, "--",
		"sh", "-c", `"$0" "$@"; exit 7`, wl}, args...)...)
	if st != 7 {
		t.Fatalf("exit status %d, want the command's 7\n%s", st, stderr)
	}
	truth, err := workload.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	got := readEvents(t, out)
	m := matchTruth(t, truth, got, memoryCall, func(workload.Call) string { return event.SourceAudit })
	if m[event.SourceAudit] == 0 {
		t.Error("nothing matched")
	}
	for _, g := range got {
		if g.Source != event.SourceAudit {
			t.Errorf("event from %s under --source audit: %+v", g.Source, g)
			break
		}
	}
}

// TestIntegrationRunMaskedTracefs: with tracefs and debugfs covered by
// tmpfs in a private mount namespace, auto falls back to audit and still
// reports the workload's calls exactly; --source perf is refused with one
// line and exit 2 before anything is opened (its output file is never
// created); probe says why perf is out.
func TestIntegrationRunMaskedTracefs(t *testing.T) {
	ktest.Require(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		ktest.Skip(t, "unshare (util-linux) not installed")
	}
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	wl := workload.CopyAs(t, dir, "wl-masked")
	masked := func(args ...string) (int, string, string) {
		script := `mount -t tmpfs -o ro,size=0 tmpfs /sys/kernel/tracing && mount -t tmpfs -o ro,size=0 tmpfs /sys/kernel/debug && exec "$@"`
		cmd := exec.Command(unshare, append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", bin}, args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}

	out, truthPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "truth.json")
	st, _, stderr := masked("run", "--output", "json:"+out, "--", wl, "-threads", "2", "-out", truthPath)
	if st != 0 {
		t.Fatalf("auto: exit status %d\n%s", st, stderr)
	}
	truth, err := workload.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	got := readEvents(t, out)
	m := matchTruth(t, truth, got, memoryCall, func(workload.Call) string { return event.SourceAudit })
	var msync, mmap bool
	for _, c := range truth {
		msync = msync || c.Name == "msync"
		mmap = mmap || c.Name == "mmap"
	}
	if !msync || !mmap || m[event.SourceAudit] == 0 {
		t.Errorf("want the workload's msync and mmap calls from audit: matched %v", m)
	}
	for _, g := range got {
		if g.Source != event.SourceAudit {
			t.Fatalf("event from %s with tracefs masked: %+v", g.Source, g)
		}
	}

	refused := filepath.Join(dir, "refused.json")
	st, stdout, stderr := masked("run", "--source", "perf", "--output", "json:"+refused, "--", "touch", filepath.Join(dir, "ran"))
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if st != 2 || len(lines) != 1 || !strings.Contains(stderr, "--source perf cannot work here: tracefs is not mounted and cannot be") {
		t.Errorf("--source perf: exit %d, want 2 and one line saying why:\n%s%s", st, stderr, stdout)
	}
	for _, p := range []string{refused, filepath.Join(dir, "ran")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists: --source perf went past validation", p)
		}
	}

	st, stdout, stderr = masked("probe")
	if st != 0 || !regexp.MustCompile(`(?m)^tracefs +no +tracefs is not mounted and cannot be: /sys/kernel/tracing is covered by a tmpfs mount`).MatchString(stdout) ||
		!regexp.MustCompile(`(?m)^msync +audit +perf unusable: tracefs is not mounted`).MatchString(stdout) {
		t.Errorf("probe: exit %d, want why perf is out:\n%s%s", st, stdout, stderr)
	}
}

// TestIntegrationRunSplitSources: both sources at once for different
// native events (--source-events: perf msync, audit mprotect), into one
// stream, each call once and from its source; the 32-bit side of both goes
// to audit's b32 rules.
func TestIntegrationRunSplitSources(t *testing.T) {
	ktest.Require(t)
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	wl := workload.CopyAs(t, dir, "wl-split")
	out, truthPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "truth.json")
	args := []string{"-threads", "2", "-out", truthPath}
	if haveIA32() {
		args = append(args, "-int80")
	}
	st, stderr := runAuperf(t, bin, append([]string{"run", "--b32", "on", "--source-events", "perf=msync", "--source-events", "audit=mprotect",
		"--output", "json:" + out, "--", wl}, args...)...)
	if st != 0 {
		t.Fatalf("exit status %d\n%s", st, stderr)
	}
	truth, err := workload.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	got := readEvents(t, out)
	m := matchTruth(t, truth, got, func(c workload.Call) bool { return c.Name == "msync" || c.Name == "mprotect" },
		func(c workload.Call) string {
			if c.Arch == "x86_64" && c.Name == "msync" {
				return event.SourcePerf
			}
			return event.SourceAudit
		})
	if m[event.SourcePerf] == 0 || m[event.SourceAudit] == 0 {
		t.Errorf("want calls from both sources: %v", m)
	}
	for _, g := range got {
		if g.Name != "msync" && g.Name != "mprotect" || g.Source == event.SourcePerf && g.Name != "msync" ||
			g.Source == event.SourceAudit && g.Arch == "x86_64" && g.Name != "mprotect" {
			t.Errorf("event outside the split: %s %s from %s", g.Arch, g.Name, g.Source)
		}
	}
}

// TestIntegrationRunRefusedBeforeAttach: bad flags, unknown events and
// unreachable outputs are refused as root too with one line and exit 2,
// before any command starts, and leave audit as it was (the selector only
// reads; outputs are opened before any source attaches).
func TestIntegrationRunRefusedBeforeAttach(t *testing.T) {
	ktest.Require(t)
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	marker := filepath.Join(dir, "ran")
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--events", "msync,notasyscall"},
		{"--source", "ebpf"},
		{"--audit-backpressure", "block"},
		{"--audit-backlog-limit", "-1"},
		{"--source-events", "bpf=msync"},
		{"--source", "perf", "--source-events", "audit=msync"},
		{"--output", "syslog:tcp://127.0.0.1:1"},
		{"--output", "json:" + filepath.Join(file, "x.json")}, // a directory that cannot exist
		{"--source", "audit", "--output", "bogus:thing"},
		{"--ring-pages", "3"},
	} {
		st, stderr := runAuperf(t, bin, append(append([]string{"run"}, args...), "--", "touch", marker)...)
		if lines := strings.Split(strings.TrimSpace(stderr), "\n"); st != 2 || len(lines) != 1 {
			t.Errorf("%v: exit %d, want 2 with one line:\n%s", args, st, stderr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%v: the command ran", args)
		}
	}
}

// failingSource is a perf source whose attach fails as on a kernel the
// probes could not see through (PERF_EVENT_IOC_ID before 3.12, a seccomp
// filter that allows the probe's open but not the rings' mmap).
type failingSource struct{ closed bool }

// TestIntegrationRunPerfAttachFails: when perf fails to start although the
// probes said it works, auto moves its events to audit (and still reports
// the command's calls); forced perf exits 2.
func TestIntegrationRunPerfAttachFails(t *testing.T) {
	ktest.Require(t)
	guardAudit(t)
	fs := &failingSource{}
	withPerfSource(t, fs)
	dir := t.TempDir()
	once := workload.CopyAs(t, dir, "wl-fallback")
	out := filepath.Join(dir, "out.json")
	if st := runMain([]string{"auperf", "run", "--events", "msync", "--output", "json:" + out, "--", once, "-once", "-out", "/dev/null"}); st != 0 {
		t.Fatalf("auto with perf failing: exit %d", st)
	}
	if !fs.closed {
		t.Error("the failed perf source was not closed")
	}
	var n int
	for _, g := range readEvents(t, out) {
		if g.Comm == "wl-fallback" && g.Name == "msync" && g.Errno == "ENOMEM" && g.Source == event.SourceAudit {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the workload's msync reported %d times by audit, want 1", n)
	}
	if st := runMain([]string{"auperf", "run", "--source", "perf", "--events", "msync", "--output", "json:" + out, "--", "true"}); st != 2 {
		t.Errorf("--source perf with perf failing: exit %d, want 2", st)
	}
}

// TestIntegrationRunMountsDebugfs: where only debugfs can give tracefs (as
// before 4.1; here /sys/kernel/tracing is covered by tmpfs and nothing is
// mounted), the plan says debugfs, auperf mounts it, traces through its
// tracing/ directory, and unmounts it again.
func TestIntegrationRunMountsDebugfs(t *testing.T) {
	ktest.Require(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		ktest.Skip(t, "unshare (util-linux) not installed")
	}
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	once := workload.CopyAs(t, dir, "wl-dbgfs")
	out := filepath.Join(dir, "out.json")
	script := `for m in /sys/kernel/debug/tracing /sys/kernel/tracing /sys/kernel/debug; do umount $m 2>/dev/null; done
mount -t tmpfs -o ro,size=0 tmpfs /sys/kernel/tracing || exit 7
if grep -qE " (tracefs|debugfs) " /proc/mounts; then echo "still mounted"; exit 9; fi
"$0" probe | grep -q "^tracefs .*/sys/kernel/debug (debugfs, not mounted: run mounts it)" || { echo "probe does not plan debugfs"; exit 6; }
"$0" run --events msync --stats-interval 0 --output "json:$1" -- "$2" -once -out /dev/null || exit $?
if grep -qE " (tracefs|debugfs) " /proc/mounts; then echo "left mounted"; exit 8; fi`
	b, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, bin, out, once).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	var n int
	for _, g := range readEvents(t, out) {
		if g.Comm == "wl-dbgfs" && g.Name == "msync" && g.Source == event.SourcePerf && g.Errno == "ENOMEM" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the workload's msync reported %d times by perf, want 1", n)
	}
}

func (*failingSource) Name() string { return event.SourcePerf }

func (*failingSource) Run(context.Context, event.Handler) error { return errors.New("not attached") }

func (*failingSource) Stats() []event.Counter { return nil }

func (*failingSource) Warnings() []string          { return nil }
func (*failingSource) SetFilter(filter.Spec) error { return nil }

func (*failingSource) Attach() error { return errors.New("simulated attach failure") }

func (f *failingSource) Close() error { f.closed = true; return nil }

// hangingSource attaches, then never returns from Run until released: a
// source stuck in the kernel or a bug.
type hangingSource struct {
	failingSource
	release chan struct{}
}

func (h *hangingSource) Attach() error { return nil }
func (h *hangingSource) Run(context.Context, event.Handler) error {
	<-h.release
	return nil
}

// TestIntegrationRunStopTimeout: a stop is bounded: when a source does not
// return within --stop-timeout, run closes the sources itself (restoring
// the kernel state) and exits 1 saying so, instead of hanging.
func TestIntegrationRunStopTimeout(t *testing.T) {
	ktest.Require(t)
	hs := &hangingSource{release: make(chan struct{})}
	defer close(hs.release)
	withPerfSource(t, hs)
	out := filepath.Join(t.TempDir(), "out.json")
	start := time.Now()
	st := runMain([]string{"auperf", "run", "--config", "", "--source", "perf", "--events", "msync",
		"--duration", "200ms", "--stop-timeout", "300ms", "--output", "json:" + out})
	if took := time.Since(start); st != 1 || took > 10*time.Second {
		t.Errorf("exit %d after %v, want 1 soon after the stop timeout", st, took)
	}
	if !hs.closed {
		t.Error("the stuck source was not closed (its kernel state not restored)")
	}
}

// withPerfSource makes run's perf source s until t ends.
func withPerfSource(t *testing.T, s source.Source) {
	saved := traceEnv
	traceEnv = func() trace.Env {
		env := saved()
		env.NewPerf = func(perfsrc.Config) (source.Source, error) { return s, nil }
		return env
	}
	t.Cleanup(func() { traceEnv = saved })
}
