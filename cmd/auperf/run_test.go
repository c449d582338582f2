// Tests of `auperf run`: usage errors, the config file, a traced command
// and its exit status, signals, a tracefs mounted for the run.

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

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
