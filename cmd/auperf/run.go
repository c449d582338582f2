// `auperf run`: its flags, the signals it handles and the exit status it
// gives; the orchestration (settings, config file, plan, start, command)
// is internal/trace's. The service side (systemd notify and watchdog,
// reload, metrics) is in service.go.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/internal/container"
	"github.com/auperf/auperf/internal/crash"
	"github.com/auperf/auperf/internal/insight"
	"github.com/auperf/auperf/internal/pipeline"
	"github.com/auperf/auperf/internal/trace"
	"github.com/auperf/auperf/output"
)

// DefaultConfig is the config file run reads when --config is not given
// and the file exists (the packages install a commented one).
const DefaultConfig = "/etc/auperf/auperf.yaml"

func init() { register(runCommand()) }

// runCommand is the run command with flags of its own: a reload parses
// the original command line again with a fresh one.
func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "trace syscalls (default: the memory family) and write them as events",
		ArgsUsage: "[-- COMMAND [ARGS...]]",
		Description: "Without a command it traces the whole host until SIGINT/SIGTERM (or --duration).\n" +
			"With `-- COMMAND ARGS` it starts COMMAND once tracing is on, traces it and its descendants only,\n" +
			"stops when it exits and exits with its status.\n" +
			"--source auto (the default) picks per event what `auperf probe` shows: perf where the syscall\n" +
			"tracepoints open, audit for the rest, and audit b32 rules for 32-bit callers when audit is on\n" +
			"anyway (--b32). Turning audit on slows every process started afterwards until reboot.\n\n" +
			"Config: --config FILE (default " + DefaultConfig + " when it exists; --config '' for none) holds\n" +
			"the same settings under the long flags' names; flags given on the command line win.\n" +
			"Signals: SIGINT/SIGTERM stop: the sources detach and the kernel state is restored first, then the\n" +
			"queued events are written and files fsynced; past --stop-timeout the kernel state is restored and\n" +
			"auperf exits 1 saying what was left unwritten. SIGHUP reopens the output files (logrotate) and\n" +
			"reads the config again: new outputs and filters take effect without detaching the sources and\n" +
			"without losing an event; a config that does not load, or that changes a setting only a restart\n" +
			"can change (source, events, ring-pages, audit-*, stats-interval, duration, metrics), is refused\n" +
			"with one line on stderr and the running config stays.\n" +
			"Under systemd (NOTIFY_SOCKET) it says READY=1 once every source is attached and every output is\n" +
			"open, STATUS= with event rates, and pings the watchdog (WatchdogSec) while its pipeline moves.\n\n" +
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
			&cli.StringFlag{Name: "audit-task-filter", Value: "auto", Usage: "`auto`: with -- COMMAND, while auperf is the only audit reader, processes started outside the command's audit session get no audit context and keep the fast syscall path (one keyed task rule, removed on exit or when another reader appears; such a process stays unaudited for its lifetime, also by an audit daemon started later); off: every new process is audited (and slower)"},
			&cli.StringFlag{Name: "b32", Value: "auto", Usage: "audit b32 rules for 32-bit (ia32, arm) callers: `auto` (when audit is on already, or turned on anyway for events perf cannot trace), on (turns audit on for them: a cost to every process started until reboot, see the README) or off"},
			&cli.StringFlag{Name: "insights", Value: trace.DefaultInsights, Usage: "derived events from the memory syscalls, a comma `LIST` of " + strings.Join(insight.Names(), ", ") + " (or all, none; -NAME takes one out: all,-mem_wx): findings on msync discipline of shared file mappings, W+X mappings, locked memory, remap_file_pages use, and the mapped file of each mmap; README \"Insights\""},
			&cli.IntFlag{Name: "audit-backlog-limit", Usage: "audit backlog_limit while tracing, in records (0: 8192 when auperf is the audit daemon, unchanged next to auditd)"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9464): /metrics and /healthz (off by default)"},
			&cli.DurationFlag{Name: "stop-timeout", Value: 15 * time.Second, Usage: "longest stop after SIGINT/SIGTERM: past `D` the kernel state is restored and what is still queued is given up (counted)"},
			&cli.StringFlag{Name: "config", Usage: "YAML `FILE` with the same settings (keys as the long flags; flags win); default " + DefaultConfig + " if it exists, '' for none"},
			&cli.BoolFlag{Name: "check-config", Usage: "check the settings (config file and flags), that the outputs open and the plan can work, then exit (0: fine, 2: not)"},
			// For tests and support: split events between the sources by
			// hand ("perf=msync,mmap", "audit=mprotect") instead of the
			// selector's choice; probing still decides what can work.
			&cli.StringSliceFlag{Name: "source-events", Hidden: true},
		}...)...),
		Action: runAction,
	}
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

