package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/source"
	"github.com/auperf/auperf/internal/trace"
	"github.com/auperf/auperf/internal/workload"
	"github.com/auperf/auperf/perfsrc"
)

// buildAuperf builds this command into dir.
func buildAuperf(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "auperf")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build auperf: %v\n%s", err, out)
	}
	return bin
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--events", "msync,notasyscall"},
		{"run", "--source", "ebpf"},
		{"run", "--ring-pages", "3"},
		{"run", "--pid", "-4"},
		{"run", "--output", "bogus:thing"},
		{"run", "--output", "syslog:tcp://127.0.0.1:1"}, // unreachable: refused before attaching
		{"run", "--config", "x.yaml"},
		{"run", "--pid", "1", "--", "true"},
		{"run", "--audit-backpressure", "block"},
		{"run", "--audit-backlog-limit", "-5"},
		{"run", "--source-events", "perf"},
		{"run", "--source-events", "audit=nosuchcall"},
		{"run", "--source", "audit", "--source-events", "perf=msync"},
	} {
		if st := runMain(append([]string{"auperf"}, args...)); st != 2 {
			t.Errorf("%v: exit status %d, want 2", args, st)
		}
	}
}

// TestIntegrationRunCommand: `auperf run --source perf -- sh -c './child;
// exit 3'` traces the child (and only the command's tree) and exits 3.
func TestIntegrationRunCommand(t *testing.T) {
	ktest.Require(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	workload.CopyAs(t, dir, "child")
	out := filepath.Join(dir, "events.json")
	cmd := exec.Command(bin, "run", "--source", "perf", "--output", "json:"+out, "--",
		"sh", "-c", "./child -once -out /dev/null; exit 3")
	cmd.Dir = dir
	outb, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("auperf run: %v, want exit status 3\n%s", err, outb)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var childMsync, stats int
	pids := map[int]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			PID   int    `json:"processId"`
			PPID  int    `json:"parentProcessId"`
			Comm  string `json:"processName"`
			Name  string `json:"eventName"`
			Errno string `json:"errno"`
			Exe   struct {
				Path string `json:"path"`
			} `json:"executable"`
			Args []struct {
				Value any `json:"value"`
			} `json:"args"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		if ev.Name == "auperf_stats" {
			stats++
			continue
		}
		pids[ev.PID] = ev.Comm
		if ev.Comm == "child" && ev.Name == "msync" && ev.Errno == "ENOMEM" && ev.Exe.Path == filepath.Join(dir, "child") {
			childMsync++
		}
	}
	if childMsync != 1 {
		t.Errorf("child's msync reported %d times, want 1", childMsync)
	}
	if stats == 0 {
		t.Error("no final auperf_stats")
	}
	// Only the command's tree: sh and the child.
	if len(pids) > 2 {
		t.Errorf("events of %d processes, want sh and child only: %v", len(pids), pids)
	}
}

func TestRunConfigFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("events: [msync, nosuchcall]\n"), 0o644)
	if st := runMain([]string{"auperf", "run", "--config", bad}); st != 2 {
		t.Errorf("config with an unknown event: exit %d, want 2", st)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("evnts: [msync]\n"), 0o644)
	if st := runMain([]string{"auperf", "run", "--config", unknown}); st != 2 {
		t.Errorf("config with an unknown key: exit %d, want 2", st)
	}
	ring := filepath.Join(dir, "ring.yaml")
	os.WriteFile(ring, []byte("ring-pages: 3\nsource: perf\n"), 0o644)
	if st := runMain([]string{"auperf", "run", "--config", ring}); st != 2 {
		t.Errorf("config with a bad ring size: exit %d, want 2", st)
	}
	bp := filepath.Join(dir, "bp.yaml")
	os.WriteFile(bp, []byte("audit-backpressure: block\naudit-backlog-limit: 100\n"), 0o644)
	if st := runMain([]string{"auperf", "run", "--config", bp}); st != 2 {
		t.Errorf("config with a bad audit backpressure: exit %d, want 2", st)
	}
	lean := filepath.Join(dir, "lean.yaml")
	os.WriteFile(lean, []byte("audit-lean: sometimes\n"), 0o644)
	if st := runMain([]string{"auperf", "run", "--config", lean}); st != 2 {
		t.Errorf("config with a bad audit lean mode: exit %d, want 2", st)
	}
	if st := runMain([]string{"auperf", "run", "--config", filepath.Join(dir, "missing.yaml")}); st != 2 {
		t.Errorf("missing config: exit %d, want 2", st)
	}
}

// TestIntegrationRunSigterm: SIGTERM stops a host-wide run cleanly: what
// the kernel still held is drained into the output, final stats written,
// exit status 0; a config file sets the outputs and events.
func TestIntegrationRunSigterm(t *testing.T) {
	ktest.Require(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	once := workload.CopyAs(t, dir, "wl-once")
	out := filepath.Join(dir, "events.json")
	cfg := filepath.Join(dir, "auperf.yaml")
	os.WriteFile(cfg, []byte("events: [msync]\noutput: [\"json:"+out+"\"]\nstats-interval: 50ms\n"), 0o644)
	cmd := exec.Command(bin, "run", "--config", cfg)
	exited, stderr := startCmd(t, cmd)
	// Periodic stats mean the source is attached and running.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(readFile(out), "auperf_stats"); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("auperf ended early (%v): %s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no auperf_stats after 30s: %s", stderr.String())
		}
	}
	if b, err := exec.Command(once, "-once", "-out", "/dev/null").CombinedOutput(); err != nil {
		t.Fatalf("workload: %v %s", err, b)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("auperf after SIGTERM: %v\n%s", err, stderr.String())
	}
	text := readFile(out)
	if !strings.Contains(text, `"processName":"wl-once"`) || !strings.Contains(text, `"errno":"ENOMEM"`) {
		t.Errorf("the workload's msync is not in the output")
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if !strings.Contains(lines[len(lines)-1], "auperf_stats") {
		t.Errorf("last line is not the final stats: %s", lines[len(lines)-1])
	}
	if strings.Contains(text, `"eventName":"mmap"`) {
		t.Error("config's events not applied: mmap reported")
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestIntegrationRunCommandSignal: SIGTERM to auperf goes to the command,
// whose end (by that signal) ends the run: exit status 128+15.
func TestIntegrationRunCommandSignal(t *testing.T) {
	ktest.Require(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	cmd := exec.Command(bin, "run", "--output", "json:"+filepath.Join(dir, "out.json"), "--", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The command runs once tracing is on: wait for auperf's child.
	tasks := fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		files, _ := filepath.Glob(tasks)
		var kids string
		for _, f := range files {
			kids += strings.TrimSpace(readFile(f))
		}
		if kids != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("auperf did not start the command within a minute")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 128+15 {
		t.Fatalf("auperf run -- sleep after SIGTERM: %v, want exit status 143", err)
	}
}

// TestIntegrationRunCommandNotFound: a command that cannot start ends the
// run with the shell's status 127 and one line.
func TestIntegrationRunCommandNotFound(t *testing.T) {
	ktest.Require(t)
	dir := t.TempDir()
	if st := runMain([]string{"auperf", "run", "--output", "json:" + filepath.Join(dir, "o.json"), "--", filepath.Join(dir, "missing")}); st != 127 {
		t.Fatalf("exit status %d, want 127", st)
	}
}

// TestIntegrationRunMountsTracefs: where tracefs is not mounted (a private
// mount namespace here), auperf mounts it, traces, and unmounts it again.
func TestIntegrationRunMountsTracefs(t *testing.T) {
	ktest.Require(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		ktest.Skip(t, "unshare (util-linux) not installed")
	}
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	once := workload.CopyAs(t, dir, "wl-mnt")
	out := filepath.Join(dir, "out.json")
	script := `for m in /sys/kernel/debug/tracing /sys/kernel/tracing /sys/kernel/debug; do umount $m 2>/dev/null; done
if grep -qE " (tracefs|debugfs) " /proc/mounts; then echo "still mounted"; exit 9; fi
"$0" run --events msync --stats-interval 0 --output "json:$1" -- "$2" -once -out /dev/null || exit $?
if grep -qE " (tracefs|debugfs) " /proc/mounts; then echo "left mounted"; exit 8; fi`
	b, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, bin, out, once).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if !strings.Contains(readFile(out), `"processName":"wl-mnt"`) {
		t.Errorf("the workload's msync is not in the output")
	}
}

// outEvent is one line of auperf's JSON output, as the tests read it.
type outEvent struct {
	PID    int    `json:"processId"`
	TID    *int   `json:"threadId"`
	Comm   string `json:"processName"`
	Name   string `json:"eventName"`
	ID     string `json:"eventId"`
	Arch   string `json:"arch"`
	Ret    any    `json:"returnValue"`
	Errno  string `json:"errno"`
	Source string `json:"source"`
	Args   []struct {
		Name    string `json:"name"`
		Value   any    `json:"value"`
		Decoded string `json:"decoded"`
	} `json:"args"`
}

func readEvents(t *testing.T, path string) []outEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []outEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev outEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		if ev.Source != event.SourceAuperf {
			out = append(out, ev)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantEvent is what auperf must write for a truth call: decode's view of
// it, through the same JSON encoder.
func wantEvent(t *testing.T, c workload.Call) outEvent {
	t.Helper()
	arch := decode.ArchX86_64
	if c.Arch == "i386" {
		arch = decode.ArchI386
	}
	var ev event.Event
	decode.Decode(&ev, &decode.Raw{Arch: arch, Nr: int32(c.Nr), Args: c.Args,
		Known: uint8(1<<c.NArgs - 1), Ret: c.Ret, HasRet: true}, nil)
	var w outEvent
	if err := json.Unmarshal(event.AppendJSON(nil, &ev), &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// memoryCall reports whether c is a call of the default events (in its
// arch's names), and so one that auperf run must report.
func memoryCall(c workload.Call) bool {
	for _, e := range decode.DefaultEvents {
		if c.Arch == "x86_64" && c.Name == e || c.Arch == "i386" && slices.Contains(decode.I386Names(e), c.Name) {
			return true
		}
	}
	return false
}

// matchTruth pairs every truth call that keep selects with one event of
// got (each used once) and checks pid, tid (perf), arch, number, return
// value, errno and every argument that the source can know (audit: a0..a3,
// later ones null unless a record gave them), and which source reported
// it. It returns how many calls it matched per source.
func matchTruth(t *testing.T, truth []workload.Call, got []outEvent, keep func(workload.Call) bool, sourceOf func(workload.Call) string) map[string]int {
	t.Helper()
	used := make([]bool, len(got))
	matched := map[string]int{}
	missing := 0
	for _, c := range truth {
		if !keep(c) {
			continue
		}
		w := wantEvent(t, c)
		src := sourceOf(c)
		idx := -1
		for i, g := range got {
			if used[i] || g.PID != c.PID || g.Arch != c.Arch || g.ID != w.ID || g.Source != src ||
				!reflect.DeepEqual(g.Ret, w.Ret) || g.Errno != w.Errno || len(g.Args) != len(w.Args) {
				continue
			}
			if src == event.SourcePerf && (g.TID == nil || *g.TID != c.TID) {
				continue
			}
			ok := true
			for j, a := range w.Args {
				gv := g.Args[j].Value
				if src == event.SourceAudit && j >= 4 && gv == nil {
					continue // audit records a0..a3 only
				}
				if !reflect.DeepEqual(gv, a.Value) || g.Args[j].Name != a.Name || g.Args[j].Decoded != a.Decoded {
					ok = false
					break
				}
			}
			if ok {
				idx = i
				break
			}
		}
		if idx < 0 {
			missing++
			if missing <= 10 {
				t.Errorf("%s %s %s (source %s) not reported exactly: truth %+v", c.Label, c.Arch, c.Name, src, c)
			}
			continue
		}
		used[idx] = true
		matched[src]++
	}
	if missing > 0 {
		t.Errorf("%d truth calls not reported", missing)
	}
	t.Logf("matched per source: %v (of %d events)", matched, len(got))
	return matched
}

// auditState is what auditctl says of the audit settings auperf may
// change (enabled, pid, backlog_limit, backlog_wait_time, rate_limit) and
// the rule list.
func auditState(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("auditctl"); err != nil {
		ktest.Skip(t, "auditctl not installed (package auditd)")
	}
	s, err := exec.Command("auditctl", "-s").Output()
	if err != nil {
		t.Fatalf("auditctl -s: %v", err)
	}
	var fields []string
	for _, l := range strings.Split(string(s), "\n") {
		k, _, _ := strings.Cut(l, " ")
		switch k {
		case "enabled", "pid", "backlog_limit", "backlog_wait_time", "rate_limit":
			fields = append(fields, l)
		}
	}
	if len(fields) != 5 {
		t.Fatalf("auditctl -s: want 5 fields, got %q", s)
	}
	l, err := exec.Command("auditctl", "-l").Output()
	if err != nil {
		t.Fatalf("auditctl -l: %v", err)
	}
	return strings.Join(fields, "\n") + "\n" + string(l)
}

// guardAudit checks, when t ends, that the audit state is as it was.
func guardAudit(t *testing.T) {
	t.Helper()
	before := auditState(t)
	t.Cleanup(func() {
		if after := auditState(t); after != before {
			t.Errorf("audit state changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// runAuperf runs the built auperf and returns its exit status and stderr.
func runAuperf(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stdout = os.Stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("auperf %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

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

// TestIntegrationRunAutoBothSources: the default `auperf run` (auto) picks
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
	st, stderr := runAuperf(t, bin, "run", "--output", "json:"+out, "--", wl, "-int80", "-threads", "2", "-out", truthPath)
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
	st, stderr := runAuperf(t, bin, append([]string{"run", "--source-events", "perf=msync", "--source-events", "audit=mprotect",
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

func (*failingSource) Name() string                             { return event.SourcePerf }
func (*failingSource) Run(context.Context, event.Handler) error { return errors.New("not attached") }
func (*failingSource) Stats() []event.Counter                   { return nil }
func (*failingSource) Warnings() []string                       { return nil }
func (*failingSource) Attach() error                            { return errors.New("simulated attach failure") }
func (f *failingSource) Close() error                           { f.closed = true; return nil }

// TestIntegrationRunPerfAttachFails: when perf fails to start although the
// probes said it works, auto moves its events to audit (and still reports
// the command's calls); forced perf exits 2.
func TestIntegrationRunPerfAttachFails(t *testing.T) {
	ktest.Require(t)
	guardAudit(t)
	fs := &failingSource{}
	saved := traceEnv
	traceEnv = func() trace.Env {
		env := saved()
		env.NewPerf = func(perfsrc.Config) (source.Source, error) { return fs, nil }
		return env
	}
	t.Cleanup(func() { traceEnv = saved })
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

// startCmd starts cmd with its stderr kept, kills it when the test ends if
// it still runs, and returns what its Wait returns and its stderr.
func startCmd(t *testing.T, cmd *exec.Cmd) (<-chan error, *strings.Builder) {
	t.Helper()
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return exited, stderr
}
