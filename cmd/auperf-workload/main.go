// Command auperf-workload issues memory-management syscalls whose every
// argument and result it records, so that tests can check a tracer's output
// against the truth and benchmarks can load a tracer with a known count.
//
// Usage:
//
//	auperf-workload [flags]
//
// Modes:
//
//	(default)        script: every memory-family call, distinctive args, known failures
//	-loop N          benchmark: N iterations per thread of mmap+mprotect+msync+
//	                 mlock2+munlock+munmap on one shared file page; writes a summary
//	-once            one msync(0x5000, 0x3000, MS_ASYNC) = -ENOMEM, then exit
//	-exec-short NAME copy self to DIR/NAME and run it -rounds times with -once
//
// Flags:
//
//	-threads N       threads (OS threads, each locked), default 4 (loop: 1)
//	-rounds R        script rounds / -exec-short children, default 1
//	-int80           script: also i386 msync, mmap2, mprotect, munmap via int $0x80
//	-truth[=bool]    write per-call truth (default: true, loop: false)
//	-migrate[=bool]  pin to the next allowed CPU before every call (default: true, loop: false)
//	-out FILE        truth output, default stdout ("-")
//	-summary FILE    summary JSON (loop: default stdout; script: only if given)
//	-dir DIR         directory for the mapped files, default a fresh temp dir (removed)
//	-ready FILE      write the pid to FILE once the threads exist, before waiting
//	-wait-start FILE block until FILE exists before the first call
//	-wait-signal     block until SIGUSR1 before the first call
//	-start-delay D   sleep D (Go duration) before the first call
//	-bystander D     getppid(2) in a loop for D, then the summary (the rate of
//	                 a process nobody traces: what a tracer costs the host)
//	-insight bad|good the insight scenarios: bad makes every mistake auperf's
//	                 insights know (msync missing, MS_ASYNC only, partial, W+X,
//	                 RW then RX, a memfd mapped W and X, memory left locked,
//	                 remap_file_pages), each once; good the same calls done
//	                 right. Writes the expected findings (JSON) to -out
//	-- ARG...        ignored: a command line of the test's choosing (audit's
//	                 PROCTITLE)
//
// Exit status: 0; 3 if some call did not return what its step expects (the
// truth is complete and says which); 2 for bad flags; 1 for other failures.
//
// The truth format and the noise from the Go runtime are described in
// package internal/workload.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/auperf/auperf/internal/workload"
)

var version = "dev"

// The main goroutine stays on the main thread, so that -once calls from a
// process whose only busy thread is its main one (tid == pid).
func init() { runtime.LockOSThread() }

func main() {
	var cfg workload.Config
	fs := flag.NewFlagSet("auperf-workload", flag.ContinueOnError)
	fs.IntVar(&cfg.Threads, "threads", 0, "threads (default 4, loop 1)")
	fs.IntVar(&cfg.Rounds, "rounds", 1, "script rounds / -exec-short children")
	fs.IntVar(&cfg.Loop, "loop", 0, "loop mode: iterations per thread")
	fs.IntVar(&cfg.Rate, "rate", 0, "loop mode: at most `N` iterations per second per thread (0: no limit)")
	fs.BoolVar(&cfg.Int80, "int80", false, "script: also i386 syscalls through int $0x80")
	fs.BoolVar(&cfg.Once, "once", false, "one msync then exit")
	fs.StringVar(&cfg.ExecShort, "exec-short", "", "run a copy of self named `NAME` with -once, -rounds times")
	fs.BoolVar(&cfg.Truth, "truth", true, "write per-call truth (loop default false)")
	fs.BoolVar(&cfg.Migrate, "migrate", true, "move to the next CPU before every call (loop default false)")
	fs.StringVar(&cfg.Out, "out", "-", "truth output `FILE`")
	fs.StringVar(&cfg.Summary, "summary", "", "summary `FILE` (loop default stdout)")
	fs.StringVar(&cfg.Dir, "dir", "", "`DIR` for the mapped files")
	fs.StringVar(&cfg.Ready, "ready", "", "write the pid to `FILE` before waiting to start")
	fs.StringVar(&cfg.WaitStart, "wait-start", "", "wait until `FILE` exists before starting")
	fs.BoolVar(&cfg.WaitSignal, "wait-signal", false, "wait for SIGUSR1 before starting")
	fs.DurationVar(&cfg.StartDelay, "start-delay", 0, "sleep this long before starting")
	fs.DurationVar(&cfg.Bystander, "bystander", 0, "bystander mode: getppid for `D` (an untraced process's rate), then the summary")
	fs.StringVar(&cfg.Insight, "insight", "", "insight mode: `bad` (every mistake the insights know, once) or good (none); the expected findings to -out")
	showVersion := fs.Bool("version", false, "print the version")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println("auperf-workload", version)
		return
	}
	if n := len(os.Args) - fs.NArg(); fs.NArg() > 0 && os.Args[n-1] != "--" {
		fmt.Fprintf(os.Stderr, "auperf-workload: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.Loop > 0 || cfg.Once {
		if !set["truth"] && cfg.Loop > 0 {
			cfg.Truth = false
		}
		if !set["migrate"] {
			cfg.Migrate = false
		}
	}
	if !set["threads"] {
		cfg.Threads = 4
		if cfg.Loop > 0 {
			cfg.Threads = 1
		}
	}
	if cfg.Loop > 0 && cfg.Truth && (cfg.Out == "" || cfg.Out == "-") && (cfg.Summary == "" || cfg.Summary == "-") {
		fmt.Fprintln(os.Stderr, "auperf-workload: -loop with -truth needs -out FILE or -summary FILE (both would go to stdout)")
		os.Exit(2)
	}
	if cfg.Threads < 1 || cfg.Rounds < 1 || cfg.Loop < 0 {
		fmt.Fprintln(os.Stderr, "auperf-workload: -threads and -rounds must be at least 1, -loop not negative")
		os.Exit(2)
	}
	if cfg.Int80 && !workload.HaveInt80 {
		fmt.Fprintln(os.Stderr, "auperf-workload: -int80 needs an amd64 build")
		os.Exit(2)
	}
	if err := workload.Run(cfg); err != nil {
		if errors.Is(err, workload.ErrUnexpected) {
			os.Exit(3)
		}
		fmt.Fprintf(os.Stderr, "auperf-workload: %v\n", err)
		os.Exit(1)
	}
}
