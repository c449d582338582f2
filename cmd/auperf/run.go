// `auperf run`: its flags, the signals it handles and the exit status it
// gives; the orchestration (settings, config file, plan, start, command)
// is internal/trace's.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/internal/pipeline"
	"github.com/auperf/auperf/internal/trace"
	"github.com/auperf/auperf/output"
)

func init() {
	register(&cli.Command{
		Name:      "run",
		Usage:     "trace syscalls (default: the memory family) and write them as events",
		ArgsUsage: "[-- COMMAND [ARGS...]]",
		Description: "Without a command it traces the whole host until SIGINT/SIGTERM (or --duration).\n" +
			"With `-- COMMAND ARGS` it starts COMMAND once tracing is on, traces it and its descendants only,\n" +
			"stops when it exits and exits with its status. SIGHUP reopens output files (logrotate).\n" +
			"--source auto (the default) picks per event what `auperf probe` shows: perf where the syscall\n" +
			"tracepoints open, audit for the rest, and audit b32 rules for 32-bit (int 0x80) callers.\n\n" +
			output.SpecHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "source", Value: "auto", Usage: "`auto`, perf or audit"},
			&cli.StringFlag{Name: "events", Usage: "comma-separated syscall `LIST` (default: the memory family)"},
			&cli.StringSliceFlag{Name: "output", Usage: "`SPEC`: json, text, json:PATH, text:PATH, syslog[:udp|tcp|tls://H:P] (repeatable; default text on a terminal, json otherwise)"},
		}, append(filterFlags(), []cli.Flag{
			&cli.DurationFlag{Name: "duration", Usage: "stop after `D` (0: until a signal)"},
			&cli.DurationFlag{Name: "stats-interval", Value: time.Minute, Usage: "write auperf_stats every `D` (0: only at the end)"},
			&cli.IntFlag{Name: "ring-pages", Usage: "perf ring size per CPU in `PAGES`, a power of two (default 512, less past 16 CPUs)"},
			&cli.StringFlag{Name: "audit-backpressure", Value: "wait", Usage: "when auperf reads audit too slowly: `wait` (audited processes wait, nothing lost) or drop (lost records counted)"},
			&cli.StringFlag{Name: "audit-lean", Value: "auto", Usage: "`auto`: while auperf is the only audit reader, exclude PROCTITLE and EOE records (two keyless exclude rules, removed on exit or when another reader appears; about half the cost per audited call); off: load only auperf's keyed syscall rules"},
			&cli.IntFlag{Name: "audit-backlog-limit", Usage: "audit backlog_limit while tracing, in records (0: 8192 when auperf is the audit daemon, unchanged next to auditd)"},
			&cli.StringFlag{Name: "config", Usage: "YAML `FILE` with the same settings (keys as the long flags; flags win)"},
			// For tests and support: split events between the sources by
			// hand ("perf=msync,mmap", "audit=mprotect") instead of the
			// selector's choice; probing still decides what can work.
			&cli.StringSliceFlag{Name: "source-events", Hidden: true},
		}...)...),
		Action: runAction,
	})
}

// filterFlags are the filter flags of run and decode, defined once.
func filterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntSliceFlag{Name: "pid", Usage: "only process `N` (repeatable)"},
		&cli.StringSliceFlag{Name: "comm", Usage: "only processes named `NAME` (repeatable)"},
		&cli.IntSliceFlag{Name: "uid", Usage: "only processes of user `N` (repeatable)"},
		&cli.BoolFlag{Name: "failed", Usage: "only calls that failed"},
	}
}

// traceEnv is the host as run reaches it (a test replaces the perf
// source's constructor to make it fail).
var traceEnv = func() trace.Env { return trace.HostEnv(warn) }

func warn(msg string) { fmt.Fprintf(os.Stderr, "auperf: warning: %s\n", msg) }

// outputQueue is the batches (32 KiB each) a sink may have queued: a file
// takes bursts of ~300k events/s from the perf source (json, ~250 MB/s)
// only with a deeper queue than output's default; 16 MiB per sink at most.
const outputQueue = 512

