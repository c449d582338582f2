package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Config is the workload's command line (see cmd/auperf-workload).
type Config struct {
	Threads int
	Rounds  int // script rounds, or -exec-short children
	Loop    int // > 0: loop mode, iterations per thread
	// Rate paces loop mode: at most this many iterations per second per
	// thread (0: as fast as it can), for a steady load (make soak).
	Rate       int
	Int80      bool // script: also i386 syscalls through int $0x80
	Once       bool // one msync, then exit
	ExecShort  string
	Truth      bool // write per-call truth
	Migrate    bool // move threads between CPUs before every call
	Out        string
	Summary    string
	Dir        string
	WaitStart  string // block until this file exists
	WaitSignal bool   // block until SIGUSR1
	StartDelay time.Duration
	Bystander  time.Duration // > 0: bystander mode, getppid for this long
	Insight    string        // "bad" or "good": the insight scenarios (insight.go)
	Ready      string        // write the pid here once set up, before waiting
	Stdout     io.Writer
	Stderr     io.Writer
}

// ErrUnexpected is returned when a call's result differed from its step's
// expectation; the truth is complete all the same.
var ErrUnexpected = errors.New("unexpected syscall results")

// Run runs the workload as cfg says. Call it from main: it locks threads
// and turns the garbage collector off for the rest of the process.
func Run(cfg Config) error {
	// The GC would map and advise memory between our calls.
	debug.SetGCPercent(-1)
	var usr1 chan os.Signal
	if cfg.WaitSignal {
		usr1 = make(chan os.Signal, 1)
		signal.Notify(usr1, unix.SIGUSR1)
	}
	if cfg.Threads < 1 {
		cfg.Threads = 1
	}
	if cfg.Rounds < 1 {
		cfg.Rounds = 1
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "auperf-workload-")
		if err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
		defer os.RemoveAll(d)
		cfg.Dir = d
	}
	if cfg.Bystander > 0 {
		return bystander(cfg, usr1)
	}
	if cfg.Insight != "" {
		return insightRun(cfg)
	}
	if cfg.ExecShort != "" {
		return execShort(cfg)
	}

	out, closeOut, err := openOut(cfg.Out, cfg.Stdout, cfg.Once)
	if err != nil {
		return err
	}
	defer closeOut()
	snk := &sink{w: out}

	var fd int
	switch {
	case cfg.Once:
		cfg.Threads = 1
	case cfg.Loop > 0:
		// One page shared by every thread.
		fd, err = makeFile(filepath.Join(cfg.Dir, "loop.dat"), pageSize)
	default:
		fd, err = makeFile(filepath.Join(cfg.Dir, "script.dat"), fileSize)
	}
	if err != nil {
		return err
	}
	if fd > 0 {
		defer unix.Close(fd)
	}

	comm, _ := os.ReadFile("/proc/self/comm")
	exe, _ := os.Readlink("/proc/self/exe")
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("get affinity: %w", err)
	}
	var cpus []unix.CPUSet
	var cpuIDs []int
	for c := 0; c < len(allowed)*64; c++ {
		if allowed.IsSet(c) {
			var s unix.CPUSet
			s.Set(c)
			cpus = append(cpus, s)
			cpuIDs = append(cpuIDs, c)
		}
	}

	perRound := 64 // calls per script round and thread (43 with -int80), with room
	iters := cfg.Rounds
	if cfg.Loop > 0 {
		perRound, iters = 6, cfg.Loop
	}
	ths := make([]*thread, cfg.Threads)
	for i := range ths {
		th := &thread{
			idx: i, pid: os.Getpid(), comm: strings.TrimSuffix(string(comm), "\n"), exe: exe,
			cpus: cpus, cpuIDs: cpuIDs, migrate: cfg.Migrate, truth: cfg.Truth,
			out: snk, maxProb: 16,
		}
		th.problems = make([]string, 0, th.maxProb)
		// Script truth is kept whole until the end (no writes between
		// calls); loop truth is flushed in 1 MiB pieces.
		size := 1 << 20
		if cfg.Truth && cfg.Loop == 0 {
			size = perRound*iters*400 + 4096
		}
		if cfg.Truth {
			th.buf = make([]byte, 0, size+4096)
			th.flushAt = size
		}
		ths[i] = th
	}

	if cfg.Once {
		// A short-lived process of one thread: call from the caller's
		// goroutine, which main keeps on the main thread (tid == pid).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		th := ths[0]
		th.tid = unix.Gettid()
		if err := writeReady(cfg.Ready); err != nil {
			return err
		}
		if err := waitStart(cfg, usr1); err != nil {
			return err
		}
		th.onceCall()
		th.flush()
		if snk.err != nil {
			return fmt.Errorf("write truth: %w", snk.err)
		}
		if th.unexpect > 0 {
			return ErrUnexpected
		}
		return nil
	}

	// Threads lock themselves to OS threads and report their tid before
	// the start, so that the ready file means "all set".
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	var mainDone sync.WaitGroup // thread 0 waits for the others
	ready.Add(len(ths))
	done.Add(len(ths))
	mainDone.Add(len(ths) - 1)
	var startNs, endNs int64
	for _, th := range ths {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			defer done.Done()
			th.tid = unix.Gettid()
			ready.Done()
			<-start
			switch {
			case cfg.Loop > 0:
				began := time.Now()
				for r := 0; r < cfg.Loop; r++ {
					th.round = r
					th.loopIter(fd)
					if cfg.Rate > 0 && r%64 == 63 {
						// Ahead of the pace: wait for it.
						if ahead := time.Duration(r+1)*time.Second/time.Duration(cfg.Rate) - time.Since(began); ahead > 0 {
							time.Sleep(ahead)
						}
					}
				}
			default:
				for r := 0; r < cfg.Rounds; r++ {
					th.round = r
					th.scriptRound(fd)
					if cfg.Int80 {
						th.int80Round(fd)
					}
				}
				if th.idx != 0 {
					mainDone.Done()
					break
				}
				mainDone.Wait()
				for r := 0; r < cfg.Rounds; r++ {
					th.round = r
					th.processRound()
				}
			}
		}()
	}
	ready.Wait()

	if err := writeReady(cfg.Ready); err != nil {
		return err
	}
	if err := waitStart(cfg, usr1); err != nil {
		close(start)
		done.Wait()
		return err
	}
	startNs = time.Now().UnixNano()
	close(start)
	done.Wait()
	endNs = time.Now().UnixNano()

	sum := Summary{Mode: "script", PID: os.Getpid(), Threads: len(ths), Iterations: cfg.Rounds,
		Calls: map[string]uint64{}, StartNs: startNs, EndNs: endNs, ElapsedNs: endNs - startNs}
	if cfg.Loop > 0 {
		sum.Mode, sum.Iterations = "loop", cfg.Loop
	}
	var problems []string
	for _, th := range ths {
		th.flush()
		for id, n := range th.counts {
			if n > 0 {
				key := sysTable[id].name
				if sysTable[id].arch != native {
					key = sysTable[id].arch + ":" + key
				}
				sum.Calls[key] += n
				sum.Total += n
			}
		}
		sum.Failed += th.failed
		sum.Unexpected += th.unexpect
		for _, p := range th.problems {
			problems = append(problems, fmt.Sprintf("thread %d: %s", th.idx, p))
		}
	}
	if sum.ElapsedNs > 0 {
		sum.CallsPerSec = float64(sum.Total) / (float64(sum.ElapsedNs) / 1e9)
	}
	if snk.err != nil {
		return fmt.Errorf("write truth: %w", snk.err)
	}
	if cfg.Summary != "" || cfg.Loop > 0 {
		if err := writeSummary(cfg.Summary, cfg.Stdout, &sum); err != nil {
			return err
		}
	}
	if sum.Unexpected > 0 {
		fmt.Fprintf(cfg.Stderr, "auperf-workload: %d calls did not return what their step expects (see the truth's errno/expect): %s\n",
			sum.Unexpected, strings.Join(problems, ", "))
		return ErrUnexpected
	}
	return nil
}