// logf is one line of what the run does (reload, stop), on stderr: the
// journal under systemd.
func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "auperf: "+format+"\n", a...) }

// outputBatch is the size at which a batch is handed to the sinks (or
// after the flush delay, 200 ms): 128 KiB rather than output's 32 KiB cut
// the hand-overs between goroutines and the write calls fourfold, and
// auperf's CPU per event by about a fifth in make bench (audit source 0.64
// -> 0.48 CPU s per 300,000 events, perf 0.35 -> 0.29).
const outputBatch = 128 << 10

// outputQueue is the batches a sink may have queued: a file takes bursts
// of ~300k events/s from the perf source (json, ~250 MB/s) only with a
// deeper queue than output's default; 16 MiB per sink at most.
const outputQueue = 16 << 20 / outputBatch

// runConfig is run's checked settings: the trace options and what the
// command itself handles.
type runConfig struct {
	opts        trace.Options
	outputs     []string
	metrics     string // listen address, "" off
	stopTimeout time.Duration
	configPath  string // the config file read, "" none
}

// loadRunConfig reads the config file (the flags not given on the command
// line take its values) and checks every setting.
func loadRunConfig(c *cli.Context) (*runConfig, error) {
	rc := &runConfig{}
	path := c.String("config")
	if !c.IsSet("config") {
		if _, err := os.Stat(DefaultConfig); err == nil {
			path = DefaultConfig
		}
	}
	if path != "" {
		if err := applyConfig(c, path); err != nil {
			return nil, err
		}
		rc.configPath = path
	}
	var err error
	if rc.opts, err = runSettings(c).Options(os.Getpid()); err != nil {
		return nil, err
	}
	rc.outputs = c.StringSlice("output")
	if len(rc.outputs) == 0 {
		rc.outputs = []string{output.DefaultSpec(output.IsTerminal(os.Stdout))}
	}
	rc.metrics = c.String("metrics-listen")
	rc.stopTimeout = c.Duration("stop-timeout")
	if rc.stopTimeout <= 0 {
		return nil, usagef("--stop-timeout %v: want a positive duration", rc.stopTimeout)
	}
	return rc, nil
}

// openOutputs opens the output specs of rc; onFatal is told when an
// output cannot go on at all (stdout whose reader went away), stderr when
// one starts failing and when it writes again.
func openOutputs(rc *runConfig, onFatal func(error)) (*output.Fanout, error) {
	host, _ := os.Hostname()
	out, err := output.Open(rc.outputs, output.Options{Hostname: host, QueueBatches: outputQueue, BatchBytes: outputBatch, OnFatal: onFatal, Notify: warn})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return out, nil
}

