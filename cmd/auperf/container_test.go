package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// containerCgroup makes a cgroup named as docker names a container's
// (v2: docker-ID.scope; v1, in the pids hierarchy: docker/ID) and returns
// its cgroup.procs; it is removed when the test ends.
func containerCgroup(t *testing.T, id string) string {
	t.Helper()
	var dirs []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dirs = []string{"/sys/fs/cgroup/docker-" + id + ".scope"}
	} else if _, err := os.Stat("/sys/fs/cgroup/pids/cgroup.procs"); err == nil {
		dirs = []string{"/sys/fs/cgroup/pids/docker", "/sys/fs/cgroup/pids/docker/" + id}
	} else {
		ktest.Skip(t, "no cgroup v2 and no v1 pids hierarchy at /sys/fs/cgroup")
	}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			ktest.Skip(t, "make a cgroup: "+err.Error())
		}
	}
	t.Cleanup(func() {
		for i := len(dirs) - 1; i >= 0; i-- {
			for range 50 { // its processes may take a moment to leave
				if err := os.Remove(dirs[i]); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return filepath.Join(dirs[len(dirs)-1], "cgroup.procs")
}

// TestIntegrationContainer: a process in a cgroup named like a docker
// container's, in pid and mount namespaces of its own (unshare), and a
// host process with the same name: the container's events carry the
// container block (id, runtime, its namespaces, not the host's), the
// host's none. Both sources.
func TestIntegrationContainer(t *testing.T) {
	const id = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	hostPidNS, _ := os.Readlink("/proc/self/ns/pid")
	// (eachSource takes the kernel-test lock for each source: nothing
	// kernel-side before it.)
	eachSource(t, func(t *testing.T, src, dir, bin string) {
		if _, err := exec.LookPath("unshare"); err != nil {
			ktest.Skip(t, "unshare not installed (util-linux)")
		}
		procs := containerCgroup(t, id)
		wl := workload.CopyAs(t, dir, "wl-ctr")
		out := filepath.Join(dir, "e.json")
		n := listenNotify(t, dir)
		cmd := serviceCmd(bin, n, 0, "--config", "", "--source", src, "--events", "msync", "--comm", "wl-ctr",
			"--stats-interval", "0", "--output", "json:"+out)
		exited, stderr := startCmd(t, cmd)
		n.wait(t, "READY=1", 60*time.Second, exited, stderr)
		inTruth, hostTruth := filepath.Join(dir, "in.json"), filepath.Join(dir, "host.json")
		// In the container, a shell runs the workload and stays a
		// moment: the workload's event is handled after it exited, and
		// then its parent's container is its own.
		in := exec.Command("sh", "-c", `echo $$ > "$0" && exec unshare --pid --mount --fork sh -c '"$0" -once -out "$1"; sleep 1' "$@"`, procs, wl, inTruth)
		if b, err := in.CombinedOutput(); err != nil {
			t.Fatalf("the container's process: %v: %s", err, b)
		}
		if b, err := exec.Command(wl, "-once", "-out", hostTruth).CombinedOutput(); err != nil {
			t.Fatalf("the host process: %v: %s", err, b)
		}
		time.Sleep(500 * time.Millisecond)
		cmd.Process.Signal(os.Interrupt)
		if err := <-exited; err != nil {
			t.Fatalf("auperf: %v\n%s", err, stderr.String())
		}
		pidOf := func(truth string) int {
			c, err := workload.ReadTruth(truth)
			if err != nil || len(c) == 0 {
				t.Fatalf("truth %s: %v", truth, err)
			}
			return c[0].PID
		}
		// The container's workload knows itself as pid 2 (its shell
		// is 1): the truth's pid is its namespace's; events carry the
		// host's.
		inPid, hostPid := pidOf(inTruth), pidOf(hostTruth)
		type ctr struct {
			ID      string `json:"id"`
			Runtime string `json:"runtime"`
			PidNS   uint64 `json:"pidNs"`
			MntNS   uint64 `json:"mntNs"`
		}
		var inEv, hostEv []*ctr
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var e struct {
				PID       int    `json:"processId"`
				Name      string `json:"eventName"`
				Container *ctr   `json:"container"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.Name != "msync" {
				continue
			}
			if e.PID == hostPid {
				hostEv = append(hostEv, e.Container)
			} else {
				inEv = append(inEv, e.Container)
			}
		}
		if inPid != 2 {
			t.Errorf("the container's workload is pid %d in its namespace, want 2", inPid)
		}
		if len(inEv) != 1 || len(hostEv) != 1 {
			t.Fatalf("%d msyncs of the container's process, %d of the host's, want 1 each", len(inEv), len(hostEv))
		}
		c := inEv[0]
		if c == nil {
			t.Fatalf("the container's msync has no container block")
		}
		if c.ID != id || c.Runtime != "docker" || c.PidNS == 0 || c.MntNS == 0 ||
			fmt.Sprintf("pid:[%d]", c.PidNS) == hostPidNS {
			t.Errorf("container block %+v, want docker %s in namespaces of its own (host pid ns %s)", c, id, hostPidNS)
		}
		if hostEv[0] != nil {
			t.Errorf("the host process has a container block: %+v", *hostEv[0])
		}
		t.Logf("%s: container %+v; host pid ns %s", src, *c, strings.TrimSpace(hostPidNS))
	})
}
