// `auperf report`: a per-process summary of auperf JSON lines.

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/internal/report"
)

func init() {
	register(&cli.Command{
		Name:      "report",
		Usage:     "summarise auperf JSON lines per process: syscalls, failures, msync coverage, locked memory, findings",
		ArgsUsage: "[FILE|-]",
		Description: "Reads the JSON lines of auperf run or auperf decode (args as an array or an object; - or no FILE:\n" +
			"stdin) and prints per process: syscall counts and failures by errno, shared writable file mappings\n" +
			"with their msync coverage, locked memory over time, and the findings (msync_missing,\n" +
			"msync_async_only, msync_partial, mem_wx, mlock_inventory, remap_file_pages_deprecated). The\n" +
			"findings are the input's own when it has any (auperf run --insights); otherwise they are derived\n" +
			"here from the syscall events. Offline, a process's end is known only from an exit_group event in\n" +
			"the input: without one its mappings are \"still mapped\" and memory it kept locked is not a finding.\n" +
			"Lines that are not auperf JSON are counted and skipped.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "write the report as JSON instead of text"},
			&cli.StringFlag{Name: "html", Usage: "also write one self-contained HTML page to `FILE` (a timeline per process and sortable tables; no network needed)"},
		},
		Action: reportAction,
	})
}

func reportAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef("report takes one FILE (or - for stdin)")
	}
	var in io.Reader = os.Stdin
	name := c.Args().First()
	if name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return usagef("report: %v", err)
		}
		defer f.Close()
		in = f
	}
	rep, err := report.Build(bufio.NewReaderSize(in, 1<<20))
	if err != nil {
		return fmt.Errorf("report: read %s: %w", displayName(name), err)
	}
	if path := c.String("html"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := report.WriteHTML(f, rep); err != nil {
			f.Close()
			return fmt.Errorf("report: write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("report: write %s: %w", path, err)
		}
	}
	if c.Bool("json") {
		return report.WriteJSON(os.Stdout, rep)
	}
	return report.WriteText(os.Stdout, rep)
}

func displayName(name string) string {
	if name == "" || name == "-" {
		return "stdin"
	}
	return name
}
