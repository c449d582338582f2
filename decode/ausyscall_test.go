package decode

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestAusyscallAgrees cross-checks the memory family's numbers with the
// audit userspace's own tables (ausyscall, package auditd), when present.
// Only the memory family is compared: audit's tables name a few other
// syscalls differently (pread for pread64) and lag new kernels.
func TestAusyscallAgrees(t *testing.T) {
	if _, err := exec.LookPath("ausyscall"); err != nil {
		t.Skip("ausyscall not installed (package auditd)")
	}
	family := append(append([]string(nil), DefaultEvents...), "pkey_mprotect", "mincore", "mmap2")
	for _, a := range []Arch{ArchX86_64, ArchI386, ArchARM64} {
		out, err := exec.Command("ausyscall", a.String(), "--dump").Output()
		if err != nil {
			t.Errorf("ausyscall %s --dump: %v", a, err)
			continue
		}
		theirs := map[string]int{}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			if nr, err := strconv.Atoi(f[0]); err == nil {
				theirs[f[1]] = nr
			}
		}
		for _, name := range family {
			want, ok := theirs[name]
			got, ours := SyscallNumber(a, name)
			if ok != ours || got != want {
				t.Errorf("%s %s: ausyscall %d (%v), decode %d (%v)", a, name, want, ok, got, ours)
			}
		}
	}
}
