// Tracepoint formats on tracefs: finding tracefs (through host's locator,
// mounting it when allowed) and reading one syscall's enter/exit formats.

package perfsrc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/auperf/auperf/internal/host"
)

// ErrNoTracefs is returned when no tracefs with syscall events is found
// (and none could be mounted).
var ErrNoTracefs = errors.New("tracefs not found")

// FindTracefs returns the directory holding tracefs's events/ directory,
// as host.LocateTraceFS finds it (p.TraceFS if set). When none is mounted
// and mayMount is set, it mounts what the locator says is mountable and
// reports mounted=true; the caller unmounts it when done (Unmount).
func FindTracefs(p host.Paths, mayMount bool) (dir string, mounted bool, err error) {
	ms, _ := host.ReadMounts(p)
	tf, why := host.LocateTraceFS(p, ms)
	switch {
	case tf.State == host.TraceFSMounted:
		return tf.Dir, false, nil
	case tf.State == host.TraceFSMountable && mayMount:
		dir, err := host.MountTraceFS(tf)
		if err != nil {
			return "", false, fmt.Errorf("find tracefs: not mounted, and %v: %w", err, ErrNoTracefs)
		}
		return dir, true, nil
	case tf.State == host.TraceFSMountable:
		return "", false, fmt.Errorf("find tracefs: not mounted: %w", ErrNoTracefs)
	}
	return "", false, fmt.Errorf("find tracefs: %s: %w", why, ErrNoTracefs)
}

// Unmount undoes FindTracefs's mount: for a debugfs mount, dir is its
// tracing/ directory and debugfs itself is unmounted.
func Unmount(dir string) error {
	if filepath.Base(dir) == "tracing" && filepath.Base(filepath.Dir(dir)) == "debug" {
		return host.Unmount(filepath.Dir(dir))
	}
	return host.Unmount(dir)
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
