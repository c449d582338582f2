// Tests of `auperf probe`: golden outputs on every fixture root, exit
// statuses, and (kernel) a masked tracefs.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auperf/auperf/internal/ktest"
)

var update = flag.Bool("update", false, "rewrite testdata/roots/*/probe.{txt,json}")

const rootsDir = "../../testdata/roots"

func runProbe(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	app.ErrWriter = &out
	err := app.Run(append([]string{"auperf", "probe"}, args...))
	return out.String(), err
}

// TestProbeGolden runs `auperf probe` (text and --json) on every fixture
// root and compares with the golden outputs next to it.
func TestProbeGolden(t *testing.T) {
	roots, err := os.ReadDir(rootsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roots {
		if !r.IsDir() {
			continue
		}
		dir := filepath.Join(rootsDir, r.Name())
		for _, form := range []struct{ file, flag string }{{"probe.txt", ""}, {"probe.json", "--json"}} {
			t.Run(r.Name()+"/"+form.file, func(t *testing.T) {
				args := []string{"--fixture", dir}
				if form.flag != "" {
					args = append(args, form.flag)
				}
				got, err := runProbe(t, args...)
				var st exitStatus
				switch {
				case r.Name() == "container-paranoid3":
					// Nothing can be traced there: exit 2, and the
					// JSON says why as the table does.
					if !asExit(err, &st) || st != 2 {
						t.Fatalf("probe where nothing can be traced: %v, want exit status 2", err)
					}
					if !strings.Contains(got, "no event can be traced here") && !strings.Contains(got, "nothing can be traced here") {
						t.Errorf("no reason given:\n%s", got)
					}
				case err != nil:
					t.Fatalf("probe: %v\n%s", err, got)
				}
				if !checkGolden(t, filepath.Join(dir, form.file), got) {
					return
				}
				if form.flag == "--json" && !json.Valid([]byte(got)) {
					t.Errorf("not JSON:\n%s", got)
				}
			})
		}
	}
}

// TestProbeForcedSourceExit2: a forced source that cannot work exits 2,
// and says why on one line.
func TestProbeForcedSourceExit2(t *testing.T) {
	for _, tt := range []struct{ root, source, why string }{
		{"tracefs-masked", "perf", "--source perf cannot work here: tracefs is not mounted and cannot be: /sys/kernel/tracing is covered by a tmpfs mount"},
		{"audit-locked", "audit", "--source audit cannot work here: audit is locked (enabled=2)"},
		{"container-paranoid3", "perf", "perf_event_paranoid=3 and no CAP_PERFMON or CAP_SYS_ADMIN"},
	} {
		t.Run(tt.root+"/"+tt.source, func(t *testing.T) {
			out, err := runProbe(t, "--fixture", filepath.Join(rootsDir, tt.root), "--source", tt.source)
			var st exitStatus
			if !errors.As(err, &st) || st != 2 {
				t.Fatalf("err = %v, want exit status 2", err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "PLAN: ") || !strings.Contains(last, tt.why) {
				t.Errorf("last line %q, want PLAN: ...%q", last, tt.why)
			}
		})
	}
}

func TestProbeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--events", "msync,nosuchcall"},
		{"--source", "bpf"},
		{"extra-arg"},
		{"--procfs", "/tmp"},
	} {
		_, err := runProbe(t, args...)
		if err == nil {
			t.Errorf("probe %v succeeded", args)
			continue
		}
		if !isUsage(err) {
			t.Errorf("probe %v: %v is not a usage error (exit 2)", args, err)
		}
	}
}

// TestIntegrationProbeMaskedTracefs runs the built binary in a private
// mount namespace where tmpfs covers /sys/kernel/tracing and
// /sys/kernel/debug: --source perf exits 2 saying why, and auto plans every
// event to audit. The host's mounts are untouched (the namespace dies with
// the shell).
func TestIntegrationProbeMaskedTracefs(t *testing.T) {
	ktest.Require(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		ktest.Skip(t, "no unshare(1)")
	}
	bin := buildAuperf(t, t.TempDir())
	masked := func(args string) (string, int) {
		script := "mount -t tmpfs -o ro,size=0 tmpfs /sys/kernel/tracing && " +
			"mount -t tmpfs -o ro,size=0 tmpfs /sys/kernel/debug && exec " + bin + " probe " + args
		cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("run: %v", err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}

	out, code := masked("--source perf")
	if code != 2 || !strings.Contains(out, "PLAN: --source perf cannot work here: tracefs is not mounted and cannot be: /sys/kernel/tracing is covered by a tmpfs mount") {
		t.Errorf("--source perf: exit %d, want 2 with the reason:\n%s", code, out)
	}

	out, code = masked("--json")
	if code != 0 {
		t.Fatalf("auto: exit %d\n%s", code, out)
	}
	var rep struct {
		Plan struct {
			Events []struct{ Name, Source, Reason string }
			Perf   *struct{}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Plan.Perf != nil || len(rep.Plan.Events) != 12 {
		t.Fatalf("plan %+v, want 12 events and no perf", rep.Plan)
	}
	for _, e := range rep.Plan.Events {
		if e.Source != "audit" || !strings.Contains(e.Reason, "covered by a tmpfs mount") {
			t.Errorf("%s: %s (%s), want audit because tracefs is masked", e.Name, e.Source, e.Reason)
		}
	}
}
