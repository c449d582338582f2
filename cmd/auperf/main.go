// Command auperf traces memory-management syscalls without eBPF, from perf
// syscall tracepoints or the kernel audit subsystem (docs/DESIGN.md). This
// package holds the command line only: flags, signals and exit statuses;
// what a command does lives in the packages it calls (internal/trace for
// run).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/internal/crash"
	"github.com/auperf/auperf/internal/trace"
)

// version is stamped by the Makefile (-ldflags -X main.version=...).
var version = "dev"

// commands is filled by each command's file (init), so that a command is
// registered exactly when its file exists and works.
var commands []*cli.Command

// register adds a command. Its usage errors (a bad flag value, an unknown
// flag) become one line with a hint, exit 2, like every other usage error.
func register(c *cli.Command) {
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usageHint(c.Name, c.Flags, err)
	}
	commands = append(commands, c)
}

// usagef marks a bad invocation: exit status 2, one line on stderr.
func usagef(format string, a ...any) error { return trace.Usagef(format, a...) }

// versionLine is what --version and `auperf version` print.
func versionLine() string {
	return fmt.Sprintf("auperf %s (%s, %s/%s)", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newApp() *cli.App {
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, versionLine()) }
	return &cli.App{
		Name:                 "auperf",
		Usage:                "trace memory-management syscalls without eBPF (perf tracepoints or kernel audit)",
		Version:              version,
		Commands:             commands,
		EnableBashCompletion: false,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageHint("", nil, err)
		},
		// Without an action, an unknown command would print help and
		// exit 3; it is a usage error like any other.
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			return usagef("unknown command %q; see 'auperf --help'", c.Args().First())
		},
	}
}

func main() {
	// A write to a stdout whose reader went away (| head) returns EPIPE
	// instead of killing auperf: every command ends cleanly, and run
	// restores the kernel state first. (A handler, not SIG_IGN: a traced
	// command gets SIGPIPE's default back at exec.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	crash.Exit(runMain(os.Args))
}

// runMain runs the app and maps errors to exit statuses: 2 for usage errors,
// 1 for failures, or a traced command's own status (exitStatus).
func runMain(args []string) int {
	invocation = args
	err := newApp().Run(args)
	if err == nil {
		return 0
	}
	var st exitStatus
	if asExit(err, &st) {
		return int(st)
	}
	fmt.Fprintf(os.Stderr, "auperf: %v\n", err)
	if isUsage(err) {
		return 2
	}
	return 1
}
