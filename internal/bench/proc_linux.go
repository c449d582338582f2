package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tracerProc is a started tracer whose cost is measured.
//
// CPU: the tracer's own user+sys seconds. wait4's rusage of a process also
// holds its reaped children, and auperf in `-- COMMAND` mode is the parent
// of the workload; so the harness first waits for the exit without reaping
// (waitid WNOWAIT), reads the zombie's /proc/PID/stat (its children's
// cutime+cstime), then reaps it and subtracts those from the rusage.
//
// Peak RSS: wait4's ru_maxrss is the largest of the process and its
// children, so for a tracer that is the workload's parent it is taken from
// VmHWM in /proc/PID/status, polled every 50ms while it runs (the last
// <50ms before exit are not seen); for other tracers ru_maxrss is exact.
type tracerProc struct {
	cmd      *exec.Cmd
	parent   bool // the tracer is the workload's parent
	stop     chan struct{}
	polled   chan uint64
	exited   chan struct{} // closed when the tracer is a zombie (not yet reaped)
	children ProcTimes
	zErr     error
}

func startTracer(cmd *exec.Cmd, parent bool) (*tracerProc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &tracerProc{cmd: cmd, parent: parent, stop: make(chan struct{}), polled: make(chan uint64, 1), exited: make(chan struct{})}
	pid := cmd.Process.Pid
	go func() {
		var peak uint64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
				if v, ok := ParseVmHWM(b); ok {
					peak = max(peak, v)
				}
			}
			select {
			case <-p.stop:
				p.polled <- peak
				return
			case <-tick.C:
			}
		}
	}()
	go func() {
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				p.zErr = fmt.Errorf("waitid: %w", err)
			} else if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err != nil {
				p.zErr = err
			} else {
				p.children, p.zErr = ParseProcStat(b)
			}
			close(p.exited)
			return
		}
	}()
	return p, nil
}

// signal sends sig to the tracer unless it has already exited.
func (p *tracerProc) signal(sig os.Signal) {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// wait waits up to timeout for the tracer to exit by itself; then, if
// stopSig is not nil, it is sent and the tracer gets grace to flush; then
// SIGKILL. It reaps the tracer and returns its cost; err describes an exit
// that was not clean (status, signal, kill).
func (p *tracerProc) wait(timeout time.Duration, stopSig os.Signal, grace time.Duration) (cpu float64, rss uint64, err error) {
	var why error
	select {
	case <-p.exited:
	case <-time.After(timeout):
		if stopSig != nil {
			p.signal(stopSig)
			select {
			case <-p.exited:
			case <-time.After(grace):
				why = fmt.Errorf("did not exit within %v of %v: killed", grace, stopSig)
				p.signal(syscall.SIGKILL)
				<-p.exited
			}
		} else {
			why = fmt.Errorf("did not exit within %v: killed", timeout)
			p.signal(syscall.SIGKILL)
			<-p.exited
		}
	}
	werr := p.cmd.Wait()
	close(p.stop)
	polled := <-p.polled
	st := p.cmd.ProcessState
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		cpu = tv(ru.Utime) + tv(ru.Stime)
		rss = uint64(ru.Maxrss) << 10
	}
	if p.zErr == nil {
		cpu -= p.children.ChildUser + p.children.ChildSys
		cpu = max(cpu, 0)
	} else if why == nil {
		why = fmt.Errorf("tracer CPU includes its children: %v", p.zErr)
	}
	if p.parent || rss == 0 {
		rss = polled
	}
	if why == nil && werr != nil {
		why = werr
	}
	return cpu, rss, why
}

// stopOnce returns the stop of a tracer that runs until told: the first
// call sends SIGTERM (SIGKILL after 30s), records the tracer's cost in run
// and returns what check makes of the exit; later calls return nil.
func (p *tracerProc) stopOnce(run *Run, check func(error) error) func() error {
	stopped := false
	return func() error {
		if stopped {
			return nil
		}
		stopped = true
		cpu, rss, err := p.wait(0, syscall.SIGTERM, 30*time.Second)
		run.TracerCPU, run.TracerRSS = cpu, rss
		return check(err)
	}
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
