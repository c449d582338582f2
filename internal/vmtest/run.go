// The host side: the guests to boot (stock kernels and boot variants),
// their initramfs, and the table of what each guest's runs did.

package vmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Guest is one boot: a kernel and its command line.
type Guest struct {
	Kernel Kernel
	Variant
}

// Variant is a way to boot a kernel: its name in the table, kernel
// command line options, vCPUs.
type Variant struct {
	Name   string
	Append string
	CPUs   int
	// Shows are VMTEST-LOG lines the boot prints instead of the runs
	// ("lasting: " lines): each must come, with a number, and is
	// printed; timing is shown, never judged.
	Shows []string
}

// Variants are the boots of one stock kernel besides the plain one: audit
// enabled at boot (processes are audited from the first one, probe's
// audit_boot row); lockdown (what still works under it); audit locked
// (auditctl -e 2, which the host may never do: the refusal path end to
// end); a CPU taken offline and back during a perf run; another audit
// daemon starting while auperf is the daemon; the lasting cost of a run
// of each source on a fresh boot (printed); 8 vCPUs (one TCG thread)
// for the per-CPU merge and rings.
var Variants = []Variant{
	{Name: "audit=1", Append: "audit=1"},
	{Name: "lockdown=confidentiality", Append: "lockdown=confidentiality"},
	{Name: "audit locked", Append: "auperf.vmtest=locked"},
	{Name: "cpu1 off+on", Append: "auperf.vmtest=hotplug"},
	{Name: "2nd daemon", Append: "auperf.vmtest=daemon"},
	{Name: "lasting cost", Append: "auperf.vmtest=lasting", Shows: LastingShows},
	{Name: "smp=8", CPUs: 8},
}

// Config is a vmtest run.
type Config struct {
	Cache   string   // kernels and apt state (~/.cache/auperf/vmtest)
	Bin     string   // static auperf, auperf-workload, auperf-vmtest
	Kernels []string // stock kernel names to boot (nil: all)
	// VariantsOn is the stock kernel the Variants boot on ("": none).
	VariantsOn string
	// Only, when set, boots only the guests whose variant name it is
	// ("-" for the plain boot).
	Only    string
	Refresh bool // update the package lists first
	// Custom, when set, boots these custom kernels (CustomNames) instead
	// of the stock ones.
	Custom []string
	// Full runs the repository's kernel tests (FullPackages) in one guest
	// of the first selected kernel instead of the usual runs; Repo is the
	// source tree they are compiled from.
	Full    bool
	Repo    string
	Timeout time.Duration // per boot
	Logs    string        // directory for each guest's console log
	Out     io.Writer     // progress and the table
}

