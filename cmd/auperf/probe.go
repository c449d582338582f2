// `auperf probe`: what this kernel offers and what run would plan, read-only.

package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/internal/trace"
	"github.com/auperf/auperf/selector"
)

func init() {
	register(&cli.Command{
		Name:  "probe",
		Usage: "show what this kernel offers (perf tracepoints, audit, ia32), what --source auto would pick per event, and why",
		Description: "Read-only: probe mounts nothing, changes no audit setting and closes the one perf event it opens.\n" +
			"With --source perf|audit it shows whether that source alone can work, and exits 2 if it cannot;\n" +
			"it exits 2 too when no event can be traced here at all.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document (shape: selector/doc.go)"},
			&cli.StringFlag{Name: "events", Usage: "comma-separated syscalls to plan (default: the memory family)"},
			&cli.StringFlag{Name: "source", Value: "auto", Usage: "plan for `auto`, perf or audit"},
			&cli.StringFlag{Name: "b32", Value: "auto", Usage: "plan audit b32 rules for 32-bit callers: `auto`, on or off (as run's --b32)"},
			// For tests and support: probe a host root copied elsewhere.
			&cli.StringFlag{Name: "procfs", Hidden: true},
			&cli.StringFlag{Name: "sysfs", Hidden: true},
			&cli.StringFlag{Name: "rootfs", Hidden: true},
			&cli.StringFlag{Name: "tracefs", Hidden: true},
			&cli.StringFlag{Name: "fixture", Hidden: true, Usage: "a testdata/roots directory (kernel.yaml answers for the kernel)"},
		},
		Action: probeAction,
	})
}

func probeAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("probe takes no arguments (got %q)", c.Args().First())
	}
	force, err := selector.ParseSource(c.String("source"))
	if err != nil {
		return usagef("%v", err)
	}
	events, err := parseEvents(c.String("events"))
	if err != nil {
		return err
	}
	cfg, err := selectorConfig(c)
	if err != nil {
		return err
	}
	if cfg.B32, err = selector.ParseB32(c.String("b32")); err != nil {
		return usagef("--b32 %v", err)
	}
	host := selector.Probe(cfg, events)
	plan, planErr := host.Plan(events, force)
	nothing := planErr == nil && plan.Usable() != nil
	rep := selector.NewReport(host, plan, planErr)
	if nothing {
		// The table says "nothing can be traced here"; the JSON says
		// why, in the same words run refuses with.
		rep.Error = plan.Usable().Error()
	}
	if cfg.Kernel == nil && cfg.ProcFS == "" {
		rep.Leftover = trace.Leftovers() // the real host only
	}
	if c.Bool("json") {
		err = rep.WriteJSON(c.App.Writer)
	} else {
		err = rep.WriteText(c.App.Writer)
	}
	if err != nil {
		return err
	}
	if planErr != nil || nothing {
		return exitStatus(2)
	}
	return nil
}

// parseEvents splits --events; "" is the default memory family. Unknown
// names are a usage error.
func parseEvents(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return append([]string(nil), decode.DefaultEvents...), nil
	}
	return trace.ParseEvents("--events", s, trace.NativeNames)
}

// selectorConfig builds the selector's host paths from the hidden flags.
func selectorConfig(c *cli.Context) (selector.Config, error) {
	var cfg selector.Config
	if dir := c.String("fixture"); dir != "" {
		var err error
		if cfg, err = selector.FixtureConfig(dir); err != nil {
			return cfg, usagef("--fixture: %v", err)
		}
	}
	for _, f := range []struct {
		flag string
		dst  *string
	}{{"procfs", &cfg.ProcFS}, {"sysfs", &cfg.SysFS}, {"rootfs", &cfg.RootFS}, {"tracefs", &cfg.TraceFS}} {
		if v := c.String(f.flag); v != "" {
			*f.dst = v
		}
	}
	if cfg.ProcFS == "" && cfg.SysFS == "" && cfg.RootFS == "" && cfg.Kernel == nil && cfg.TraceFS == "" {
		return cfg, nil
	}
	if cfg.Kernel == nil && (cfg.ProcFS != "" || cfg.SysFS != "") {
		return cfg, usagef("--procfs/--sysfs need --fixture: the running kernel cannot answer for another host")
	}
	return cfg, nil
}
