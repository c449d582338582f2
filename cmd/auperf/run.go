package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/pipeline"
	"github.com/auperf/auperf/output"
	"github.com/auperf/auperf/perfsrc"
)

func init() {
	register(&cli.Command{
		Name:      "run",
		Usage:     "trace syscalls (default: the memory family) and write them as events",
		ArgsUsage: "[-- COMMAND [ARGS...]]",
		Description: "Without a command it traces the whole host until SIGINT/SIGTERM (or --duration).\n" +
			"With `-- COMMAND ARGS` it starts COMMAND once tracing is on, traces it and its descendants only,\n" +
			"stops when it exits and exits with its status. SIGHUP reopens output files (logrotate).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "source", Value: "auto", Usage: "`auto`, perf or audit"},
			&cli.StringFlag{Name: "events", Usage: "comma-separated syscall `LIST` (default: the memory family)"},
			&cli.StringSliceFlag{Name: "output", Usage: "`SPEC`: json, text, json:PATH, text:PATH, syslog[:udp|tcp|tls://H:P] (repeatable; default text on a terminal, json otherwise)"},
			&cli.IntSliceFlag{Name: "pid", Usage: "only process `N` (repeatable)"},
			&cli.StringSliceFlag{Name: "comm", Usage: "only processes named `NAME` (repeatable)"},
			&cli.IntSliceFlag{Name: "uid", Usage: "only processes of user `N` (repeatable)"},
			&cli.BoolFlag{Name: "failed", Usage: "only calls that failed"},
			&cli.DurationFlag{Name: "duration", Usage: "stop after `D` (0: until a signal)"},
			&cli.DurationFlag{Name: "stats-interval", Value: time.Minute, Usage: "write auperf_stats every `D` (0: only at the end)"},
			&cli.IntFlag{Name: "ring-pages", Usage: "perf ring size per CPU in `PAGES`, a power of two (default 512, less past 16 CPUs)"},
			&cli.StringFlag{Name: "config", Usage: "YAML `FILE` with the same settings (keys as the long flags; flags win)"},
		},
		Action: runAction,
	})
}

// runOptions is what the flags say, shared by every source's constructor.
type runOptions struct {
	Events        []string // nil: the default events
	Filter        filter.Spec
	RingPages     int
	DefaultEvents bool // Events were not asked for: skip what this kernel lacks
}

// sourceCtors builds a source by name, for the events of opts.
var sourceCtors = map[string]func(runOptions) (event.Source, error){
	"perf": func(o runOptions) (event.Source, error) {
		src, err := perfsrc.New(perfsrc.Config{Events: o.Events, Filter: o.Filter, RingPages: o.RingPages, SkipMissing: o.DefaultEvents})
		if err == nil && len(src.Missing()) > 0 {
			fmt.Fprintf(os.Stderr, "auperf: perf: this kernel has no tracepoints for %s: not traced\n", strings.Join(src.Missing(), ", "))
		}
		return src, err
	},
	"audit": func(runOptions) (event.Source, error) {
		return nil, errors.New("the audit source is not yet wired into auperf run")
	},
}

// sourcePlan is one source and the events it traces.
type sourcePlan struct {
	Source string
	Events []string
}

// planSources says which source traces which events. auto is perf for
// every event for now; the selector will pick per event (perf where its
// tracepoints open, audit for the rest and for 32-bit processes).
func planSources(source string, events []string) ([]sourcePlan, error) {
	switch source {
	case "auto":
		return []sourcePlan{{Source: "perf", Events: events}}, nil
	case "perf", "audit":
		return []sourcePlan{{Source: source, Events: events}}, nil
	}
	return nil, usagef("--source %q: want auto, perf or audit", source)
}

