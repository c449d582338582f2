// Every way auperf ends, but SIGKILL, restores the kernel state before the
// process exits: signals, a stdout whose reader went away, a panic in each
// goroutine of the run path, the traced command failing to start. Each
// case compares the audit status fields, the rules and the tracefs mounts
// right after the exit with those before the start (no cleanup between).

package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

func TestIntegrationWaysOut(t *testing.T) {
	type way struct {
		name   string
		args   []string // after run --config ''
		panic  string   // AUPERF_INJECT_PANIC
		pipe   bool     // stdout to a pipe the test closes
		do     func(t *testing.T, cmd *exec.Cmd, wl string)
		exit   int
		stderr string
	}
	signal := func(s syscall.Signal) func(*testing.T, *exec.Cmd, string) {
		return func(t *testing.T, cmd *exec.Cmd, _ string) { cmd.Process.Signal(s) }
	}
	calls := func(t *testing.T, _ *exec.Cmd, wl string) {
		// Calls of every kind, 64- and 32-bit, for the sources to see.
		args := []string{"-threads", "1", "-out", "/dev/null"}
		if haveIA32() {
			args = append(args, "-int80")
		}
		exec.Command(wl, args...).Run()
	}
	for _, w := range []way{
		{name: "SIGINT", do: signal(syscall.SIGINT)},
		{name: "SIGTERM", do: signal(syscall.SIGTERM)},
		{name: "SIGQUIT", do: signal(syscall.SIGQUIT)},
		{name: "stdout-reader-gone", pipe: true, do: calls, exit: 1, stderr: "stopped: stdout: its reader went away (broken pipe) (kernel state restored)"},
		{name: "panic-pipeline", panic: "pipeline", do: calls, exit: 70, stderr: "auperf: kernel state restored after the panic"},
		{name: "panic-sink", panic: "sink", do: calls, exit: 70, stderr: "auperf: kernel state restored after the panic"},
		{name: "panic-perf", panic: "perf", do: calls, exit: 70, stderr: "auperf: kernel state restored after the panic"},
		{name: "panic-audit", args: []string{"--source", "audit"}, panic: "audit", do: calls, exit: 70, stderr: "auperf: kernel state restored after the panic"},
		{name: "command-cannot-start", args: []string{"--", "/nonexistent/command"}, exit: 127, stderr: "auperf: start /nonexistent/command"},
	} {
		t.Run(w.name, func(t *testing.T) {
			ktest.Require(t)
			dir := t.TempDir()
			bin := buildAuperf(t, dir)
			wl := workload.CopyAs(t, dir, "wl-out")
			beforeAudit, beforeMounts := auditState(t), mountState(t)
			n := listenNotify(t, dir)
			cmd := serviceCmd(bin, n, 0, append([]string{"--config", "", "--b32", "on", "--stats-interval", "0", "--output", "json"}, w.args...)...)
			if w.panic != "" {
				cmd.Env = append(cmd.Env, "AUPERF_INJECT_PANIC="+w.panic)
			}
			var pr *os.File
			if w.pipe {
				var pw *os.File
				var err error
				if pr, pw, err = os.Pipe(); err != nil {
					t.Fatal(err)
				}
				cmd.Stdout = pw
				defer pw.Close()
			} else {
				cmd.Stdout = nil // /dev/null
			}
			exited, stderr := startCmd(t, cmd)
			if cmd.Stdout != nil {
				cmd.Stdout.(*os.File).Close() // ours: only auperf holds the write end now
			}
			if w.do != nil {
				n.wait(t, "READY=1", 60*time.Second, exited, stderr)
				if mountState(t) == beforeMounts && auditState(t) == beforeAudit {
					t.Fatal("nothing changed by the start: the test proves nothing")
				}
				if pr != nil {
					pr.Close()
				}
				w.do(t, cmd, wl)
			}
			var err error
			select {
			case err = <-exited:
			case <-time.After(60 * time.Second):
				t.Fatalf("no exit within 60s\n%s", stderr.String())
			}
			// Right after the exit: no cleanup has run.
			if a := auditState(t); a != beforeAudit {
				t.Errorf("audit after the exit:\n%s\nbefore:\n%s", a, beforeAudit)
			}
			if m := mountState(t); m != beforeMounts {
				t.Errorf("mounts after the exit:\n%s\nbefore:\n%s", m, beforeMounts)
			}
			st := cmd.ProcessState
			if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Fatalf("died by signal %v, want a clean exit %d\n%s", ws.Signal(), w.exit, stderr.String())
			}
			if st.ExitCode() != w.exit {
				t.Errorf("exit %d (%v), want %d\n%s", st.ExitCode(), err, w.exit, stderr.String())
			}
			if w.stderr != "" && !strings.Contains(stderr.String(), w.stderr) {
				t.Errorf("stderr lacks %q:\n%s", w.stderr, stderr.String())
			}
			if w.panic != "" && !strings.Contains(stderr.String(), "injected panic (AUPERF_INJECT_PANIC="+w.panic+")") {
				t.Errorf("the panic is not printed:\n%s", stderr.String())
			}
			if _, err := os.Stat("/run/auperf"); err == nil {
				entries, _ := os.ReadDir("/run/auperf")
				if len(entries) > 0 {
					t.Errorf("/run/auperf not empty after the exit: %v", entries)
				}
			}
		})
	}
}
