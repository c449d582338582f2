// Fault tests with the built binary and a workload: thousands of short
// processes, tracefs unmounted under a running perf source, the output
// directory removed under load.

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// TestIntegrationManyShortProcesses: 2000 processes, one after the other,
// each making one msync: every one is reported once, with its own pid, the
// name it ran under and its executable, by each source.
func TestIntegrationManyShortProcesses(t *testing.T) {
	eachSource(t, func(t *testing.T, src, dir, bin string) {
		const n = 2000
		wl := workload.CopyAs(t, dir, "wl-forker")
		out, truthPath := filepath.Join(dir, "e.json"), filepath.Join(dir, "truth.json")
		st, stderr := runAuperf(t, bin, "run", "--config", "", "--source", src, "--events", "msync", "--stats-interval", "0",
			"--output", "json:"+out, "--", wl, "-exec-short", "wl-short", "-rounds", "2000", "-dir", dir, "-out", truthPath)
		if st != 0 {
			t.Fatalf("exit %d\n%s", st, stderr)
		}
		truth, err := workload.ReadTruth(truthPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(truth) != n {
			t.Fatalf("the workload made %d calls, want %d", len(truth), n)
		}
		pids := map[int]bool{}
		for _, c := range truth {
			pids[c.PID] = true
		}
		seen := map[int]int{}
		for _, e := range readEvents(t, out) {
			if e.Name != "msync" || !pids[e.PID] {
				continue
			}
			seen[e.PID]++
			if e.Comm != "wl-short" {
				t.Fatalf("pid %d reported as %q, want wl-short", e.PID, e.Comm)
			}
		}
		for pid := range pids {
			if seen[pid] != 1 {
				t.Fatalf("pid %d's msync reported %d times, want 1 (%d of %d processes seen)", pid, seen[pid], len(seen), n)
			}
		}
		matchTruth(t, truth, readEvents(t, out), memoryCall, func(workload.Call) string { return src })
	})
}

// TestIntegrationTracefsUnmountedWhileRunning: the tracefs a perf run
// mounted is unmounted under it (umount -l): the run goes on tracing (its
// events are open already), stops cleanly on SIGTERM, and leaves the
// mounts as they were.
func TestIntegrationTracefsUnmountedWhileRunning(t *testing.T) {
	ktest.Require(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	if mountState(t) != "" {
		ktest.Skip(t, "tracefs is mounted already: the test needs auperf to mount it")
	}
	guardMounts(t)
	wl := workload.CopyAs(t, dir, "wl-after-umount")
	out := filepath.Join(dir, "e.json")
	n := listenNotify(t, dir)
	cmd := serviceCmd(bin, n, 0, "--config", "", "--source", "perf", "--events", "msync", "--output", "json:"+out+"?flush=10ms")
	exited, stderr := startCmd(t, cmd)
	n.wait(t, "READY=1", 60*time.Second, exited, stderr)
	if err := syscall.Unmount("/sys/kernel/tracing", syscall.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(wl, "-once", "-out", "/dev/null").CombinedOutput(); err != nil {
		t.Fatalf("workload: %v %s", err, b)
	}
	waitFor(t, "the msync made after the unmount", 10*time.Second, func() bool {
		return strings.Contains(readFile(out), `"processName":"wl-after-umoun`)
	})
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30s after SIGTERM\n%s", stderr.String())
	}
	if _, err := os.Stat("/run/auperf"); err == nil {
		if ents, _ := os.ReadDir("/run/auperf"); len(ents) > 0 {
			t.Errorf("/run/auperf keeps %v", ents)
		}
	}
}

// loadedRun is a perf run writing the msyncs of a workload loop (named
// name) to logs/e.json under a temporary directory, ready and under load.
type loadedRun struct {
	logs, out string
	cmd       *exec.Cmd
	exited    <-chan error
	stderr    *strings.Builder
	loop      *exec.Cmd
}

// startLoadedRun starts auperf as a service would, then the workload loop
// with loopArgs, and waits for events in the file; the loop is killed when
// the test ends.
func startLoadedRun(t *testing.T, name string, loopArgs ...string) *loadedRun {
	t.Helper()
	ktest.Require(t)
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	wl := workload.CopyAs(t, dir, name)
	r := &loadedRun{logs: filepath.Join(dir, "logs")}
	r.out = filepath.Join(r.logs, "e.json")
	n := listenNotify(t, dir)
	r.cmd = serviceCmd(bin, n, 0, "--config", "", "--source", "perf", "--events", "msync", "--comm", name,
		"--output", "json:"+r.out+"?flush=10ms")
	r.exited, r.stderr = startCmd(t, r.cmd)
	n.wait(t, "READY=1", 60*time.Second, r.exited, r.stderr)
	r.loop = exec.Command(wl, append(loopArgs, "-threads", "1", "-dir", dir, "-summary", filepath.Join(dir, "sum.json"))...)
	if err := r.loop.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.loop.Process.Kill(); r.loop.Wait() })
	waitFor(t, "events in the file", 30*time.Second, func() bool { return strings.Count(readFile(r.out), "\n") > 100 })
	return r
}

