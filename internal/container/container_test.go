package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/host"
)

const id = "3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"

func TestFromCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, cgroup, id, runtime string
	}{
		{"docker v2 (systemd driver)", "0::/system.slice/docker-" + id + ".scope\n", id, "docker"},
		{"docker v1 (cgroupfs driver)", "12:pids:/docker/" + id + "\n11:memory:/docker/" + id + "\n0::/\n", id, "docker"},
		{"containerd (kubernetes, systemd driver)", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" + id + ".scope\n", id, "containerd"},
		{"cri-o", "0::/kubepods.slice/kubepods-pod5.slice/crio-" + id + ".scope\n", id, "cri-o"},
		{"kubernetes (cgroupfs driver)", "4:memory:/kubepods/burstable/pod8a7b/" + id + "\n", id, "kubernetes"},
		{"podman (rootless)", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope/container\n", id, "podman"},
		{"podman (cgroupfs)", "0::/machine.slice/libpod-" + id + "\n", id, "podman"},
		{"systemd-nspawn", `0::/machine.slice/machine-web\x2d01.scope/payload` + "\n", "web-01", "systemd-nspawn"},
		{"lxc", "0::/lxc.payload.db1/init.scope\n", "db1", "lxc"},
		{"lxc v1", "5:pids:/lxc/db2\n", "db2", "lxc"},
		{"host v1", "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/3d72b52cc3aacd39a6afb3db9ee2dc11\n0::/\n", "", ""},
		{"host v2 service", "0::/system.slice/ssh.service\n", "", ""},
		{"host, a user's scope", "0::/user.slice/user-0.slice/session-3.scope\n", "", ""},
		{"not hex", "0::/system.slice/docker-" + strings.Repeat("z", 64) + ".scope\n", "", ""},
		{"short id", "0::/docker/3f4e1c2b\n", "", ""},
		{"garbage", "no colons here\n::\n", "", ""},
	} {
		c := FromCgroup(strings.NewReader(tc.cgroup))
		switch {
		case tc.id == "" && c != nil:
			t.Errorf("%s: container %+v, want a host process", tc.name, *c)
		case tc.id != "" && (c == nil || c.ID != tc.id || c.Runtime != tc.runtime):
			t.Errorf("%s: %+v, want %s %s", tc.name, c, tc.runtime, tc.id)
		}
	}
}

// TestCache: one /proc read per pid per TTL, namespaces filled, a gone
// process is a host one, and the cache starts over when full.
func TestCache(t *testing.T) {
	root := t.TempDir()
	mk := func(pid, cgroup string) {
		d := filepath.Join(root, "proc", pid)
		os.MkdirAll(filepath.Join(d, "ns"), 0o755)
		os.WriteFile(filepath.Join(d, "cgroup"), []byte(cgroup), 0o644)
		os.Symlink("pid:[4026532201]", filepath.Join(d, "ns", "pid"))
		os.Symlink("mnt:[4026532199]", filepath.Join(d, "ns", "mnt"))
	}
	mk("10", "0::/system.slice/docker-"+id+".scope\n")
	mk("11", "0::/system.slice/ssh.service\n")
	c := &Cache{Paths: host.Paths{ProcFS: filepath.Join(root, "proc")}, TTL: time.Second, Max: 3}
	t0 := time.Unix(1000, 0)
	got := c.Of(10, 0, t0)
	if got == nil || got.ID != id || got.PidNS != 4026532201 || got.MntNS != 4026532199 {
		t.Fatalf("pid 10: %+v", got)
	}
	if c.Of(11, 0, t0) != nil || c.Of(12, 0, t0) != nil || c.Of(0, 0, t0) != nil {
		t.Error("a host process, a gone one or pid 0 has a container")
	}
	c.Of(10, 0, t0.Add(500*time.Millisecond))
	if c.Lookups != 3 {
		t.Errorf("%d lookups, want 3 (10, 11, 12)", c.Lookups)
	}
	c.Of(10, 0, t0.Add(2*time.Second)) // expired: read again; the cache is full: starts over
	if c.Lookups != 4 || c.Resets != 1 {
		t.Errorf("lookups %d resets %d, want 4 and 1", c.Lookups, c.Resets)
	}
	// A process gone: its parent's container; a host parent: none.
	if got := c.Of(13, 10, t0.Add(2*time.Second)); got == nil || got.ID != id {
		t.Errorf("pid 13 (gone) of parent 10: %+v", got)
	}
	if c.Of(14, 11, t0.Add(2*time.Second)) != nil {
		t.Error("pid 14 (gone) of a host parent has a container")
	}
	// A zombie shows no cgroup any more: its parent's container.
	mk("15", "")
	os.WriteFile(filepath.Join(root, "proc", "15", "stat"), []byte("15 (a) b) Z 10 15 15 0"), 0o644)
	mk("16", "0::/\n")
	os.WriteFile(filepath.Join(root, "proc", "16", "stat"), []byte("16 (w) S 1 16 16 0"), 0o644)
	if got := c.Of(15, 10, t0.Add(2*time.Second)); got == nil || got.ID != id {
		t.Errorf("pid 15 (a zombie) of parent 10: %+v", got)
	}
	if c.Of(16, 10, t0.Add(2*time.Second)) != nil {
		t.Error("pid 16 (alive, a host process) took its parent's container")
	}
}
