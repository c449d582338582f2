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
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/pipeline"
	"github.com/auperf/auperf/output"
	"github.com/auperf/auperf/perfsrc"
	"github.com/auperf/auperf/selector"
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
			&cli.StringFlag{Name: "audit-backpressure", Value: "wait", Usage: "when auperf reads audit too slowly: `wait` (audited processes wait, nothing lost) or drop (lost records counted)"},
			&cli.StringFlag{Name: "audit-lean", Value: "auto", Usage: "`auto`: while auperf is the only audit reader, exclude PROCTITLE and EOE records (two keyless exclude rules, removed on exit or when another reader appears; about half the cost per audited call); off: load only auperf's keyed syscall rules"},
			&cli.IntFlag{Name: "audit-backlog-limit", Usage: "audit backlog_limit while tracing, in records (0: 8192 when auperf is the audit daemon, unchanged next to auditd)"},
			&cli.StringFlag{Name: "config", Usage: "YAML `FILE` with the same settings (keys as the long flags; flags win)"},
			// For tests and support: split events between the sources by
			// hand ("perf=msync,mmap", "audit=mprotect") instead of the
			// selector's choice; probing still decides what can work.
			&cli.StringSliceFlag{Name: "source-events", Hidden: true},
		},
		Action: runAction,
	})
}

// runOptions is what the flags say, shared by every source's constructor,
// and what the plan gives one source.
type runOptions struct {
	Events            []string // nil: the default events
	Filter            filter.Spec
	RingPages         int
	AuditBackpressure auditsrc.Backpressure
	AuditBacklogLimit uint32
	AuditLean         auditsrc.Lean
	// Overrides (--source-events) split the events by hand.
	Overrides map[selector.Source][]string

	// Set from the plan for one source.
	B32Events []string // audit: events whose 32-bit callers get b32 rules
	TraceFS   string   // perf: the tracefs directory ("" = find it)
	Multicast bool     // audit: read alongside the audit daemon
}

// sourceCtors builds a source by name, for the events of opts.
var sourceCtors = map[string]func(runOptions) (event.Source, error){
	"perf": func(o runOptions) (event.Source, error) {
		src, err := perfsrc.New(perfsrc.Config{Events: o.Events, Filter: o.Filter, RingPages: o.RingPages,
			Paths: perfsrc.Paths{Tracefs: o.TraceFS}})
		if err != nil {
			return nil, err
		}
		return src, nil
	},
	"audit": func(o runOptions) (event.Source, error) {
		cfg := auditsrc.Config{Events: o.Events, B32Events: o.B32Events, Filter: o.Filter,
			Backpressure: o.AuditBackpressure, BacklogLimit: o.AuditBacklogLimit, StartsCommand: o.Filter.Tree,
			Lean: o.AuditLean}
		// Native rules only for the events audit traces itself; b32
		// rules for the 32-bit side of every planned event.
		if len(o.Events) > 0 {
			cfg.Archs = append(cfg.Archs, decode.NativeArch())
		}
		if len(o.B32Events) > 0 && decode.NativeArch() == decode.ArchX86_64 {
			cfg.Archs = append(cfg.Archs, decode.ArchI386)
		}
		if len(o.Events) == 0 {
			cfg.Events = o.B32Events // (nil would mean the default events)
		}
		if o.Multicast {
			cfg.Mode = auditsrc.ModeMulticast
		}
		src, err := auditsrc.New(cfg)
		if err != nil {
			return nil, err
		}
		return src, nil
	},
}

