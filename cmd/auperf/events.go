// `auperf events`: the event catalog.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/internal/trace"
)

func init() {
	register(&cli.Command{
		Name:      "events",
		Usage:     "list the event catalog: arguments, C types, decoders, perf tracepoints, audit rules",
		ArgsUsage: "[SYSCALL...]",
		Description: "Without names it lists the default events (the memory family). Any syscall of the x86_64 or\n" +
			"i386 table can be named; those without a spec are decoded generically (raw argument words).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document"},
			&cli.StringFlag{Name: "events", Usage: "comma-separated syscall names to describe instead of the defaults"},
		},
		Action: eventsAction,
	})
}

func eventsAction(c *cli.Context) error {
	names, err := catalogNames(c.String("events"), c.Args().Slice())
	if err != nil {
		return err
	}
	doc := newEventsDoc(decode.Catalog(names))
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	return doc.writeText(c.App.Writer)
}

// catalogNames gathers the events to describe from --events and the
// positional names (nil: the defaults). A name that no syscall table of
// ours knows is a usage error.
func catalogNames(list string, args []string) ([]string, error) {
	all := strings.Join(append([]string{list}, args...), ",")
	if strings.Trim(all, ", \t") == "" {
		return nil, nil
	}
	return trace.ParseEvents("--events", all, trace.AnyNames)
}

// eventsDoc is what `auperf events --json` prints.
type eventsDoc struct {
	Events []eventDoc `json:"events"`
}

type eventDoc struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Numbers: the syscall number per arch ("x86_64", "i386", "aarch64")
	// where the arch has a syscall of that name.
	Numbers map[string]int `json:"numbers"`
	// Generic: no spec; arguments are raw words named by the tracepoint
	// format (perf) or arg0.. (audit).
	Generic     bool     `json:"generic"`
	Args        []argDoc `json:"args"`
	Tracepoints []string `json:"tracepoints"`
	AuditRules  []string `json:"auditRules"`
	I386Names   []string `json:"i386Names"`
	Notes       []string `json:"notes,omitempty"`
}

type argDoc struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Decoder string `json:"decoder,omitempty"`
}

var catalogArchs = []decode.Arch{decode.ArchX86_64, decode.ArchI386, decode.ArchARM64, decode.ArchARM}

func newEventsDoc(entries []decode.CatalogEntry) eventsDoc {
	doc := eventsDoc{Events: make([]eventDoc, 0, len(entries))}
	for _, e := range entries {
		d := eventDoc{
			Name: e.Name, Description: e.Description, Numbers: map[string]int{},
			Args: []argDoc{}, Tracepoints: e.Tracepoints, AuditRules: e.AuditRules,
			I386Names: decode.I386Names(e.Name),
		}
		_, d.Generic = decode.Spec(e.Name)
		d.Generic = !d.Generic
		for _, a := range catalogArchs {
			if nr, ok := decode.SyscallNumber(a, e.Name); ok {
				d.Numbers[a.String()] = nr
			}
		}
		for _, a := range e.Args {
			d.Args = append(d.Args, argDoc{Name: a.Name, Type: a.Type, Decoder: a.DecoderName})
		}
		if d.Tracepoints == nil {
			d.Tracepoints = []string{}
		}
		if d.AuditRules == nil {
			d.AuditRules = []string{}
		}
		if d.I386Names == nil {
			d.I386Names = []string{}
		}
		if _, ok := decode.SyscallNumber(decode.ArchX86_64, e.Name); !ok {
			d.Notes = append(d.Notes, "x86_64 has no "+e.Name+": no perf tracepoint, no b64 audit rule")
		} else if len(e.Tracepoints) == 0 {
			d.Notes = append(d.Notes, "the kernel does not implement "+e.Name+": no tracepoint")
		}
		if len(d.I386Names) == 0 {
			d.Notes = append(d.Notes, "i386 has no "+e.Name+": no b32 audit rule")
		}
		if e.Name == "mmap" {
			d.Notes = append(d.Notes, "i386 mmap (90) takes one pointer to a struct of the six arguments; 32-bit libcs call mmap2")
		}
		if len(e.Args) > 4 {
			n := "audit's SYSCALL record holds a0..a3 only: later arguments are null in audit events"
			if e.Name == "mmap" || e.Name == "mmap2" {
				n += " (except fd, from the MMAP record of a file mapping)"
			}
			d.Notes = append(d.Notes, n)
		}
		doc.Events = append(doc.Events, d)
	}
	return doc
}

func (doc eventsDoc) writeText(w io.Writer) error {
	var b strings.Builder
	for i, e := range doc.Events {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s: %s\n", e.Name, e.Description)
		var nums []string
		for _, a := range catalogArchs {
			if nr, ok := e.Numbers[a.String()]; ok {
				nums = append(nums, fmt.Sprintf("%s %d", a, nr))
			}
		}
		fmt.Fprintf(&b, "  number:      %s\n", strings.Join(nums, ", "))
		switch {
		case e.Generic:
			b.WriteString("  args:        raw words, named by the tracepoint format (perf) or arg0.. (audit)\n")
		case len(e.Args) == 0:
			b.WriteString("  args:        none\n")
		default:
			width := 0
			for _, a := range e.Args {
				width = max(width, len(a.Type))
			}
			for j, a := range e.Args {
				label := "  args:        "
				if j > 0 {
					label = "               "
				}
				fmt.Fprintf(&b, "%s%-*s %s", label, width, a.Type, a.Name)
				if a.Decoder != "" {
					fmt.Fprintf(&b, "  (decoded: %s)", a.Decoder)
				}
				b.WriteByte('\n')
			}
		}
		if len(e.Tracepoints) == 0 {
			b.WriteString("  perf:        none\n")
		} else {
			fmt.Fprintf(&b, "  perf:        %s\n", strings.Join(e.Tracepoints, " "))
		}
		for j, r := range e.AuditRules {
			label := "  audit:       "
			if j > 0 {
				label = "               "
			}
			fmt.Fprintf(&b, "%s%s\n", label, r)
		}
		if len(e.AuditRules) == 0 {
			b.WriteString("  audit:       none\n")
		}
		for _, n := range e.Notes {
			fmt.Fprintf(&b, "  note:        %s\n", n)
		}
	}
	b.WriteString("\nperf tracepoints see native (64-bit) calls only; 32-bit (int 0x80) calls are seen by the b32 audit rules.\n")
	_, err := io.WriteString(w, b.String())
	return err
}