func runAction(c *cli.Context) error {
	if path := c.String("config"); path != "" {
		if err := applyConfig(c, path); err != nil {
			return err
		}
	}
	opts, err := runFlags(c)
	if err != nil {
		return err
	}
	command := c.Args().Slice()
	if len(command) > 0 && len(opts.Filter.PIDs) > 0 {
		return usagef("--pid and -- COMMAND exclude each other")
	}
	if len(command) > 0 {
		// The command is our only child: its tree is rooted at us (and
		// our own events are dropped by every source anyway).
		opts.Filter.PIDs = []int{os.Getpid()}
		opts.Filter.Tree = true
	}
	opts.Filter.Init()

	plan, err := planSources(c.String("source"), opts.Events)
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

	var sources []event.Source
	for _, sp := range plan {
		o := opts
		o.Events = sp.Events
		src, err := sourceCtors[sp.Source](o)
		if err != nil {
			for _, s := range sources {
				if c, ok := s.(io.Closer); ok {
					c.Close()
				}
			}
			return usagef("%s source: %v", sp.Source, err)
		}
		sources = append(sources, src)
	}
	p, err := pipeline.New(pipeline.Config{
		Sources:       sources,
		Filter:        opts.Filter,
		Sink:          out,
		Hostname:      host,
		StatsInterval: c.Duration("stats-interval"),
	})
	if err != nil {
		return err
	}
	if err := p.Attach(); err != nil {
		return usagef("%v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if d := c.Duration("duration"); d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	var cmd *exec.Cmd
	cmdDone := make(chan error, 1)
	if len(command) > 0 {
		cmd = exec.Command(command[0], command[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			p.Close()
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
				fmt.Fprintf(os.Stderr, "auperf: %d records lost by the kernel (reported in-stream as auperf_lost); a larger --ring-pages may help\n", n)
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

// runFlags validates the flags (no kernel touched yet).
func runFlags(c *cli.Context) (runOptions, error) {
	var o runOptions
	arch := perfsrc.NativeArch()
	if s := strings.TrimSpace(c.String("events")); s != "" {
		for _, n := range strings.Split(s, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if _, ok := decode.SyscallNumber(arch, n); !ok {
				return o, usagef("unknown event %q: not a %s syscall name", n, arch)
			}
			o.Events = append(o.Events, n)
		}
		if len(o.Events) == 0 {
			return o, usagef("--events is empty")
		}
	} else {
		o.DefaultEvents = true
	}
	for _, pid := range c.IntSlice("pid") {
		if pid <= 0 {
			return o, usagef("--pid %d: want a positive process id", pid)
		}
		o.Filter.PIDs = append(o.Filter.PIDs, pid)
	}
	for _, uid := range c.IntSlice("uid") {
		if uid < 0 || uid > 1<<32-1 {
			return o, usagef("--uid %d: out of range", uid)
		}
		o.Filter.UIDs = append(o.Filter.UIDs, uint32(uid))
	}
	for _, comm := range c.StringSlice("comm") {
		if comm == "" || len(comm) > 15 {
			return o, usagef("--comm %q: want a process name of 1 to 15 bytes (the kernel's comm)", comm)
		}
		o.Filter.Comms = append(o.Filter.Comms, comm)
	}
	o.Filter.Failed = c.Bool("failed")
	if c.IsSet("ring-pages") {
		n := c.Int("ring-pages")
		if n <= 0 || n&(n-1) != 0 {
			return o, usagef("--ring-pages %d: want a power of two", n)
		}
		o.RingPages = n
	}
	if c.Duration("duration") < 0 || c.Duration("stats-interval") < 0 {
		return o, usagef("--duration and --stats-interval must not be negative")
	}
	return o, nil
}

// outputQueue is the batches (32 KiB each) a sink may have queued: a file
// takes bursts of ~300k events/s from the perf source (json, ~250 MB/s)
// only with a deeper queue than output's default; 16 MiB per sink at most.
const outputQueue = 512

// runConfig is the --config file: the flags' settings under their names.
type runConfig struct {
	Source        string   `yaml:"source"`
	Events        []string `yaml:"events"`
	Output        []string `yaml:"output"`
	PID           []int    `yaml:"pid"`
	Comm          []string `yaml:"comm"`
	UID           []int    `yaml:"uid"`
	Failed        *bool    `yaml:"failed"`
	Duration      string   `yaml:"duration"`
	StatsInterval string   `yaml:"stats-interval"`
	RingPages     int      `yaml:"ring-pages"`
}

// applyConfig sets every flag the command line did not set from the file.
func applyConfig(c *cli.Context, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return usagef("--config: %v", err)
	}
	var rc runConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rc); err != nil && !errors.Is(err, io.EOF) {
		return usagef("--config %s: %s", path, strings.Join(strings.Fields(err.Error()), " "))
	}
	set := func(name string, values ...string) error {
		if c.IsSet(name) {
			return nil
		}
		for _, v := range values {
			if err := c.Set(name, v); err != nil {
				return usagef("--config %s: %s: %v", path, name, err)
			}
		}
		return nil
	}
	ints := func(v []int) []string {
		out := make([]string, len(v))
		for i, n := range v {
			out[i] = strconv.Itoa(n)
		}
		return out
	}
	steps := []error{}
	if rc.Source != "" {
		steps = append(steps, set("source", rc.Source))
	}
	if len(rc.Events) > 0 {
		steps = append(steps, set("events", strings.Join(rc.Events, ",")))
	}
	steps = append(steps, set("output", rc.Output...), set("pid", ints(rc.PID)...),
		set("comm", rc.Comm...), set("uid", ints(rc.UID)...))
	if rc.Failed != nil {
		steps = append(steps, set("failed", strconv.FormatBool(*rc.Failed)))
	}
	if rc.Duration != "" {
		steps = append(steps, set("duration", rc.Duration))
	}
	if rc.StatsInterval != "" {
		steps = append(steps, set("stats-interval", rc.StatsInterval))
	}
	if rc.RingPages != 0 {
		steps = append(steps, set("ring-pages", strconv.Itoa(rc.RingPages)))
	}
	return errors.Join(steps...)
}
