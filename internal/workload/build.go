package workload

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// BinEnv names the directory of prebuilt binaries (auperf,
// auperf-workload) that tests take instead of building them.
const BinEnv = "AUPERF_BIN"

var built struct {
	once sync.Once
	path string
	err  error
}

// Build builds cmd/auperf-workload (static, CGO_ENABLED=0) once per test
// process and returns the binary's path. The binary lives in a per-user
// directory under the temp dir that later runs reuse (replaced atomically,
// so parallel test processes do not disturb each other); nothing is left
// behind per run.
//
// With AUPERF_BIN set (a directory of prebuilt static binaries, as in a
// vmtest guest that has no Go toolchain), it returns
// $AUPERF_BIN/auperf-workload instead of building.
func Build(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(BinEnv); dir != "" {
		return filepath.Join(dir, "auperf-workload")
	}
	built.once.Do(func() { built.path, built.err = build() })
	if built.err != nil {
		t.Fatalf("build auperf-workload: %v", built.err)
	}
	return built.path
}

func build() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the workload's source")
	}
	src := filepath.Join(filepath.Dir(file), "..", "..", "cmd", "auperf-workload")
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("auperf-workload-%d", os.Geteuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || !ownedByMe(fi) {
		// Someone else's directory: do not run what they could replace.
		if dir, err = os.MkdirTemp("", "auperf-workload-"); err != nil {
			return "", err
		}
	}
	tmp, err := os.CreateTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	tmp.Close()
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp.Name(), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	dst := filepath.Join(dir, "auperf-workload")
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return dst, nil
}

// CopyAs copies the built workload to dir/name, for tests that need a
// process with a given comm and executable path.
func CopyAs(t testing.TB, dir, name string) string {
	t.Helper()
	dst := filepath.Join(dir, name)
	if err := CopyFile(Build(t), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}
