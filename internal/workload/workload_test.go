package workload

import (
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
)

// run runs the built workload with args and fails t unless it exits 0.
func run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(Build(t), args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSEGV && contains(args, "-int80") {
			// int $0x80 faults without IA32 emulation; this machine is expected to have it.
			ktest.Skip(t, "int $0x80 faulted: kernel without IA32 emulation")
		}
	}
	if err != nil {
		t.Fatalf("auperf-workload %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestAppendCallRoundTrip(t *testing.T) {
	c := Call{PID: 1, TID: 2, Comm: "x\n{\"eventName\":\"forged\"}\x00\xff", Exe: "/a b/\\c", Arch: "x86_64",
		Nr: 26, Name: "msync", Args: [6]uint64{1 << 63, 0x3000, 0xffffffff, 0, 0, ^uint64(0)}, NArgs: 3,
		Ret: -22, Errno: "EINVAL", TS: 1700000000123456789, CPU: -1, Thread: 3, Round: 7, Label: "l", Expect: "EINVAL"}
	b := appendCall(nil, &c)
	if strings.Count(string(b), "\n") != 1 || b[len(b)-1] != '\n' {
		t.Fatalf("not one line: %q", b)
	}
	var got Call
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	want := c
	want.Comm = "x\n{\"eventName\":\"forged\"}\x00\ufffd"
	if got != want {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { b = appendCall(b[:0], &c) }); n != 0 {
		t.Errorf("appendCall allocates %v times", n)
	}
}

// scriptLabels are the steps of one script round per thread, in order.
var scriptLabels = []string{
	"mmap_anon", "mmap_file_shared", "mmap_ebadf", "mmap_enomem",
	"msync_sync", "msync_async_invalidate", "msync_bad_flags", "msync_unaligned", "msync_unmapped",
	"mprotect_read", "mprotect_none", "mprotect_unknown_bits", "pkey_mprotect",
	"mlock", "munlock", "mlock2_onfault", "mlock2_bad_flags", "munlock_onfault",
	"mprotect_restore", "mmap_anon_remap", "mremap_maymove",
	"madvise_dontneed", "madvise_willneed", "madvise_sequential", "madvise_random", "madvise_normal", "madvise_free", "madvise_bad_advice",
	"mincore", "remap_file_pages", "munmap_file", "munmap_unaligned", "munmap_remapped", "munmap_anon",
}

var int80Labels = []string{
	"mmap_32bit", "i386_msync", "i386_msync_bad_flags", "i386_mprotect",
	"i386_mmap2_anon", "i386_mmap2_file", "i386_munmap_file", "i386_munmap_anon", "i386_munmap_32bit",
}

var processLabels = []string{"mlockall_future_onfault", "munlockall", "mlockall_bad_flags"}

func TestScriptTruth(t *testing.T) {
	dir := t.TempDir()
	truthPath, sumPath := filepath.Join(dir, "truth.json"), filepath.Join(dir, "summary.json")
	const threads, rounds = 4, 2
	run(t, "-threads", fmt.Sprint(threads), "-rounds", fmt.Sprint(rounds), "-int80", "-out", truthPath, "-summary", sumPath)
	calls, err := ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := ReadSummary(sumPath)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != uint64(len(calls)) || sum.Unexpected != 0 {
		t.Errorf("summary total %d unexpected %d, truth has %d calls", sum.Total, sum.Unexpected, len(calls))
	}

	tids := map[int]int{} // thread index -> tid
	seen := map[string]int{}
	i386Nr := map[string]int{"msync": 144, "mmap2": 192, "mprotect": 125, "munmap": 91}
	for _, c := range calls {
		if c.PID != sum.PID {
			t.Errorf("%s: pid %d, want %d", c.Label, c.PID, sum.PID)
		}
		if old, ok := tids[c.Thread]; ok && old != c.TID {
			t.Errorf("thread %d has tids %d and %d", c.Thread, old, c.TID)
		}
		tids[c.Thread] = c.TID
		seen[fmt.Sprintf("%d/%d/%s", c.Thread, c.Round, c.Label)]++
		if c.Errno != c.Expect {
			t.Errorf("%s (thread %d round %d): errno %q, want %q (ret %d)", c.Label, c.Thread, c.Round, c.Errno, c.Expect, c.Ret)
		}
		if c.Failed() != (c.Errno != "") {
			t.Errorf("%s: ret %d but errno %q", c.Label, c.Ret, c.Errno)
		}
		if c.CPU < 0 {
			t.Errorf("%s: not pinned (cpu %d)", c.Label, c.CPU)
		}
		if c.Comm != "auperf-workload" || filepath.Base(c.Exe) != "auperf-workload" {
			t.Errorf("%s: comm %q exe %q", c.Label, c.Comm, c.Exe)
		}
		if c.Arch == "i386" {
			if nr, ok := i386Nr[c.Name]; !ok || nr != c.Nr {
				t.Errorf("%s: i386 %s nr %d", c.Label, c.Name, c.Nr)
			}
			for _, a := range c.Args {
				if a > 0xffffffff {
					t.Errorf("%s: i386 arg %#x wider than 32 bits", c.Label, a)
				}
			}
			if c.Name == "mmap2" && (c.Ret <= 0 || c.Ret > 0xffffffff) {
				t.Errorf("%s: mmap2 returned %#x, want an address below 4 GiB", c.Label, c.Ret)
			}
		} else if c.Arch != "x86_64" {
			t.Errorf("%s: arch %q", c.Label, c.Arch)
		}
		switch c.Label {
		case "mmap_file_shared":
			if c.Args[1] != 0x3000 || c.Args[3] != 1 || c.Args[5] != 0x2000 || int(c.Args[4]) < 3 {
				t.Errorf("mmap_file_shared args %#x", c.Args)
			}
		case "msync_bad_flags":
			if c.Args[2] != 0xffffffff || c.Ret != -22 {
				t.Errorf("msync_bad_flags args %#x ret %d", c.Args, c.Ret)
			}
		case "mmap_32bit":
			if c.Ret <= 0 || c.Ret >= 1<<31 {
				t.Errorf("MAP_32BIT mapping at %#x", c.Ret)
			}
		case "i386_mmap2_file":
			if c.Args[5] != 2 || c.Args[3] != 1 {
				t.Errorf("i386_mmap2_file args %#x", c.Args)
			}
		case "pkey_mprotect":
			if c.Args[3] != ^uint64(0) {
				t.Errorf("pkey_mprotect pkey word %#x, want -1", c.Args[3])
			}
		}
	}
	distinct := map[int]bool{}
	for _, tid := range tids {
		distinct[tid] = true
	}
	if len(tids) != threads || len(distinct) != threads {
		t.Errorf("threads %v: want %d distinct tids", tids, threads)
	}
	for th := 0; th < threads; th++ {
		for r := 0; r < rounds; r++ {
			labels := append(append([]string{}, scriptLabels...), int80Labels...)
			if th == 0 {
				labels = append(labels, processLabels...)
			}
			for _, l := range labels {
				if n := seen[fmt.Sprintf("%d/%d/%s", th, r, l)]; n != 1 {
					t.Errorf("thread %d round %d: %s seen %d times", th, r, l, n)
				}
			}
		}
	}
	if want := threads*rounds*(len(scriptLabels)+len(int80Labels)) + rounds*len(processLabels); len(calls) != want {
		t.Errorf("%d calls, want %d", len(calls), want)
	}
}

func TestLoopSummary(t *testing.T) {
	dir := t.TempDir()
	sumPath, truthPath := filepath.Join(dir, "summary.json"), filepath.Join(dir, "truth.json")
	run(t, "-loop", "500", "-threads", "2", "-summary", sumPath, "-truth", "-out", truthPath, "-dir", dir)
	sum, err := ReadSummary(sumPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mmap", "mprotect", "msync", "mlock2", "munlock", "munmap"} {
		if sum.Calls[name] != 1000 {
			t.Errorf("%s: %d calls, want 1000", name, sum.Calls[name])
		}
	}
	if sum.Mode != "loop" || sum.Total != 6000 || sum.Failed != 0 || sum.Threads != 2 || sum.Iterations != 500 || sum.ElapsedNs <= 0 {
		t.Errorf("summary %+v", sum)
	}
	calls, err := ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 6000 {
		t.Errorf("truth has %d calls, want 6000", len(calls))
	}
	// Without -truth the loop writes only the summary (to stdout here).
	out, err := exec.Command(Build(t), "-loop", "10").Output()
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(out, &s); err != nil || s.Total != 60 {
		t.Errorf("stdout %q: %v, total %d", out, err, s.Total)
	}
}

func TestExecShort(t *testing.T) {
	dir := t.TempDir()
	truthPath := filepath.Join(dir, "truth.json")
	run(t, "-exec-short", "short-lived-name", "-rounds", "3", "-out", truthPath, "-dir", dir)
	calls, err := ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	pids := map[int]bool{}
	for _, c := range calls {
		pids[c.PID] = true
		// comm is the executable's base name, cut to 15 bytes (TASK_COMM_LEN).
		if c.Comm != "short-lived-nam" || c.Exe != filepath.Join(dir, "short-lived-name") {
			t.Errorf("comm %q exe %q", c.Comm, c.Exe)
		}
		if c.Name != "msync" || c.Ret != -12 || c.Args != [6]uint64{0x5000, 0x3000, 1} || c.TID != c.PID {
			t.Errorf("once call %+v", c)
		}
	}
	if len(pids) != 3 {
		t.Errorf("pids %v: want 3 processes", pids)
	}
}

func TestWaitStart(t *testing.T) {
	dir := t.TempDir()
	ready, startFile, truthPath := filepath.Join(dir, "ready"), filepath.Join(dir, "go"), filepath.Join(dir, "truth.json")
	cmd := exec.Command(Build(t), "-threads", "1", "-ready", ready, "-wait-start", startFile, "-wait-signal", "-out", truthPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for {
		if b, err := os.ReadFile(ready); err == nil && strings.TrimSpace(string(b)) == fmt.Sprint(cmd.Process.Pid) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b, _ := os.ReadFile(truthPath); len(b) != 0 {
		t.Fatalf("workload called before it was released: %s", b)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(startFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	calls, err := ReadTruth(truthPath)
	if err != nil || len(calls) != len(scriptLabels)+len(processLabels) {
		t.Fatalf("%d calls, err %v", len(calls), err)
	}
}