// Run fetches the kernels, boots every guest and prints the table. It
// returns an error when a guest failed or a run did not pass.
func Run(ctx context.Context, cfg Config) error {
	var stocks []Kernel
	var err error
	if len(cfg.Custom) > 0 {
		stocks, err = BuildCustoms(cfg.Cache, cfg.Custom, cfg.Out)
	} else {
		stocks, err = FetchStocks(cfg.Cache, cfg.Refresh, cfg.Kernels)
	}
	if err != nil {
		return err
	}
	var guests []Guest
	for _, k := range stocks {
		guests = append(guests, Guest{Kernel: k})
		if k.Name == cfg.VariantsOn {
			for _, v := range Variants {
				guests = append(guests, Guest{Kernel: k, Variant: v})
			}
		}
	}
	if cfg.Full {
		g := guests[0]
		g.Variant = Variant{Name: "FULL", Append: "auperf.vmtest=full"}
		guests = []Guest{g}
	}
	if cfg.Only != "" {
		var keep []Guest
		for _, g := range guests {
			if g.Name == cfg.Only || cfg.Only == "-" && g.Name == "" {
				keep = append(keep, g)
			}
		}
		guests = keep
	}
	if len(guests) == 0 {
		return fmt.Errorf("no kernel selected (have %s)", names(stocks))
	}
	if err := os.MkdirAll(cfg.Logs, 0o755); err != nil {
		return err
	}
	var rows []row
	failed, fullPassed, passed0 := 0, 0, 0
	for _, g := range guests {
		if g.Kernel.Unbuildable != "" {
			fmt.Fprintf(cfg.Out, "not built: %s: %s\n", g.Kernel.Name, g.Kernel.Unbuildable)
			rows = append(rows, row{guest: g, booted: Booted{Err: errors.New("not built: " + g.Kernel.Unbuildable)}})
			continue
		}
		initrd := filepath.Join(cfg.Logs, "initrd-"+g.Kernel.Release+".cpio.gz")
		bin := cfg.Bin
		if g.Kernel.Arch == "arm64" {
			bin = cfg.Bin + "-arm64" // the cross-built binaries
		}
		files := guestFiles(bin, g.Kernel)
		if cfg.Full {
			work, err := os.MkdirTemp("", "auperf-vmtest-full-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			more, err := fullFiles(cfg.Repo, work)
			if err != nil {
				return err
			}
			files = append(files, more...)
		}
		if err := WriteInitramfs(initrd, files); err != nil {
			return fmt.Errorf("initramfs for %s: %w", g.Kernel.Release, err)
		}
		log := filepath.Join(cfg.Logs, "console-"+strings.Map(func(r rune) rune {
			if r == '=' || r == ':' || r == ' ' || r == '+' {
				return '_'
			}
			return r
		}, g.Kernel.Name+"-"+g.Name)+".log")
		fmt.Fprintf(cfg.Out, "boot %s (%s) %s ...\n", g.Kernel.Name, g.Kernel.Release, g.Name)
		bt := Boot{Kernel: g.Kernel, Initrd: initrd, Append: g.Append, CPUs: g.CPUs, Timeout: cfg.Timeout, Log: log}.Run(ctx)
		os.Remove(initrd)
		r := row{guest: g, booted: bt}
		if len(g.Shows) > 0 {
			ok := showLines(cfg.Out, g.Variant, bt)
			if !ok {
				failed++
				fmt.Fprintf(cfg.Out, "  %s: shown lines missing or without a number (console: %s)\n", g.Name, log)
			} else {
				passed0++
			}
			continue
		}
		if cfg.Full {
			p, f := printFull(cfg.Out, bt)
			fullPassed += p
			failed += f
			rows = append(rows, r)
			continue
		}
		runs := len(Runs)
		if g.Kernel.Compat32 != "" {
			runs++ // the compat run
		}
		if bt.Err != nil || len(bt.Results) < runs {
			failed++
			if bt.Err == nil {
				bt.Err = fmt.Errorf("%d results of %d runs", len(bt.Results), runs)
			}
			fmt.Fprintf(cfg.Out, "  %v (console: %s)\n", bt.Err, log)
		}
		for _, res := range bt.Results {
			if !res.Passed() {
				failed++
				for _, p := range res.Problems {
					fmt.Fprintf(cfg.Out, "  %s: %s\n", res.Source, p)
				}
			}
		}
		rows = append(rows, r)
	}
	if !cfg.Full {
		printTable(cfg.Out, rows)
	}
	passed := fullPassed + passed0
	for _, r := range rows {
		for _, res := range r.booted.Results {
			if res.Passed() {
				passed++
			}
		}
	}
	fmt.Fprintf(cfg.Out, "vmtest: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d failures (console logs in %s)", failed, cfg.Logs)
	}
	return nil
}

type row struct {
	guest  Guest
	booted Booted
}

// guestFiles are the initramfs's files for kernel k.
func guestFiles(bin string, k Kernel) []File {
	files := []File{
		{Path: "init", Data: []byte(InitScript), Mode: 0o755},
		{Path: "bin/busybox", Src: busyboxOf(k), Mode: 0o755},
		{Path: "bin/auperf", Src: filepath.Join(bin, "auperf"), Mode: 0o755},
		{Path: "bin/auperf-workload", Src: filepath.Join(bin, "auperf-workload"), Mode: 0o755},
		{Path: "bin/auperf-vmtest", Src: filepath.Join(bin, "auperf-vmtest"), Mode: 0o755},
		{Path: "boot/config-" + k.Release, Src: k.Config},
	}
	if k.Compat32 != "" {
		files = append(files, File{Path: "bin/busybox-arm32", Src: k.Compat32, Mode: 0o755})
	}
	return files
}

