// `auperf decode`: audit logs turned into auperf events, offline.

package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/trace"
	"github.com/auperf/auperf/output"
)

func init() {
	register(&cli.Command{
		Name:      "decode",
		Usage:     "turn audit logs (auditd's RAW or ENRICHED audit.log, ausearch -r output) into auperf events",
		ArgsUsage: "FILE... (- for stdin)",
		Description: "Every SYSCALL event of the logs (SYSCALL, MMAP, PROCTITLE and EOE records grouped by serial)\n" +
			"becomes one event of the same schema as `auperf run` writes, with source \"audit\". Audit records only\n" +
			"a0..a3: later arguments are null (mmap's fd comes from the MMAP record). Interpreted output\n" +
			"(ausearch -i) is not read: use ausearch -r.",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "output", Usage: "`SPEC`: json, text, json:PATH, text:PATH, syslog[:udp|tcp|tls://H:P] (repeatable; default text on a terminal, json otherwise)"},
			&cli.StringFlag{Name: "events", Usage: "comma-separated syscall `LIST` to keep (default: every syscall in the logs)"},
		}, filterFlags()...),
		Action: decodeAction,
	})
}

func decodeAction(c *cli.Context) error {
	files := c.Args().Slice()
	if len(files) == 0 {
		return usagef("decode: no FILE given (- reads stdin)")
	}
	var cfg auditsrc.LogConfig
	if s := c.String("events"); strings.TrimSpace(s) != "" {
		evs, err := trace.ParseEvents("--events", s, trace.AnyNames)
		if err != nil {
			return err
		}
		cfg.Events = evs
	}
	f, err := trace.ParseFilter(c.IntSlice("pid"), c.IntSlice("uid"), c.StringSlice("comm"), c.Bool("failed"))
	if err != nil {
		return err
	}
	cfg.Filter = f

	// Open every input before writing anything.
	var inputs []io.Reader
	for _, name := range files {
		if name == "-" {
			inputs = append(inputs, os.Stdin)
			continue
		}
		fh, err := os.Open(name)
		if err != nil {
			return usagef("decode: %v", err)
		}
		defer fh.Close()
		inputs = append(inputs, fh)
	}

	specs := c.StringSlice("output")
	if len(specs) == 0 {
		tty := c.App.Writer == os.Stdout && output.IsTerminal(os.Stdout)
		specs = []string{output.DefaultSpec(tty)}
	}
	out, err := output.Open(specs, output.Options{Stdout: c.App.Writer})
	if err != nil {
		return usagef("%v", err)
	}
	total := uint64(0)
	var derr error
	for i, in := range inputs {
		st, err := auditsrc.DecodeLog(in, cfg, func(ev *event.Event) { out.Write(ev) })
		total += st.Events
		if err != nil {
			derr = fmt.Errorf("decode %s: %w", files[i], err)
			break
		}
		if st.Records == 0 && st.Lines > 0 {
			fmt.Fprintf(c.App.ErrWriter, "auperf: %s: no audit records (interpreted ausearch -i output? use ausearch -r)\n", files[i])
		}
	}
	if err := out.Close(); derr == nil {
		derr = err
	}
	return derr
}