func runAction(c *cli.Context) error {
	if path := c.String("config"); path != "" {
		if err := applyConfig(c, path); err != nil {
			return err
		}
	}
	opts, err := runSettings(c).Options(os.Getpid())
	if err != nil {
		return err
	}
	env := traceEnv()
	plan, err := trace.Plan(env, opts)
	if err != nil {
		return err
	}

	specs := c.StringSlice("output")
	if len(specs) == 0 {
		specs = []string{output.DefaultSpec(output.IsTerminal(os.Stdout))}
	}
	host, _ := os.Hostname()
	out, err := output.Open(specs, output.Options{Hostname: host, QueueBatches: outputQueue})
	if err != nil {
		return usagef("%v", err)
	}
	defer out.Close()

	// From here on a signal must not kill us with audit changed or
	// tracefs mounted: it is handled by the loop below.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	sess, err := trace.Start(env, plan, opts)
	if err != nil {
		return err
	}
	defer sess.Close()

	p, err := pipeline.New(pipeline.Config{
		Sources:       sess.Sources,
		Sink:          out,
		Hostname:      host,
		StatsInterval: opts.StatsInterval,
	})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if opts.Duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}

	var cmd *exec.Cmd
	cmdDone := make(chan error, 1)
	if command := opts.Command; len(command) > 0 {
		cmd = exec.Command(command[0], command[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := sess.StartCommand(cmd); err != nil {
			sess.Close()
			out.Close()
			fmt.Fprintf(os.Stderr, "auperf: start %s: %v\n", command[0], err)
			if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
				return exitStatus(127) // as a shell says "command not found"
			}
			return exitStatus(126)
		}
		go func() { cmdDone <- cmd.Wait() }()
	}

	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(ctx) }()

	var cmdErr error
	cmdExited := cmd == nil
	for {
		select {
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGHUP:
				out.Reopen()
			case cmd != nil && !cmdExited:
				// The command decides when we stop: pass the signal
				// on, unless the terminal sent it to both of us.
				if sig != syscall.SIGINT || !terminalSignalsGroup() {
					cmd.Process.Signal(sig)
				}
			default:
				cancel()
			}
		case cmdErr = <-cmdDone:
			cmdExited = true
			cancel()
		case err := <-runDone:
			if !cmdExited {
				// The source stopped first (failure or --duration):
				// the command runs on untraced; wait for it.
				cmdErr = <-cmdDone
			}
			if n := p.Lost(); n > 0 {
				fmt.Fprintf(os.Stderr, "auperf: %d lost in the kernel (reported in-stream as auperf_lost); a larger --ring-pages (perf) or --audit-backpressure wait (audit) may help\n", n)
			}
			cerr := out.Close()
			if cmd != nil {
				// The command's status is what a script relies on:
				// an output problem is said, not returned.
				if err == nil && cerr != nil {
					fmt.Fprintf(os.Stderr, "auperf: %v\n", cerr)
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "auperf: %v\n", err)
				}
				return commandStatus(cmdErr)
			}
			if err == nil {
				err = cerr
			}
			return err
		}
	}
}

// runSettings reads the flags (the config file's values already applied
// to those not given).
func runSettings(c *cli.Context) trace.Settings {
	return trace.Settings{
		Source:            c.String("source"),
		Events:            c.String("events"),
		SourceEvents:      c.StringSlice("source-events"),
		PIDs:              c.IntSlice("pid"),
		Comms:             c.StringSlice("comm"),
		UIDs:              c.IntSlice("uid"),
		Failed:            c.Bool("failed"),
		Duration:          c.Duration("duration"),
		StatsInterval:     c.Duration("stats-interval"),
		RingPages:         c.Int("ring-pages"),
		RingPagesSet:      c.IsSet("ring-pages"),
		AuditBackpressure: c.String("audit-backpressure"),
		AuditBacklogLimit: c.Int("audit-backlog-limit"),
		AuditLean:         c.String("audit-lean"),
		Command:           c.Args().Slice(),
	}
}

// applyConfig sets every flag the command line did not set from the file.
func applyConfig(c *cli.Context, path string) error {
	f, err := trace.LoadConfig(path)
	if err != nil {
		return err
	}
	for _, fv := range f.Flags() {
		if c.IsSet(fv.Name) {
			continue
		}
		for _, v := range fv.Values {
			if err := c.Set(fv.Name, v); err != nil {
				return usagef("--config %s: %s %q: %v", path, fv.Name, v, err)
			}
		}
	}
	return nil
}

// terminalSignalsGroup reports whether our process group is the foreground
// group of the terminal on stdin: then a Ctrl-C reached the command too.
func terminalSignalsGroup() bool {
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}

// commandStatus maps the command's end to our exit status (a signal N: 128+N).
func commandStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitStatus(128 + int(ws.Signal()))
		}
		return exitStatus(ee.ExitCode())
	}
	return err
}
