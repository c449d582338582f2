// Tests of the state file's lock on kernels without flock (a lock file
// made with O_EXCL), which needs no root.

package auditsrc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLockByFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit-k.json")
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	sf, err := lockByFile(open(), path, "k", false)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".lock"); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", b)
	}
	sf.unlock()
	if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock file left after unlock: %v", err)
	}

	// A live process holds it (pid 1 lives): refused, the lock kept.
	os.WriteFile(path+".lock", []byte("1\n"), 0o600)
	if _, err := lockByFile(open(), path, "k", false); err == nil || !strings.Contains(err.Error(), "pid 1") {
		t.Errorf("lock held by a live pid: %v", err)
	}
	// A killed run's lock (its pid is gone) is taken over.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+".lock", []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600)
	sf, err = lockByFile(open(), path, "k", false)
	if err != nil {
		t.Fatalf("stale lock of pid %d: %v", cmd.Process.Pid, err)
	}
	sf.unlock()
}