func warnf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "auperf: warning: "+format+"\n", a...)
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

	plan, err := selectPlan(c.String("source"), opts)
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

	att, err := attachPlan(plan, opts)
	if err != nil {
		return err
	}
	defer att.unmount()

	p, err := pipeline.New(pipeline.Config{
		Sources:       att.sources,
		Filter:        opts.Filter,
		Sink:          out,
		Hostname:      host,
		StatsInterval: c.Duration("stats-interval"),
	})
	if err != nil {
		att.close()
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if d := c.Duration("duration"); d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	var cmd *exec.Cmd
	cmdDone := make(chan error, 1)
	if len(command) > 0 {
		cmd = exec.Command(command[0], command[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := att.startCommand(cmd); err != nil {
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

// selectPlan probes the host (read-only) and plans which source traces
// which event: --source forces one, and a forced source that cannot work
// here, or a plan that traces nothing, is a one-line refusal (exit 2).
func selectPlan(source string, opts runOptions) (*selector.Plan, error) {
	force, err := selector.ParseSource(source)
	if err != nil {
		return nil, usagef("--source: %v", err)
	}
	events := opts.Events
	if len(opts.Overrides) > 0 {
		if force != selector.SourceAuto {
			return nil, usagef("--source-events needs --source auto")
		}
		events = slices.Concat(opts.Overrides[selector.SourcePerf], opts.Overrides[selector.SourceAudit])
	}
	if events == nil {
		events = slices.Clone(decode.DefaultEvents)
	}
	plan, err := selector.Select(selector.Config{}, events, force)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if plan, err = overridePlan(plan, opts.Overrides); err != nil {
		return nil, err
	}
	if err := plan.Usable(); err != nil {
		return nil, usagef("%v", err)
	}
	return plan, nil
}

// overridePlan gives each source the events --source-events names (the
// audit b32 rules stay as planned).
func overridePlan(p *selector.Plan, ov map[selector.Source][]string) (*selector.Plan, error) {
	if len(ov) == 0 {
		return p, nil
	}
	np := *p
	np.Events = slices.Clone(p.Events)
	np.Perf, np.Audit = nil, nil
	if evs := ov[selector.SourcePerf]; len(evs) > 0 {
		if p.Perf == nil {
			return nil, usagef("--source-events perf=...: perf cannot work here")
		}
		pp := *p.Perf
		pp.Events = evs
		np.Perf = &pp
	}
	ap := selector.AuditPlan{Multicast: p.Host.Multicast, Owner: p.Host.AuditOwner, Enabled: p.Host.Audit.Enabled}
	if p.Audit != nil {
		ap = *p.Audit
	}
	ap.Events = ov[selector.SourceAudit]
	if len(ap.Events) > 0 || len(ap.B32Events) > 0 {
		np.Audit = &ap
	}
	for i, e := range np.Events {
		for src, evs := range ov {
			if slices.Contains(evs, e.Name) {
				np.Events[i].Source, np.Events[i].Reason = src, "--source-events"
			}
		}
	}
	return &np, nil
}

// attached is a plan whose sources are attached: what runs, and what to
// undo when it has run.
type attached struct {
	plan    *selector.Plan
	opts    runOptions
	sources []event.Source
	audit   *auditsrc.Source // nil when audit is not in the plan
	warned  int              // audit warnings printed
	unmount func()           // a tracefs we mounted
}

// attachPlan starts the plan's sources so that everything from now on is
// traced: tracefs mounted if the plan says it must be (and the plan made
// again with the real tracepoints), perf attached (in auto mode its
// events move to audit when it fails), then audit. On error nothing of
// theirs is left attached or mounted.
func attachPlan(plan *selector.Plan, opts runOptions) (*attached, error) {
	a := &attached{plan: plan, opts: opts, unmount: func() {}}
	if a.plan.Perf != nil {
		if err := a.attachPerf(); err != nil {
			a.unmount()
			a.unmount = func() {}
			var ue *selector.UnusableError
			if errors.As(err, &ue) {
				return nil, usagef("%v", err)
			}
			np, perr := a.plan.WithoutPerf(err)
			if perr != nil {
				return nil, usagef("%v", perr)
			}
			if np, perr = overridePlan(np, opts.Overrides); perr != nil {
				return nil, perr
			}
			warnf("the perf source failed to start (%v): the audit source traces its events instead", err)
			a.plan = np
		}
	}
	if ap := a.plan.Audit; ap != nil {
		o := a.opts
		o.Events, o.B32Events, o.Multicast = ap.Events, ap.B32Events, ap.Multicast
		src, err := sourceCtors["audit"](o)
		if err == nil {
			a.audit = src.(*auditsrc.Source)
			if err = a.audit.Attach(); err != nil {
				a.audit = nil // (Attach undid what it did)
			}
		}
		switch {
		case err == nil:
			a.sources = append(a.sources, src)
			a.printAuditWarnings()
		case len(a.sources) > 0 && len(ap.Events) == 0:
			// Only the 32-bit side was audit's: perf still works.
			warnf("the audit source failed to start (%v): 32-bit (ia32) syscalls are not seen", err)
		default:
			a.close()
			return nil, usagef("audit source: %v", err)
		}
	}
	if len(a.sources) == 0 {
		a.close()
		if err := a.plan.Usable(); err != nil {
			return nil, usagef("%v", err)
		}
		return nil, usagef("no source could start")
	}
	for _, e := range a.plan.Events {
		if e.Source == selector.SourceNone {
			warnf("%s is not traced: %s", e.Name, e.Reason)
		}
	}
	for _, n := range a.plan.Notes {
		// Audit's own notes come again, more precisely, from the
		// audit source's warnings.
		if !strings.HasPrefix(n, "audit: ") {
			warnf("%s", n)
		}
	}
	return a, nil
}

// attachPerf mounts tracefs when the plan says run must, plans again with
// the real tracepoints, and attaches the perf source.
func (a *attached) attachPerf() error {
	tf := a.plan.Perf.TraceFS
	if tf.State == selector.TraceFSMountable {
		dir, undo, err := mountTracefs(tf)
		if err != nil {
			return err
		}
		a.unmount = undo
		np, err := a.plan.Replan(dir)
		if err != nil {
			return err
		}
		if np, err = overridePlan(np, a.opts.Overrides); err != nil {
			return err
		}
		a.plan = np
		if np.Perf == nil {
			undo()
			a.unmount = func() {}
			return nil
		}
		tf = np.Perf.TraceFS
	}
	o := a.opts
	o.Events, o.TraceFS = a.plan.Perf.Events, tf.Dir
	src, err := sourceCtors["perf"](o)
	if err != nil {
		return err
	}
	if at, ok := src.(pipeline.Attacher); ok {
		if err := at.Attach(); err != nil {
			closeSource(src)
			return err
		}
	}
	a.sources = append(a.sources, src)
	return nil
}

func closeSource(s event.Source) {
	if c, ok := s.(io.Closer); ok {
		c.Close()
	}
}

// mountTracefs mounts what the plan says (tracefs on /sys/kernel/tracing,
// or debugfs before 4.1) and returns the tracefs directory and the undo.
func mountTracefs(tf selector.TraceFS) (string, func(), error) {
	if tf.FSType == "debugfs" {
		if err := unix.Mount("debugfs", tf.Path, "debugfs", 0, ""); err != nil {
			return "", nil, fmt.Errorf("mount debugfs on %s: %w", tf.Path, err)
		}
		return filepath.Join(tf.Path, "tracing"), func() { perfsrc.Unmount(tf.Path) }, nil
	}
	dir, mounted, err := perfsrc.FindTracefs(perfsrc.Paths{})
	if err != nil {
		return "", nil, err
	}
	if !mounted {
		return dir, func() {}, nil
	}
	return dir, func() { perfsrc.Unmount(dir) }, nil
}

// startCommand starts the traced command. Only one source may fork it:
// audit, when it runs, forks it into an audit session of its own (its
// rules follow that session); perf needs nothing more than the command
// being our child, which it is either way (it follows FORK records from
// our pid).
func (a *attached) startCommand(cmd *exec.Cmd) error {
	if a.audit == nil {
		return cmd.Start()
	}
	err := a.audit.StartCommand(cmd)
	a.printAuditWarnings()
	return err
}

func (a *attached) printAuditWarnings() {
	w := a.audit.Warnings()
	for _, l := range w[min(a.warned, len(w)):] {
		warnf("%s", l)
	}
	a.warned = len(w)
}

// close releases the attached sources of a plan that will not run.
func (a *attached) close() {
	for _, s := range a.sources {
		closeSource(s)
	}
	a.sources = nil
	a.unmount()
	a.unmount = func() {}
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
	var err error
	if s := strings.TrimSpace(c.String("events")); s != "" {
		if o.Events, err = eventList("--events", s); err != nil {
			return o, err
		}
	}
	for _, spec := range c.StringSlice("source-events") {
		src, list, ok := strings.Cut(spec, "=")
		if !ok || src != string(selector.SourcePerf) && src != string(selector.SourceAudit) {
			return o, usagef("--source-events %q: want perf=LIST or audit=LIST", spec)
		}
		evs, err := eventList("--source-events", list)
		if err != nil {
			return o, err
		}
		if o.Overrides == nil {
			o.Overrides = map[selector.Source][]string{}
		}
		o.Overrides[selector.Source(src)] = append(o.Overrides[selector.Source(src)], evs...)
	}
	if o.AuditBackpressure, err = auditsrc.ParseBackpressure(c.String("audit-backpressure")); err != nil {
		return o, usagef("--audit-backpressure: %v", err)
	}
	if o.AuditLean, err = auditsrc.ParseLean(c.String("audit-lean")); err != nil {
		return o, usagef("--audit-lean: %v", err)
	}
	n := c.Int("audit-backlog-limit")
	if n < 0 || n > 1<<32-1 {
		return o, usagef("--audit-backlog-limit %d: out of range", n)
	}
	o.AuditBacklogLimit = uint32(n)
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

// eventList parses a comma-separated list of syscall names of this arch.
func eventList(flag, s string) ([]string, error) {
	arch := decode.NativeArch()
	var out []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if _, ok := decode.SyscallNumber(arch, n); !ok {
			return nil, usagef("unknown event %q: not a %s syscall name", n, arch)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, usagef("%s is empty", flag)
	}
	return out, nil
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
	// Audit.
	AuditBackpressure string `yaml:"audit-backpressure"`
	AuditBacklogLimit int    `yaml:"audit-backlog-limit"`
	AuditLean         string `yaml:"audit-lean"`
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
	// Scalars the file leaves empty (or 0) keep the flag's default.
	for _, kv := range [][2]string{
		{"duration", rc.Duration},
		{"stats-interval", rc.StatsInterval},
		{"ring-pages", nonZero(rc.RingPages)},
		{"audit-backpressure", rc.AuditBackpressure},
		{"audit-lean", rc.AuditLean},
		{"audit-backlog-limit", nonZero(rc.AuditBacklogLimit)},
	} {
		if kv[1] != "" {
			steps = append(steps, set(kv[0], kv[1]))
		}
	}
	return errors.Join(steps...)
}

// nonZero is n in decimal, or "" for 0 (not set in the config file).
func nonZero(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
