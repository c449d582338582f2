package perfsrc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths are the host paths the perf source reads. Tests and the selector
// point them at fixture roots; the zero value means the real host.
type Paths struct {
	Proc    string // procfs root, default "/proc"
	Sys     string // sysfs root, default "/sys"
	Tracefs string // tracefs mount; "" = find it (and mount it when allowed)
	// NoMount forbids mounting tracefs when it is not mounted.
	NoMount bool
}

func (p Paths) proc() string {
	if p.Proc == "" {
		return "/proc"
	}
	return p.Proc
}

func (p Paths) sys() string {
	if p.Sys == "" {
		return "/sys"
	}
	return p.Sys
}

// ErrNoTracefs is returned when no tracefs with syscall events is found
// (and none could be mounted).
var ErrNoTracefs = errors.New("tracefs not found")

// FindTracefs returns the directory holding tracefs's events/ directory:
// p.Tracefs if set, else /sys/kernel/tracing, /sys/kernel/debug/tracing, or
// any tracefs (or debugfs + /tracing) listed in /proc/mounts. When none is
// mounted and p.NoMount is false, it tries to mount tracefs on
// <sys>/kernel/tracing (as root on 4.1+ kernels) and reports mounted=true;
// the caller unmounts it when done (Unmount).
func FindTracefs(p Paths) (dir string, mounted bool, err error) {
	if p.Tracefs != "" {
		if isTracefs(p.Tracefs) {
			return p.Tracefs, false, nil
		}
		return "", false, fmt.Errorf("find tracefs: %s has no events directory: %w", p.Tracefs, ErrNoTracefs)
	}
	cands := []string{
		filepath.Join(p.sys(), "kernel/tracing"),
		filepath.Join(p.sys(), "kernel/debug/tracing"),
	}
	cands = append(cands, mountedTracefs(filepath.Join(p.proc(), "mounts"))...)
	for _, c := range cands {
		if isTracefs(c) {
			return c, false, nil
		}
	}
	if p.NoMount {
		return "", false, fmt.Errorf("find tracefs: not mounted: %w", ErrNoTracefs)
	}
	target := filepath.Join(p.sys(), "kernel/tracing")
	if err := unix.Mount("nodev", target, "tracefs", 0, ""); err != nil {
		return "", false, fmt.Errorf("find tracefs: not mounted, and mount tracefs on %s: %v: %w", target, err, ErrNoTracefs)
	}
	if !isTracefs(target) {
		unix.Unmount(target, 0)
		return "", false, fmt.Errorf("find tracefs: mounted on %s but it has no events: %w", target, ErrNoTracefs)
	}
	return target, true, nil
}

// Unmount undoes FindTracefs's mount (or run's debugfs mount on kernels
// before 4.1). A mount something still uses (a user reading a file in
// it) is detached: it leaves the tree now and goes when the last user
// lets go, rather than staying mounted.
func Unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	return err
}

func isTracefs(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "events"))
	return err == nil && st.IsDir()
}

// mountedTracefs lists tracefs mount points (and debugfs's tracing/) from a
// mounts file.
func mountedTracefs(mounts string) []string {
	f, err := os.Open(mounts)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue
		}
		mp := UnescapeMount(fs[1])
		switch fs[2] {
		case "tracefs":
			out = append(out, mp)
		case "debugfs":
			out = append(out, filepath.Join(mp, "tracing"))
		}
	}
	return out
}

// UnescapeMount undoes /proc/mounts' octal escapes (\040 for a space).
// The selector reads the same file.
func UnescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ReadFormat reads and parses events/<group>/<name>/format under tracefs dir.
func ReadFormat(dir, group, name string) (*Format, error) {
	data, err := os.ReadFile(filepath.Join(dir, "events", group, name, "format"))
	if err != nil {
		return nil, fmt.Errorf("read tracepoint %s:%s: %w", group, name, err)
	}
	f, err := ParseFormat(data)
	if err != nil {
		return nil, fmt.Errorf("tracepoint %s:%s: %w", group, name, err)
	}
	return f, nil
}

// Syscall is the pair of tracepoints of one syscall.
type Syscall struct {
	Name        string
	Enter, Exit *Format
}

// ErrNoTracepoint is returned (wrapped) when a syscall has no sys_enter_/
// sys_exit_ tracepoints on this kernel (not in its table, or a kernel
// without CONFIG_FTRACE_SYSCALLS).
var ErrNoTracepoint = errors.New("no syscall tracepoint")

// ReadSyscall reads the enter and exit formats of one syscall.
func ReadSyscall(dir, name string) (*Syscall, error) {
	s := &Syscall{Name: name}
	var err error
	if s.Enter, err = ReadFormat(dir, "syscalls", "sys_enter_"+name); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("syscall %s: %w", name, ErrNoTracepoint)
		}
		return nil, err
	}
	if s.Exit, err = ReadFormat(dir, "syscalls", "sys_exit_"+name); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("syscall %s: %w", name, ErrNoTracepoint)
		}
		return nil, err
	}
	if s.Enter.SyscallNr() == nil || s.Exit.SyscallNr() == nil || s.Exit.Field("ret") == nil {
		return nil, fmt.Errorf("syscall %s: format has no syscall number or ret field", name)
	}
	return s, nil
}
