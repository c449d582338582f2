// Command auperf-bench is the harness behind `make bench`: it runs the
// workload's loop (mmap+mprotect+msync+mlock2+munlock+munmap of one shared
// file page) untraced, under auperf's perf and audit sources, and, where
// installed, under `perf trace -a` (Debian package linux-perf) and auditd
// with the same rule (package auditd), alternating the rows round by round,
// and prints a table: syscalls/s (median, min, max), slowdown against
// untraced, events expected / captured / reported lost, tracer CPU seconds
// and peak RSS. It reports; it never asserts and installs nothing.
//
// Usage:
//
//	auperf-bench [-n N] [-threads T] [-rounds R] [-rows LIST] [-json]
//	             [-bin DIR] [-dir DIR] [-timeout D] [-settle D] [-keep]
//	             [-auditd-backlog N]
//
// It needs root (perf events of all processes, audit). It holds the
// machine-wide kernel test lock while it runs, so that no kernel test
// changes audit or perf state under it (and it under them). Exit status: 0
// when the table was printed, 1 when the bench had to stop (the audit state
// was not as found after a run: the message says what differs), 2 for bad
// flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/internal/bench"
	"github.com/auperf/auperf/internal/ktest"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == bench.BareReaderArg {
		// The audit-bare row's reader: this binary, as the bench's child.
		os.Exit(bench.BareReaderMain(os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("auperf-bench", flag.ContinueOnError)
	n := fs.Int("n", 50000, "loop iterations per workload thread (6 syscalls each)")
	threads := fs.Int("threads", 1, "workload threads")
	rounds := fs.Int("rounds", 3, "rounds; every row runs once per round, rows alternate")
	rows := fs.String("rows", strings.Join(bench.AllRows, ","), "rows to run, comma-separated subset of "+strings.Join(bench.AllRows, ","))
	asJSON := fs.Bool("json", false, "print the report as JSON instead of the table")
	binDir := fs.String("bin", "bin", "`DIR` holding auperf and auperf-workload")
	dir := fs.String("dir", ".bench", "scratch `DIR` for tracer outputs and the mapped file")
	timeout := fs.Duration("timeout", 10*time.Minute, "one run's limit before its tracer is stopped")
	settle := fs.Duration("settle", 500*time.Millisecond, "wait after perf trace has opened its events")
	keep := fs.Bool("keep", false, "keep the tracers' output files in -dir")
	auditdBacklog := fs.Int("auditd-backlog", 8192, "audit backlog_limit during the auditd row, as Debian's audit.rules sets it (0: leave as found)")
	collateral := fs.Duration("collateral", 2*time.Second, "bystander run per row and round for the collateral table (0: none)")
	soak := fs.Duration("soak", 0, "instead of the table: soak each source for `D` at half the rate it can take, sampling RSS, fds and counters every 10s (make soak)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *n < 1 || *threads < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "auperf-bench: -n, -threads, -rounds must be at least 1; no arguments")
		return 2
	}
	var rowList []string
	for r := range strings.SplitSeq(*rows, ",") {
		r = strings.TrimSpace(r)
		if !contains(bench.AllRows, r) {
			fmt.Fprintf(os.Stderr, "auperf-bench: unknown row %q (rows: %s)\n", r, strings.Join(bench.AllRows, ","))
			return 2
		}
		rowList = append(rowList, r)
	}
	wl, err := filepath.Abs(filepath.Join(*binDir, "auperf-workload"))
	if err == nil {
		_, err = os.Stat(wl)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "auperf-bench: workload: %v (make build)\n", err)
		return 2
	}
	absDir, _ := filepath.Abs(*dir)
	if *soak > 0 {
		return runSoak(*soak, *binDir, absDir, wl)
	}
	cfg := bench.Config{
		Workload:   wl,
		Auperf:     existing(filepath.Join(*binDir, "auperf")),
		Perf:       bench.LookTool("perf"),
		Auditd:     bench.LookTool("auditd"),
		Auditctl:   bench.LookTool("auditctl"),
		Self:       self(),
		Dir:        absDir,
		Iterations: *n, Threads: *threads, Rounds: *rounds,
		Rows:    rowList,
		Timeout: *timeout, Settle: *settle, Keep: *keep,
		AuditdBacklog: *auditdBacklog,
		Collateral:    *collateral,
		Log:           os.Stderr,
		Command:       strings.Join(append([]string{"auperf-bench"}, os.Args[1:]...), " "),
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "auperf-bench: warning: not root; traced rows will fail or be skipped")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	unlock, err := lockKernel(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "auperf-bench: %v\n", err)
		return 1
	}
	defer unlock()
	rep, err := bench.Measure(ctx, cfg)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		fmt.Println()
		bench.WriteTable(os.Stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "auperf-bench: stopped: %v\n", err)
		if errors.Is(err, bench.ErrAuditState) {
			fmt.Fprintln(os.Stderr, "auperf-bench: THE AUDIT STATE IS NOT AS IT WAS FOUND: check `auditctl -s` and `auditctl -l`")
		}
		return 1
	}
	return 0
}

// lockKernel takes the machine-wide lock that kernel tests hold (see
// internal/ktest), so the bench neither disturbs them nor is disturbed. It
// polls, so that an interrupt while waiting ends the bench at once.
func lockKernel(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(ktest.LockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open kernel test lock: %w", err)
	}
	for said := false; ; said = true {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", ktest.LockPath, err)
		}
		if !said {
			fmt.Fprintf(os.Stderr, "auperf-bench: waiting for %s (kernel tests are running)\n", ktest.LockPath)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", ktest.LockPath, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// self is this binary's path, which runs the audit-bare row's reader.
func self() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	return p
}

func existing(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		return ""
	}
	return abs
}

// runSoak is -soak: both sources one after the other, under the kernel
// test lock.
func runSoak(d time.Duration, binDir, dir, wl string) int {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		fmt.Fprintf(os.Stderr, "auperf-bench: %v\n", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	unlock, err := lockKernel(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "auperf-bench: %v\n", err)
		return 1
	}
	defer unlock()
	auperf, _ := filepath.Abs(filepath.Join(binDir, "auperf"))
	rs, err := bench.Soak(ctx, bench.SoakConfig{Auperf: auperf, Workload: wl, Dir: dir, Duration: d,
		Sources: []string{"perf", "audit"}, Log: os.Stderr})
	bench.WriteSoak(os.Stdout, rs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "auperf-bench: soak: %v\n", err)
		return 1
	}
	for _, r := range rs {
		if len(r.Problems) > 0 {
			return 1
		}
	}
	return 0
}
