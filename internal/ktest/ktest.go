// Package ktest gates tests that need the real kernel (perf_event_open,
// audit netlink, mounts). Such tests are named TestIntegration*.
//
// Require skips with a reason when the process is not root, and fails
// instead when AUPERF_REQUIRE_KERNEL=1 (CI sets it), so that a CI machine
// that silently lost its privileges cannot pass by skipping.
//
// Lock serialises kernel tests across packages: `go test ./...` runs
// packages in parallel, but audit state is global to the machine and two
// tests changing it at once would each see the other's rules.
package ktest

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Required reports whether AUPERF_REQUIRE_KERNEL=1 is set.
func Required() bool { return os.Getenv("AUPERF_REQUIRE_KERNEL") == "1" }

// Require skips (or, when kernel tests are required, fails) t unless the
// test runs as root. It also takes the machine-wide kernel test lock for the
// rest of the test.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if Required() {
			t.Fatalf("kernel test needs root (AUPERF_REQUIRE_KERNEL=1 forbids skipping); euid=%d", os.Geteuid())
		}
		t.Skipf("kernel test needs root; euid=%d", os.Geteuid())
	}
	Lock(t)
}

// Skip skips t with reason, or fails it when kernel tests are required.
// Use it for a missing kernel feature that this machine is expected to have.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("kernel feature missing (AUPERF_REQUIRE_KERNEL=1 forbids skipping): %s", reason)
	}
	t.Skip(reason)
}

// LockPath is the file whose flock serialises kernel tests machine-wide.
const LockPath = "/tmp/auperf-kernel-test.lock"

// Lock takes the machine-wide kernel test lock until t ends.
func Lock(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(LockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("open kernel test lock: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("lock kernel tests: %v", err)
	}
	t.Cleanup(func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	})
}
