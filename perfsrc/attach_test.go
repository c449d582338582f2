// Kernel tests of attaching and releasing: the self filter in the kernel,
// every perf fd and mapping released on a failed attach, a cancelled run
// and Close, a busy tracefs unmounted, a CPU brought online, the contract.

package perfsrc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/host"
	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/source"
)

// TestIntegrationSelfFilter: our threads known at attach are excluded in
// the kernel, not only dropped in user space.
func TestIntegrationSelfFilter(t *testing.T) {
	ktest.Require(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, err := New(Config{Events: []string{"msync"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(); err != nil {
		t.Fatal(err)
	}
	tid := int32(unix.Gettid())
	if !slices.Contains(s.k.self.tids, tid) {
		s.detach()
		t.Skipf("test thread %d started after attach", tid)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(*event.Event) {}) }()
	for i := 0; i < 100; i++ {
		unix.Syscall(unix.SYS_MSYNC, 0x7000, 0x1000, 4)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("100 msync calls of our own thread %d; %d own records reached user space", tid, s.run.nSelf.Load())
	if n := s.run.nSelf.Load(); n >= 200 {
		t.Errorf("%d own records reached user space: the kernel filter did not apply", n)
	}
}

// perfFds counts our open perf event fds and perf ring mappings.
func perfFds(t *testing.T) (fds, maps int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.Contains(l, "perf_event") {
			fds++
		}
	}
	m, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return fds, strings.Count(string(m), "perf_event")
}

// TestIntegrationAttachFailureReleases: an attach that fails half-way
// through the CPUs (here: a CPU listed online that does not exist, after
// the real ones are open and mapped) closes and unmaps everything it
// opened, and a later Close or Run does no harm.
func TestIntegrationAttachFailureReleases(t *testing.T) {
	ktest.Require(t)
	dir := testTracefs(t)
	sys := t.TempDir()
	cpuDir := filepath.Join(sys, "devices/system/cpu")
	if err := os.MkdirAll(cpuDir, 0o755); err != nil {
		t.Fatal(err)
	}
	online, err := onlineCPUs("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	list := fmt.Sprintf("0-%d,4095", online[len(online)-1])
	if err := os.WriteFile(filepath.Join(cpuDir, "online"), []byte(list+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fds0, maps0 := perfFds(t)
	s, err := New(Config{Events: []string{"msync", "mmap"}, Paths: host.Paths{SysFS: sys, TraceFS: dir}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(); err == nil {
		s.Close()
		t.Fatalf("attach on cpus %s succeeded", list)
	} else {
		t.Logf("attach on cpus %s: %v", list, err)
	}
	if fds, maps := perfFds(t); fds != fds0 || maps != maps0 {
		t.Errorf("after a failed attach: %d perf fds and %d perf mappings, want %d and %d", fds, maps, fds0, maps0)
	}
	if err := s.Run(context.Background(), func(*event.Event) {}); err == nil {
		t.Error("Run after a failed attach succeeded")
	}
	s.Close()
	if fds, maps := perfFds(t); fds != fds0 || maps != maps0 {
		t.Errorf("after Run and Close: %d perf fds and %d perf mappings, want %d and %d", fds, maps, fds0, maps0)
	}
}

// TestIntegrationRunCancelledReleases: Run with a context already done
// attaches, drains, and releases every perf fd and mapping.
func TestIntegrationRunCancelledReleases(t *testing.T) {
	ktest.Require(t)
	fds0, maps0 := perfFds(t)
	s, err := New(Config{Events: []string{"msync"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx, func(*event.Event) {}); err != nil {
		t.Fatal(err)
	}
	if fds, maps := perfFds(t); fds != fds0 || maps != maps0 {
		t.Errorf("after Run: %d perf fds and %d perf mappings, want %d and %d", fds, maps, fds0, maps0)
	}
}

// TestIntegrationUnmountBusy: a tracefs we mounted is unmounted even when
// something still holds a file in it (a user reading it, say): it is
// detached, not left mounted.
func TestIntegrationUnmountBusy(t *testing.T) {
	ktest.Require(t)
	dir := t.TempDir()
	if err := unix.Mount("nodev", dir, "tracefs", 0, ""); err != nil {
		ktest.Skip(t, "mount tracefs: "+err.Error())
	}
	f, err := os.Open(filepath.Join(dir, "events"))
	if err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		t.Fatal(err)
	}
	defer f.Close()
	err = Unmount(dir)
	if isTracefs(dir) {
		unix.Unmount(dir, unix.MNT_DETACH)
		t.Fatalf("still mounted after Unmount (%v)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationCPUOnlineLater: a CPU that was offline at attach (here:
// an online list that names only CPU 0, then all of them) is traced once
// it comes online, not silently missed.
func TestIntegrationCPUOnlineLater(t *testing.T) {
	ktest.Require(t)
	online, err := onlineCPUs("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	if len(online) < 2 {
		ktest.Skip(t, "one cpu online: no CPU to bring online later")
	}
	last := online[len(online)-1]
	dir := testTracefs(t)
	sys := t.TempDir()
	list := filepath.Join(sys, "devices/system/cpu/online")
	if err := os.MkdirAll(filepath.Dir(list), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(list, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Self 1: our own calls are the workload here.
	s, err := New(Config{Events: []string{"msync"}, Self: 1, Paths: host.Paths{SysFS: sys, TraceFS: dir}})
	if err != nil {
		t.Fatal(err)
	}
	const marker = 0x7a000
	var mu sync.Mutex
	var onLast, all int
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ev *event.Event) {
			if ev.Syscall == "msync" && len(ev.Args) > 0 && ev.Args[0].Value == marker && ev.ProcessID == int32(os.Getpid()) {
				mu.Lock()
				all++
				if ev.ProcessorID == int32(last) {
					onLast++
				}
				mu.Unlock()
			}
		})
	}()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if err := os.WriteFile(list, []byte(fmt.Sprintf("0-%d\n", last)), 0o644); err != nil {
		stop()
		t.Fatal(err)
	}
	name := fmt.Sprintf("lost_ring_cpu%d", last)
	traced := func() bool {
		for _, c := range s.Stats() {
			if c.Name == name {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(5 * time.Second); !traced() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !traced() {
		stop()
		t.Fatalf("cpu %d not attached after it came online", last)
	}
	pinned := make(chan struct{})
	go func() {
		// The thread stays locked: it ends with the goroutine rather
		// than going back to the runtime pinned to one cpu.
		defer close(pinned)
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(last)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			t.Error(err)
			return
		}
		for i := 0; i < 10; i++ {
			unix.Syscall(unix.SYS_MSYNC, marker, 0x1000, 4)
		}
	}()
	<-pinned
	time.Sleep(300 * time.Millisecond)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if onLast != 10 {
		t.Errorf("%d of 10 msync calls on cpu %d reported (%d on any cpu)", onLast, last, all)
	}
}

// testTracefs finds tracefs as Source does, mounting it for the test if
// it is not mounted (as on a fresh machine), and unmounting it after.
func testTracefs(t *testing.T) string {
	t.Helper()
	dir, mounted, err := FindTracefs(host.Paths{}, true)
	if err != nil {
		ktest.Skip(t, "no tracefs: "+err.Error())
	}
	if mounted {
		t.Cleanup(func() {
			if err := Unmount(dir); err != nil {
				t.Errorf("unmount tracefs: %v", err)
			}
		})
	}
	return dir
}

// isTracefs reports whether dir holds tracefs's events directory.
func isTracefs(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "events"))
	return err == nil && st.IsDir()
}

// TestIntegrationContract: the source contract on the real kernel: a
// second Attach returns the first's result without opening more; Close is
// idempotent and releases everything; Attach and Run after Close are
// source.ErrClosed and trace nothing.
func TestIntegrationContract(t *testing.T) {
	ktest.Require(t)
	dir := testTracefs(t)
	fds0, maps0 := perfFds(t)
	s, err := New(Config{Events: []string{"msync"}, Paths: host.Paths{TraceFS: dir}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(); err != nil {
		t.Fatal(err)
	}
	fds1, maps1 := perfFds(t)
	if err := s.Attach(); err != nil {
		t.Fatalf("second Attach: %v", err)
	}
	if fds, maps := perfFds(t); fds != fds1 || maps != maps1 {
		t.Errorf("second Attach opened more: %d fds, %d maps; want %d, %d", fds, maps, fds1, maps1)
	}
	s.Close()
	s.Close()
	if fds, maps := perfFds(t); fds != fds0 || maps != maps0 {
		t.Errorf("after Close: %d perf fds and %d mappings, want %d and %d", fds, maps, fds0, maps0)
	}
	if err := s.Attach(); !errors.Is(err, source.ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
	called := false
	if err := s.Run(context.Background(), func(*event.Event) { called = true }); !errors.Is(err, source.ErrClosed) || called {
		t.Errorf("Run after Close: %v (events %v), want ErrClosed and none", err, called)
	}
}
