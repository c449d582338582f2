// The test binary as a helper process that runs a source until a signal,
// so that tests can kill it like a real run.

package auditsrc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
)

// The test binary doubles as a helper process that runs a source until
// SIGINT/SIGTERM, like `auperf run --source audit` does, so that tests can
// kill a source the way a user or systemd would.
const (
	helperEnv      = "AUPERF_AUDITSRC_HELPER" // state dir
	helperFieldEnv = "AUPERF_AUDITSRC_HELPER_FIELD"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperMain(dir))
	}
	os.Exit(m.Run())
}

func helperMain(stateDir string) int {
	cfg := Config{Key: testKey, StateDir: stateDir}
	if f := os.Getenv(helperFieldEnv); f != "" {
		cfg.RuleFields = []string{f}
	}
	src, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := src.Attach(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Println("ready")
	var n atomic.Uint64
	err = src.Run(ctx, func(ev *event.Event) {
		if ev.EventName != event.NameLost {
			n.Add(1)
		}
	})
	fmt.Printf("events %d\n", n.Load())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// helper is a running helper process.
type helper struct {
	cmd *exec.Cmd
	out *bufio.Scanner
}

func startHelper(t *testing.T, stateDir, field string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+stateDir, helperFieldEnv+"="+field)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, out: bufio.NewScanner(stdout)}
	ready := make(chan bool, 1)
	go func() { ready <- h.out.Scan() && h.out.Text() == "ready" }()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("helper did not get ready")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper not ready after 30s")
	}
	return h
}

// wait waits for the helper to exit and returns its event count line.
func (h *helper) wait(t *testing.T) (string, error) {
	t.Helper()
	var lines []string
	for h.out.Scan() {
		lines = append(lines, h.out.Text())
	}
	err := h.cmd.Wait()
	return strings.Join(lines, "; "), err
}
