// Kernel versions: parsing a release, and the version that added a syscall.

package selector

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a kernel version as its release string starts
// ("3.10.0-1160.el7.x86_64" -> 3.10.0).
type Version struct{ Major, Minor, Patch int }

// ParseRelease reads the leading version of a kernel release string.
func ParseRelease(release string) (Version, error) {
	var v Version
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return v, fmt.Errorf("parse kernel release %q: no major.minor", release)
	}
	nums := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		end := 0
		for end < len(p) && p[end] >= '0' && p[end] <= '9' {
			end++
		}
		if end == 0 {
			if i < 2 {
				return v, fmt.Errorf("parse kernel release %q: no number in %q", release, p)
			}
			break
		}
		*nums[i], _ = strconv.Atoi(p[:end])
		if end < len(p) { // "18-rc1", "0-1160": the rest is not a version
			break
		}
	}
	return v, nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Short is "major.minor", as people name kernels ("3.10").
func (v Version) Short() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than major.minor.
func (v Version) Less(major, minor int) bool {
	return v.Major < major || (v.Major == major && v.Minor < minor)
}

// IsZero reports an unknown version.
func (v Version) IsZero() bool { return v == Version{} }

// syscallSince is the mainline version that added a syscall to x86_64.
// Only syscalls added after 3.0 are listed: older ones are everywhere
// auperf runs. Sources: each syscall's manual page (VERSIONS) and the
// kernel's syscall_64.tbl history. A distribution kernel may have
// backported one; the tracepoint (or its absence) then decides.
var syscallSince = map[string][2]int{
	"process_vm_readv": {3, 2}, "process_vm_writev": {3, 2},
	"kcmp": {3, 5}, "finit_module": {3, 8},
	"sched_setattr": {3, 14}, "sched_getattr": {3, 14},
	"renameat2": {3, 15},
	"seccomp":   {3, 17}, "getrandom": {3, 17}, "memfd_create": {3, 17},
	"bpf": {3, 18}, "execveat": {3, 19},
	"userfaultfd": {4, 3}, "membarrier": {4, 3},
	"mlock2":          {4, 4},
	"copy_file_range": {4, 5},
	"preadv2":         {4, 6}, "pwritev2": {4, 6},
	"pkey_mprotect": {4, 9}, "pkey_alloc": {4, 9}, "pkey_free": {4, 9},
	"statx": {4, 11},
	"rseq":  {4, 18}, "io_pgetevents": {4, 18},
	"pidfd_send_signal": {5, 1}, "io_uring_setup": {5, 1}, "io_uring_enter": {5, 1}, "io_uring_register": {5, 1},
	"open_tree": {5, 2}, "move_mount": {5, 2}, "fsopen": {5, 2}, "fsconfig": {5, 2}, "fsmount": {5, 2}, "fspick": {5, 2},
	"pidfd_open": {5, 3}, "clone3": {5, 3},
	"openat2": {5, 6}, "pidfd_getfd": {5, 6},
	"faccessat2":              {5, 8},
	"close_range":             {5, 9},
	"process_madvise":         {5, 10},
	"epoll_pwait2":            {5, 11},
	"mount_setattr":           {5, 12},
	"landlock_create_ruleset": {5, 13}, "landlock_add_rule": {5, 13}, "landlock_restrict_self": {5, 13},
	"memfd_secret": {5, 14}, "quotactl_fd": {5, 14},
	"process_mrelease":        {5, 15},
	"futex_waitv":             {5, 16},
	"set_mempolicy_home_node": {5, 17},
	"cachestat":               {6, 5},
	"map_shadow_stack":        {6, 6},
	"mseal":                   {6, 10},
}

// missingSyscall returns a NotSupportedError when kernel v predates the
// syscall name, else nil.
func missingSyscall(v Version, name string) *NotSupportedError {
	since, ok := syscallSince[name]
	if !ok || v.IsZero() || !v.Less(since[0], since[1]) {
		return nil
	}
	min := fmt.Sprintf("%d.%d", since[0], since[1])
	return &NotSupportedError{
		Feature:   "syscall " + name,
		Reason:    fmt.Sprintf("kernel %s has no %s (added in %s)", v.Short(), name, min),
		MinKernel: min,
	}
}
