package workload

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// bystander is the -bystander mode: getppid(2) as fast as one thread can
// for cfg.Bystander, then a summary. It is the process nobody asked to
// trace: its rate under a tracer, against the rate without, is what the
// tracer costs the rest of the host (syscall tracepoints and audit switch
// every task onto the slow syscall path, not only the traced ones). The
// calls are raw (no Go scheduler hooks), so the rate is the kernel's.
func bystander(cfg Config, usr1 chan os.Signal) error {
	if err := writeReady(cfg.Ready); err != nil {
		return err
	}
	if err := waitStart(cfg, usr1); err != nil {
		return err
	}
	start := time.Now()
	end := start.Add(cfg.Bystander)
	var n uint64
	for {
		for range 4096 {
			unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		}
		n += 4096
		if time.Now().After(end) {
			break
		}
	}
	el := time.Since(start)
	s := &Summary{Mode: "bystander", PID: os.Getpid(), Threads: 1, Calls: map[string]uint64{"getppid": n}, Total: n,
		StartNs: start.UnixNano(), EndNs: start.Add(el).UnixNano(), ElapsedNs: el.Nanoseconds(),
		CallsPerSec: float64(n) / el.Seconds()}
	return writeSummary(cfg.Summary, cfg.Stdout, s)
}
