// `auperf cleanup`: restore what a killed run left.

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/internal/trace"
)

func init() {
	register(&cli.Command{
		Name:  "cleanup",
		Usage: "restore what a killed auperf run left: audit status, rules and exclusions, tracefs mounts",
		Description: "A run restores the host itself when it stops; after SIGKILL (or a crash, or power loss) its state\n" +
			"file in /run/auperf says what it changed, and cleanup puts that back: the audit enabled flag,\n" +
			"backlog_limit, backlog_wait_time and rate_limit as that run found them, the rules with auperf's key,\n" +
			"its lean-mode exclusions, and a tracefs or debugfs it mounted. It prints one line per change and\n" +
			"exits 0 when there is nothing to do. A running auperf's state is left alone. Every start of\n" +
			"`auperf run` does the same first; the systemd unit runs it as ExecStopPost.",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("cleanup takes no arguments (got %q); see 'auperf cleanup --help'", c.Args().First())
			}
			did, err := trace.Cleanup()
			for _, l := range did {
				fmt.Fprintf(c.App.Writer, "auperf cleanup: %s\n", l)
			}
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			if len(did) == 0 {
				fmt.Fprintln(c.App.Writer, "auperf cleanup: nothing to restore")
			}
			return nil
		},
	})
}