func runAction(c *cli.Context) error {
	rc, err := loadRunConfig(c)
	if err != nil {
		return err
	}
	if rc.configPath != "" && !c.IsSet("config") {
		logf("config %s (--config '' for none)", rc.configPath)
	}
	if c.Bool("check-config") {
		return checkConfig(c, rc)
	}
	// What a killed run left (audit state, mounts) goes first, whichever
	// source this run uses.
	if did, err := trace.Cleanup(); err != nil {
		warn(fmt.Sprintf("restoring what a killed auperf left: %v", err))
	} else {
		for _, l := range did {
			logf("restored what a killed auperf left: %s", l)
		}
	}
	opts := rc.opts
	env := traceEnv()
	plan, err := trace.Plan(env, opts)
	if err != nil {
		return err
	}
	// An output that cannot go on (stdout's reader went away) stops the
	// run like a signal: state restored, then exit 1 saying why.
	fatal := make(chan error, 1)
	onFatal := func(err error) {
		select {
		case fatal <- err:
		default:
		}
	}
	out, err := openOutputs(rc, onFatal)
	if err != nil {
		return err
	}
	defer func() { out.Close() }() // (out changes on reload)

	sd := newNotifier()
	var metrics *metricsServer
	if rc.metrics != "" {
		if metrics, err = listenMetrics(rc.metrics); err != nil {
			return err
		}
		defer metrics.Close()
	}

	// From here on a signal must not kill us with audit changed or
	// tracefs mounted: it is handled by the loop below.
	// SIGQUIT too (its default dumps and exits with nothing restored),
	// and SIGPIPE (its default kills us when stdout's reader goes away:
	// handled, a write returns EPIPE and the output says so).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	defer signal.Stop(sigs)

	sess, err := trace.Start(env, plan, opts)
	if err != nil {
		return err
	}
	defer sess.Close()
	// A panic in any goroutine restores the kernel state before exit 70.
	crash.SetRestore(func() { sess.Close() })
	defer crash.SetRestore(nil)
	defer crash.Recover()

	host, _ := os.Hostname()
	p, err := pipeline.New(pipeline.Config{
		Sources:       sess.Sources,
		Sink:          out,
		Hostname:      host,
		StatsInterval: opts.StatsInterval,
		Heartbeat:     sd.heartbeat(),
		Containers:    &container.Cache{},
		Insights:      opts.Insights,
	})
	if err != nil {
		return err
	}
	if metrics != nil {
		metrics.serve(p, func() *output.Fanout { return out })
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
		crash.Go(func() { cmdDone <- cmd.Wait() })
	}

	runDone := make(chan error, 1)
	crash.Go(func() { runDone <- p.Run(ctx) })
	// Every planned source is attached and every output open.
	sd.ready(p, sess)
	defer sd.stop()

	var cmdErr, fatalErr error
	cmdExited := cmd == nil
	var stopTimer <-chan time.Time
	stop := func(why string) {
		if stopTimer == nil {
			sd.stopping(why)
			stopTimer = time.After(rc.stopTimeout)
		}
		cancel()
	}
	ctxDone := ctx.Done() // --duration
	for {
		select {
		case <-ctxDone:
			ctxDone = nil
			stop("--duration elapsed")
		case err := <-fatal:
			fatalErr = err
			stop("an output failed")
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGPIPE:
				// A write to a closed pipe; the output that made it
				// reports it (stdout: fatal). Nothing to do here.
			case sig == syscall.SIGHUP:
				rc, out = reload(rc, p, out, sd)
			case cmd != nil && !cmdExited:
				// The command decides when we stop: pass the signal
				// on, unless the terminal sent it to both of us.
				if sig != syscall.SIGINT || !terminalSignalsGroup() {
					cmd.Process.Signal(sig)
				}
			default:
				stop(sig.String())
			}
		case cmdErr = <-cmdDone:
			cmdExited = true
			stop("the command exited")
		case <-stopTimer:
			// A source that does not return: restore the kernel state
			// ourselves, then give up what is queued.
			serr := sess.Close()
			cerr := out.Close()
			return errors.Join(fmt.Errorf("stopped after --stop-timeout %v with a source still running; kernel state restored", rc.stopTimeout), serr, cerr)
		case err := <-runDone:
			// The sources have detached and restored the kernel state
			// (each does as its Run returns); now the queues drain
			// and files are fsynced.
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
			if fatalErr != nil {
				return errors.Join(fmt.Errorf("stopped: %w (kernel state restored)", fatalErr), err)
			}
			if err == nil {
				err = cerr
			}
			return err
		}
	}
}

// checkConfig is --check-config: the settings load (done), the outputs
// open, the metrics address can be listened on, and the plan can work on
// this host; nothing is attached.
func checkConfig(c *cli.Context, rc *runConfig) error {
	// Opening creates files and directories: a check leaves none new.
	var created []string
	for _, spec := range rc.outputs {
		if path := output.FilePath(spec); path != "" {
			for p := path; p != "/" && p != "."; p = filepath.Dir(p) {
				if _, err := os.Lstat(p); err == nil {
					break
				}
				created = append(created, p) // the file, then its new parents
			}
		}
	}
	defer func() {
		for _, p := range created {
			os.Remove(p) // a directory only if empty
		}
	}()
	out, err := openOutputs(rc, nil)
	if err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return usagef("outputs: %v", err)
	}
	if rc.metrics != "" {
		m, err := listenMetrics(rc.metrics)
		if err != nil {
			return err
		}
		m.Close()
	}
	if _, err := trace.Plan(traceEnv(), rc.opts); err != nil {
		return err
	}
	from := "flags only"
	if rc.configPath != "" {
		from = rc.configPath
	}
	fmt.Fprintf(c.App.Writer, "auperf: config OK (%s): %d output(s), source %s\n", from, len(rc.outputs), rc.opts.Source)
	return nil
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
		AuditTaskFilter:   c.String("audit-task-filter"),
		B32:               c.String("b32"),
		Insights:          c.String("insights"),
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
				return usagef("--config %s: %s %q: %s", path, fv.Name, v, flagValueReason(flagKind(c.Command.Flags, fv.Name), v))
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
