// `auperf decode`: audit logs turned into auperf events, offline: every
// input checked before anything is written, compressed logs read,
// outputs that wait for their reader, a summary of what was skipped and
// why, and --follow for a growing audit.log across rotation.

package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/internal/trace"
	"github.com/auperf/auperf/output"
)

func init() {
	register(&cli.Command{
		Name:      "decode",
		Usage:     "turn audit logs (auditd's RAW or ENRICHED audit.log, ausearch -r output) into auperf events",
		ArgsUsage: "FILE... (- for stdin)",
		Description: "Every SYSCALL event of the logs (SYSCALL, MMAP, PROCTITLE and EOE records grouped by host and\n" +
			"serial) becomes one event of the same schema as `auperf run` writes, with source \"audit\" and the\n" +
			"host of a node= prefix as hostName. Audit records only a0..a3: later arguments are null (mmap's fd\n" +
			"comes from the MMAP record). gzip-compressed files are read as they are (found by content).\n" +
			"Interpreted output (ausearch -i) is not read: use ausearch -r.\n\n" +
			"Outputs wait for their reader: nothing is dropped. At the end a summary goes to stderr (--quiet:\n" +
			"none): lines, records, events, and what was skipped, by reason, with its first places. Exit\n" +
			"status: 0; 1 when anything was skipped or a file could not be read (--lenient: 0 for skipped\n" +
			"records); 2 for usage errors (a missing file, a directory), checked before anything is written.",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "output", Usage: "`SPEC`: json, text, json:PATH, text:PATH, syslog[:udp|tcp|tls://H:P] (repeatable; default text on a terminal, json otherwise)"},
			&cli.StringFlag{Name: "events", Usage: "comma-separated syscall `LIST` to keep (default: every syscall in the logs)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no summary on stderr"},
			&cli.BoolFlag{Name: "lenient", Usage: "exit 0 even when records were skipped"},
			&cli.BoolFlag{Name: "follow", Usage: "follow FILE as it grows, across auditd's rotation (rename and recreate), until SIGINT/SIGTERM"},
		}, filterFlags()...),
		Action: decodeAction,
	})
}

func decodeAction(c *cli.Context) error {
	files := c.Args().Slice()
	if len(files) == 0 {
		return usagef("decode: no FILE given (- reads stdin)")
	}
	follow := c.Bool("follow")
	if follow && (len(files) != 1 || files[0] == "-") {
		return usagef("decode --follow takes one FILE (not -)")
	}
	cfg := auditsrc.LogConfig{Follow: follow}
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

	// Every input is checked before anything is written.
	for _, name := range files {
		if name == "-" {
			continue
		}
		st, err := os.Stat(name)
		if err != nil {
			return usagef("decode: %v", err)
		}
		if st.IsDir() {
			return usagef("decode: %s is a directory (name the log files in it)", name)
		}
	}

	specs := c.StringSlice("output")
	if len(specs) == 0 {
		tty := c.App.Writer == os.Stdout && output.IsTerminal(os.Stdout)
		specs = []string{output.DefaultSpec(tty)}
	}
	// The input can wait for the outputs: they never drop.
	out, err := output.Open(specs, output.Options{Stdout: c.App.Writer, Block: true})
	if err != nil {
		return usagef("%v", err)
	}
	dec, err := auditsrc.NewLogDecoder(cfg, out.Write)
	if err != nil {
		out.Close()
		return usagef("%v", err)
	}
	var problems []string
	if follow {
		err = followLog(dec, files[0])
	} else {
		for _, name := range files {
			if perr := decodeFile(dec, name); perr != nil {
				problems = append(problems, perr.Error())
			}
		}
	}
	dec.Flush()
	cerr := out.Close()
	st := dec.Stats()
	if !c.Bool("quiet") {
		writeSummary(c.App.ErrWriter, st, problems)
	}
	switch {
	case err != nil:
		return err
	case cerr != nil:
		return cerr
	case len(problems) > 0 || st.SkippedTotal() > 0 && !c.Bool("lenient"):
		return exitStatus(1)
	}
	return nil
}

// decodeFile decodes one input; an input that is no audit log (binary,
// compressed otherwise than with gzip, auperf's own JSON) is an error.
func decodeFile(dec *auditsrc.LogDecoder, name string) error {
	var r io.Reader = os.Stdin
	if name != "-" {
		fh, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		defer fh.Close()
		r = fh
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(512)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: gzip: %v", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
		head, _ = br.Peek(512)
	}
	if why := auditsrc.Sniff(head); why != "" {
		return fmt.Errorf("%s: %s", name, why)
	}
	if err := dec.Read(br, name); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

// followLog decodes path as it grows, like tail -F: to the end, then what
// is appended; when auditd rotates it (rename, new file at path) the old
// file is read to its end and the new one from its start; a file cut
// short is read again from its start. Groups waiting for their last
// record are completed after two seconds. Until SIGINT or SIGTERM.
func followLog(dec *auditsrc.LogDecoder, path string) error {
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	fh, err := os.Open(path)
	if err != nil {
		return usagef("decode: %v", err)
	}
	defer func() { fh.Close() }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := dec.Read(fh, path); err != nil {
			return err
		}
		dec.FlushOlder(2 * time.Second)
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		cur, err1 := fh.Stat()
		now, err2 := os.Stat(path)
		switch {
		case err1 != nil:
			return fmt.Errorf("decode --follow: %v", err1)
		case err2 != nil:
			// Renamed, the new file not there yet: keep reading the old.
		case !os.SameFile(cur, now):
			if err := dec.Read(fh, path); err != nil { // the old file's rest
				return err
			}
			nf, err := os.Open(path)
			if err != nil {
				continue // not readable yet
			}
			fh.Close()
			fh = nf
		default:
			if off, err := fh.Seek(0, io.SeekCurrent); err == nil && now.Size() < off {
				fh.Seek(0, io.SeekStart) // cut short (truncated in place)
			}
		}
	}
}

// writeSummary says what was read and what was skipped.
func writeSummary(w io.Writer, st auditsrc.LogStats, problems []string) {
	fmt.Fprintf(w, "auperf decode: %d lines, %d records, %d events\n", st.Lines, st.Records, st.Events)
	for _, p := range problems {
		fmt.Fprintf(w, "auperf decode: not read: %s\n", p)
	}
	if n := st.SkippedTotal(); n > 0 {
		fmt.Fprintf(w, "auperf decode: skipped %d:\n", n)
		for _, reason := range st.Reasons() {
			s := st.Skipped[reason]
			places := strings.Join(s.Places, ", ")
			if uint64(len(s.Places)) < s.Count {
				places += ", ..."
			}
			if places != "" {
				places = " (" + places + ")"
			}
			fmt.Fprintf(w, "  %d %s%s\n", s.Count, reason, places)
		}
	}
}