// printTable prints one row per run: kernel, boot options, source, the
// plan probe made for it, matched / missing / extra / lost, the result,
// and the guest's wall time (boot, probes, runs) on its first row.
func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KERNEL\tBOOT\tSOURCE\tPLAN\tMATCHED\tMISSING\tEXTRA\tLOST\tRESULT\tWALL")
	for _, r := range rows {
		kname := r.guest.Kernel.Release
		if strings.HasPrefix(r.guest.Kernel.Name, "custom:") {
			kname = r.guest.Kernel.Name
		}
		boot := r.guest.Name
		if boot == "" {
			boot = "-"
		}
		wall := fmt.Sprintf("%.0fs", r.booted.Wall.Seconds())
		if r.guest.Kernel.Unbuildable != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\tnot built (Kconfig)\t-\n", r.guest.Kernel.Name, boot)
			continue
		}
		if len(r.booted.Results) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\tFAIL: %v\t%s\n", kname, boot, r.booted.Err, wall)
			continue
		}
		for i, res := range r.booted.Results {
			result := "ok"
			switch {
			case !res.Passed():
				result = "FAIL"
			case res.Refused:
				result = "ok (refused, as probe said)"
			case res.Gaps > 0 || res.Lost > 0:
				result = fmt.Sprintf("ok (%d gap, %d lost records reported)", res.Gaps, res.Lost)
			}
			if i > 0 {
				wall = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", kname, boot, res.Source, res.Plan,
				matched(res.Matched), res.Missing, res.Extra, res.Lost, result, wall)
		}
	}
	tw.Flush()
	for _, r := range rows {
		for _, res := range r.booted.Results {
			if res.Reason != "" {
				fmt.Fprintf(w, "%s %s %s: %s\n", r.guest.Kernel.Release, r.guest.Name, res.Source, res.Reason)
			}
		}
	}
}

func matched(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func names(ks []Kernel) string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Name)
	}
	return strings.Join(out, ",")
}

// printFull prints the FULL guest's test results per package and returns
// how many tests passed and failed (a package that did not report, or
// exited non-zero without a failed test, is one failure).
func printFull(w io.Writer, bt Booted) (passed, failed int) {
	for _, l := range bt.Lines {
		if l.Key == "LOG" && (strings.Contains(l.Rest, "--- FAIL") || strings.Contains(l.Rest, "--- SKIP")) {
			fmt.Fprintf(w, "  %s\n", l.Rest)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tEXIT\tPASS\tFAIL\tSKIP")
	seen := 0
	for _, l := range bt.Lines {
		if l.Key != "FULL" {
			continue
		}
		seen++
		fs := strings.Fields(l.Rest)
		vals := map[string]string{}
		for _, kv := range fs[1:] {
			k, v, _ := strings.Cut(kv, "=")
			vals[k] = v
		}
		p, _ := strconv.Atoi(vals["pass"])
		f, _ := strconv.Atoi(vals["fail"])
		passed += p
		failed += f
		if vals["exit"] != "0" && f == 0 {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fs[0], vals["exit"], vals["pass"], vals["fail"], vals["skip"])
	}
	tw.Flush()
	fmt.Fprintf(w, "guest wall time %.0fs\n", bt.Wall.Seconds())
	if seen < len(FullPackages) {
		fmt.Fprintf(w, "  %d of %d packages reported (%v)\n", seen, len(FullPackages), bt.Err)
		failed += len(FullPackages) - seen
	}
	return passed, failed
}

func busyboxOf(k Kernel) string {
	if k.Busybox != "" {
		return k.Busybox
	}
	return "/bin/busybox"
}

// LastingShows are the lines of the lasting-cost boot: a new process's
// getppid rate on a fresh boot, after a perf run, after an audit run.
var LastingShows = []string{"fresh boot", "fresh boot, again", "after a perf run", "after an audit run", "after an audit run, again"}

// showLines prints the boot's shown lines ("lasting: NAME: N getppid/s")
// and reports whether each of v.Shows came with a number.
func showLines(w io.Writer, v Variant, bt Booted) bool {
	got := map[string]bool{}
	for _, l := range bt.Lines {
		rest, ok := strings.CutPrefix(l.Rest, "lasting: ")
		if l.Key != "LOG" || !ok {
			continue
		}
		fmt.Fprintf(w, "  %s\n", rest)
		name, val, _ := strings.Cut(rest, ": ")
		if f := strings.Fields(val); len(f) > 0 {
			if _, err := strconv.ParseFloat(f[0], 64); err == nil {
				got[name] = true
			}
		}
	}
	for _, s := range v.Shows {
		if !got[s] {
			return false
		}
	}
	return bt.Err == nil
}
