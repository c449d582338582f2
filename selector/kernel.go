// What only the kernel can answer (uname, perf_event_open, AUDIT_GET),
// asked through the sources' own code paths.

package selector

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/perfsrc"
)

// KernelCalls is what the selector must ask the kernel itself, because no
// file tells it. Every call is read-only: nothing here changes audit state
// or leaves a perf event open. Fixtures answer with FixtureKernel.
type KernelCalls interface {
	// Machine is uname's machine field ("x86_64"), for kernels without
	// /proc/sys/kernel/arch.
	Machine() (string, error)
	// PerfOpenTracepoint opens a tracepoint perf event with raw samples on
	// CPU 0 for all processes (pid -1), as the perf source will, and closes
	// it. The error keeps the errno (errors.Is(err, unix.EACCES)).
	PerfOpenTracepoint(id uint64) error
	// AuditStatus asks the audit subsystem for its status (AUDIT_GET). The
	// error keeps the errno of the socket or of the kernel's answer.
	AuditStatus() (auditsrc.Status, error)
}

// HostKernel answers KernelCalls from the running kernel.
type HostKernel struct{}

func (HostKernel) Machine() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return runtime.GOARCH, fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Machine[:]), nil
}

// PerfOpenTracepoint is the perf source's own open path.
func (HostKernel) PerfOpenTracepoint(id uint64) error { return perfsrc.OpenTracepoint(id) }

// AuditStatus is the audit source's own status read.
func (HostKernel) AuditStatus() (auditsrc.Status, error) { return auditsrc.ReadStatus() }

// errnoOf returns the errno inside err, or 0.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
