// Helpers of the kernel tests: the audit state guarded around each test, a
// running source, the workload and its truth checked against events.

package auditsrc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/workload"
)

// testKey tags the rules tests add; tests never touch DefaultKey rules.
const testKey = "auperf-test"

// guardState records the whole audit state and checks, when t ends, that
// it is the same; if not it fails and puts back the status fields and
// deletes rules carrying testKey.
func guardState(t *testing.T) State {
	t.Helper()
	before, err := ReadState()
	if err != nil {
		t.Fatalf("read audit state: %v", err)
	}
	t.Logf("audit state before:\n%s", before)
	t.Cleanup(func() {
		after, err := ReadState()
		if err != nil {
			t.Errorf("read audit state after: %v", err)
			return
		}
		if after.Equal(before) {
			t.Logf("audit state after (equal):\n%s", after)
			return
		}
		t.Errorf("audit state changed:\nbefore:\n%s\nafter:\n%s", before, after)
		repair(t, before)
	})
	return before
}

// repair puts the status fields back and removes test rules.
func repair(t *testing.T, st State) {
	c, err := openConn(0)
	if err != nil {
		t.Errorf("repair: %v", err)
		return
	}
	defer c.Close()
	deleteKeyed(c, testKey)
	deleteKeyed(c, testKey+"-auditd")
	restoreStatus(c, st, nil)
}

// collector keeps copies of the events a source delivers.
type collector struct {
	mu     sync.Mutex
	events []event.Event
	lost   map[string]uint64
	n      int // events delivered
	// countOnly: keep no events, count the workload loop's calls in
	// loop instead. Copying 200,000 events made the handler (and so the
	// reader) stall for long enough, in GC assists and slice growth, for
	// the kernel to give up on the socket (ENOBUFS) on a busy machine.
	countOnly bool
	loop      map[string]uint64
}

func (c *collector) handle(ev *event.Event) {
	if ev.EventName == event.NameLost {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.lost == nil {
			c.lost = map[string]uint64{}
		}
		c.lost[ev.Args[3].Str] += ev.Args[2].Value
		return
	}
	if c.countOnly {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n++
		if name, ok := loopCall(ev); ok {
			c.loop[name]++
		}
		return
	}
	cp := *ev
	cp.Args = slices.Clone(ev.Args)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.events = append(c.events, cp)
}

func (c *collector) snapshot() []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// running is a source started by startSource.
type running struct {
	src    *Source
	col    *collector
	cancel context.CancelFunc
	done   chan error
}

// startSource starts a source and waits until its rules are in.
func startSource(t *testing.T, cfg Config) *running {
	t.Helper()
	return startSourceCol(t, cfg, &collector{})
}

// startSourceCol is startSource delivering to col.
func startSourceCol(t *testing.T, cfg Config, col *collector) *running {
	t.Helper()
	if cfg.Key == "" {
		cfg.Key = testKey
	}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, col: col, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, r.col.handle) }()
	select {
	case <-src.Ready():
	case err := <-r.done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("source not ready after 20s")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run did not return 30s after cancel")
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// workloadCopy copies the workload to a fresh dir so that "-F exe=" rules
// match it and nothing else.
func workloadCopy(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return workload.CopyAs(t, dir, name)
}

// runWorkload runs the workload with args and returns its truth.
func runWorkload(t *testing.T, bin string, args ...string) []workload.Call {
	t.Helper()
	out := filepath.Join(t.TempDir(), "truth.json")
	cmd := exec.Command(bin, append([]string{"-out", out}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("workload %v: %v", args, err)
	}
	calls, err := workload.ReadTruth(out)
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

// callKey identifies a syscall by what audit can report of it.
type callKey struct {
	pid  int32
	arch string
	nr   int32
	args [4]uint64
	ret  int64
}

// expected decodes a truth call as audit knows it: a0..a3, and mmap's fd.
func expected(c workload.Call, fd bool) (event.Event, callKey) {
	a := decode.ArchX86_64
	if c.Arch == "i386" {
		a = decode.ArchI386
	}
	raw := decode.Raw{Arch: a, Nr: int32(c.Nr), Known: 0x0f, Ret: c.Ret, HasRet: true}
	copy(raw.Args[:4], c.Args[:4])
	if fd {
		raw.Args[4] = c.Args[4]
		raw.Known |= 1 << 4
	}
	var ev event.Event
	decode.Decode(&ev, &raw, nil)
	ev.Args = slices.Clone(ev.Args)
	return ev, keyOf(&ev, int32(c.PID))
}

func keyOf(ev *event.Event, pid int32) callKey {
	k := callKey{pid: pid, arch: ev.Arch, nr: ev.EventID, ret: ev.ReturnValue}
	for i := 0; i < 4 && i < len(ev.Args); i++ {
		k.args[i] = ev.Args[i].Value
	}
	return k
}

func describe(ev *event.Event) string {
	return fmt.Sprintf("%s pid=%d ppid=%d %s/%s(%d) ret=%d", ev.ProcessName, ev.ProcessID, ev.ParentProcessID, ev.Arch, ev.EventName, ev.EventID, ev.ReturnValue)
}