// TestIntegrationOutputDirRemoved: the output file's directory is removed
// under load: auperf notices (the file lost its name), makes the directory
// and the file again and goes on writing there; nothing is written into
// the removed file after that, and the run stops cleanly.
func TestIntegrationOutputDirRemoved(t *testing.T) {
	r := startLoadedRun(t, "wl-rmdir", "-loop", "200000")
	logs, out, cmd, exited, stderr, loop := r.logs, r.out, r.cmd, r.exited, r.stderr, r.loop
	if err := os.RemoveAll(logs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the file made again", 10*time.Second, func() bool { return strings.Count(readFile(out), "\n") > 100 })
	loop.Process.Kill()
	loop.Wait()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	last := lastStats(t, out)
	if last["output:json:"+out+".errors"] != 0 {
		t.Logf("write errors counted while the directory was gone: %d", last["output:json:"+out+".errors"])
	}
}

// TestIntegrationOutputDirReadOnly: the output file is deleted under load
// and its directory cannot be written (immutable, which binds root too):
// auperf says once that the output fails and that it retries, keeps
// running, and when the directory is writable again makes the file, says
// so, and goes on writing there.
func TestIntegrationOutputDirReadOnly(t *testing.T) {
	if _, err := exec.LookPath("chattr"); err != nil {
		ktest.Skip(t, "chattr not installed (e2fsprogs)")
	}
	r := startLoadedRun(t, "wl-rodir", "-loop", "400000", "-rate", "20000")
	logs, out, cmd, exited, stderr, loop := r.logs, r.out, r.cmd, r.exited, r.stderr, r.loop

	// The directory the path names is now an empty immutable one, and
	// the open file has no name left: auperf must open the path again.
	if err := os.Rename(logs, logs+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(logs, 0o750); err != nil {
		t.Fatal(err)
	}
	chattr := func(flag string) {
		if b, err := exec.Command("chattr", flag, logs).CombinedOutput(); err != nil {
			ktest.Skip(t, fmt.Sprintf("chattr %s: %v: %s", flag, err, b))
		}
	}
	chattr("+i")
	t.Cleanup(func() { exec.Command("chattr", "-i", logs).Run() })
	if err := os.Remove(filepath.Join(logs+".old", "e.json")); err != nil {
		t.Fatal(err)
	}
	failing := "output json:" + out + ": "
	waitFor(t, "a line that the output fails", 10*time.Second, func() bool {
		return strings.Contains(stderr.String(), failing) && strings.Contains(stderr.String(), "retrying")
	})
	time.Sleep(500 * time.Millisecond) // still failing: no line per error
	if c := strings.Count(stderr.String(), failing); c != 1 {
		t.Errorf("%d lines about the failing output, want 1:\n%s", c, stderr.String())
	}
	if !strings.Contains(stderr.String(), "operation not permitted") {
		t.Errorf("the line does not say why:\n%s", stderr.String())
	}
	chattr("-i")
	waitFor(t, "the file made again", 10*time.Second, func() bool { return strings.Count(readFile(out), "\n") > 100 })
	waitFor(t, "a line that it writes again", 10*time.Second, func() bool {
		return strings.Contains(stderr.String(), "output json:"+out+": writing again")
	})
	loop.Process.Kill()
	loop.Wait()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil && !strings.Contains(stderr.String(), "dropped") {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if last := lastStats(t, out); last["output:json:"+out+".errors"] == 0 {
		t.Errorf("no write error counted: %v", last)
	}
	t.Logf("stderr:\n%s", stderr.String())
}

// TestIntegrationPerfLossBounds: a perf ring far too small for the load
// overflows on purpose. The kernel counts lost ring records, an enter or
// an exit each; an event with one of its records lost is still reported
// (as a half: no return value, or no arguments), one with both lost is
// not. So the events lost lie between 0 and lost/2, and for the
// workload's calls (generated) and events (captured):
//
//	captured <= generated <= captured + lost_records/2
//
// (the ring is every process's: records of others lost count too, so the
// upper bound is loose, never wrong). Counted on msync, which only the
// loop calls; a run the ring keeps up with must capture every one.
func TestIntegrationPerfLossBounds(t *testing.T) {
	ktest.Require(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	wl := workload.CopyAs(t, dir, "wl-overflow")
	out, summary := filepath.Join(dir, "e.json"), filepath.Join(dir, "sum.json")
	st, stderr := runAuperf(t, bin, "run", "--config", "", "--source", "perf", "--ring-pages", "16", "--stats-interval", "0",
		"--output", "json:"+out, "--", wl, "-loop", "100000", "-threads", "2", "-dir", dir, "-summary", summary)
	if st != 0 {
		t.Fatalf("exit %d\n%s", st, stderr)
	}
	sum, err := workload.ReadSummary(summary)
	if err != nil {
		t.Fatal(err)
	}
	// The loop's msyncs: the Go runtime of the workload maps and
	// advises memory too, but never calls msync.
	generated := sum.Calls["msync"]
	var captured, lostRecords uint64
	evs, own := readOwn(t, out)
	for _, e := range evs {
		if e.PID == sum.PID && e.Name == "msync" {
			captured++
		}
	}
	for _, e := range own {
		if e.Name == "auperf_lost" {
			for _, a := range e.Args {
				if a.Name == "lost" {
					if v, ok := a.Value.(float64); ok {
						lostRecords += uint64(v)
					}
				}
			}
		}
	}
	// Without loss the bounds meet: every msync captured, exactly.
	t.Logf("msyncs generated %d, captured %d; ring records lost %d (of %d calls at %.0f/s)",
		generated, captured, lostRecords, sum.Total, sum.CallsPerSec)
	if generated == 0 || captured > generated || generated > captured+lostRecords/2 {
		t.Errorf("want captured %d <= generated %d <= captured + lost/2 = %d", captured, generated, captured+lostRecords/2)
	}
}

// TestIntegrationFilesNotWorldReadable: what a run creates (the output
// file and its new directory, /run/auperf, the audit state file, the mount
// record) is readable by no other user.
func TestIntegrationFilesNotWorldReadable(t *testing.T) {
	ktest.Require(t)
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	if mountState(t) != "" {
		ktest.Skip(t, "tracefs is mounted already: no mount record to look at")
	}
	guardMounts(t)
	out := filepath.Join(dir, "new", "e.json")
	n := listenNotify(t, dir)
	cmd := serviceCmd(bin, n, 0, "--config", "", "--b32", "on", "--output", "json:"+out)
	exited, stderr := startCmd(t, cmd)
	n.wait(t, "READY=1", 60*time.Second, exited, stderr)
	paths := []string{out, filepath.Dir(out), "/run/auperf", "/run/auperf/audit-auperf.json",
		"/run/auperf/mount-" + strconv.Itoa(cmd.Process.Pid) + ".json"}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s: mode %04o, others may use it", p, fi.Mode().Perm())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
}

// TestIntegrationDefaultRunLeavesAuditOff: on a host with audit off, a
// default run (auto, --b32 auto) never turns audit on: its enabled flag
// and rules stay as they were during the run and after it, and the run
// says what that leaves unseen.
func TestIntegrationDefaultRunLeavesAuditOff(t *testing.T) {
	ktest.Require(t)
	before := auditState(t)
	if !strings.Contains(before, "enabled 0") {
		ktest.Skip(t, "audit is on here: the default run would add b32 rules next to it")
	}
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	n := listenNotify(t, dir)
	cmd := serviceCmd(bin, n, 0, "--config", "", "--output", "json:"+filepath.Join(dir, "e.json"))
	exited, stderr := startCmd(t, cmd)
	n.wait(t, "READY=1", 60*time.Second, exited, stderr)
	if during := auditState(t); during != before {
		t.Errorf("audit during the default run:\n%s\nbefore:\n%s", during, before)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if after := auditState(t); after != before {
		t.Errorf("audit after the default run:\n%s\nbefore:\n%s", after, before)
	}
	if haveIA32() && !strings.Contains(stderr.String(), "--b32 on sees them") {
		t.Errorf("the run does not say that 32-bit calls are unseen and how to see them:\n%s", stderr.String())
	}
}
