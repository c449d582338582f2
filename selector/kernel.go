package selector

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
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
	AuditStatus() (AuditStatus, error)
}

// AuditStatus is the kernel's audit_status (the fields the selector uses).
type AuditStatus struct {
	Enabled      uint32 `yaml:"enabled" json:"enabled"` // 0 off, 1 on, 2 locked
	Failure      uint32 `yaml:"failure" json:"failure"`
	PID          uint32 `yaml:"pid" json:"pid"` // the audit daemon's pid, 0 = none
	RateLimit    uint32 `yaml:"rate_limit" json:"rateLimit"`
	BacklogLimit uint32 `yaml:"backlog_limit" json:"backlogLimit"`
	Lost         uint32 `yaml:"lost" json:"lost"`
	Backlog      uint32 `yaml:"backlog" json:"backlog"`
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

func (HostKernel) PerfOpenTracepoint(id uint64) error {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_TRACEPOINT,
		Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Config:      id,
		Sample:      1,
		Sample_type: unix.PERF_SAMPLE_RAW | unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_CPU,
		Bits:        unix.PerfBitDisabled,
	}
	fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("perf_event_open tracepoint %d: %w", id, err)
	}
	return unix.Close(fd)
}

func (HostKernel) AuditStatus() (AuditStatus, error) {
	// A unicast client that never calls SetPID: Close only closes the socket.
	c, err := libaudit.NewAuditClient(nil)
	if err != nil {
		return AuditStatus{}, fmt.Errorf("open audit netlink socket: %w", err)
	}
	defer c.Close()
	st, err := c.GetStatus()
	if err != nil {
		return AuditStatus{}, fmt.Errorf("get audit status: %w", err)
	}
	return AuditStatus{
		Enabled: st.Enabled, Failure: st.Failure, PID: st.PID, RateLimit: st.RateLimit,
		BacklogLimit: st.BacklogLimit, Lost: st.Lost, Backlog: st.Backlog,
	}, nil
}

// errnoOf returns the errno inside err, or 0.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