// writeReady tells whoever waits for us that we are set up: our pid.
func writeReady(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}

func waitStart(cfg Config, usr1 chan os.Signal) error {
	if cfg.WaitSignal {
		<-usr1
		signal.Stop(usr1)
	}
	if cfg.WaitStart != "" {
		for {
			if _, err := os.Stat(cfg.WaitStart); err == nil {
				break
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("wait for start file: %w", err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if cfg.StartDelay > 0 {
		time.Sleep(cfg.StartDelay)
	}
	return nil
}

// openOut opens the truth output; appending lets several -once children
// share one file.
func openOut(path string, stdout io.Writer, appendMode bool) (io.Writer, func(), error) {
	if path == "" || path == "-" {
		return stdout, func() {}, nil
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendMode {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open truth output: %w", err)
	}
	return f, func() { f.Close() }, nil
}

func writeSummary(path string, stdout io.Writer, s *Summary) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" || path == "-" {
		_, err = stdout.Write(b)
	} else {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

func makeFile(path string, size int64) (int, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, fmt.Errorf("create %s: %w", path, err)
	}
	// Real bytes, not a hole: msync and mlock should have pages to act on.
	if _, err := unix.Pwrite(fd, make([]byte, size), 0); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("fill %s: %w", path, err)
	}
	return fd, nil
}

// execShort copies this binary to Dir/NAME and runs it Rounds times in
// -once mode, one after the other: short-lived processes whose comm and
// exe are NAME and Dir/NAME, each appending its truth line to Out.
func execShort(cfg Config) error {
	if cfg.Out == "" || cfg.Out == "-" {
		return errors.New("-exec-short needs -out FILE (the children append to it)")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	dst := filepath.Join(cfg.Dir, cfg.ExecShort)
	if err := CopyFile(self, dst); err != nil {
		return err
	}
	if f, err := os.OpenFile(cfg.Out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644); err != nil {
		return fmt.Errorf("open truth output: %w", err)
	} else {
		f.Close()
	}
	if err := writeReady(cfg.Ready); err != nil {
		return err
	}
	var usr1 chan os.Signal
	if cfg.WaitSignal {
		usr1 = make(chan os.Signal, 1)
		signal.Notify(usr1, unix.SIGUSR1)
	}
	if err := waitStart(cfg, usr1); err != nil {
		return err
	}
	for i := 0; i < cfg.Rounds; i++ {
		cmd := exec.Command(dst, "-once", "-out", cfg.Out)
		cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("run %s: %w", dst, err)
		}
	}
	return nil
}

// CopyFile copies an executable to dst (mode 0755), replacing dst
// atomically.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy executable: %w", err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("copy executable: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy executable: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy executable: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("copy executable: %w", err)
	}
	return nil
}
