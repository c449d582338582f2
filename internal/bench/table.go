package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Run is one run of the workload under one row's tracer.
type Run struct {
	Round       int     `json:"round"`
	CallsPerSec float64 `json:"callsPerSec"` // the workload's own measure of its loop
	Expected    uint64  `json:"expected"`    // calls the workload made (its summary's total)
	Count       Count   `json:"count"`       // zero for the untraced row
	TracerCPU   float64 `json:"tracerCpuSeconds"`
	TracerRSS   uint64  `json:"tracerPeakRssBytes"`
	WallSeconds float64 `json:"wallSeconds"` // from starting the tracer to having counted
	Err         string  `json:"error,omitempty"`
	// Note is something the run said that does not void it (auperf's exit
	// status 1 when it reports loss).
	Note string `json:"note,omitempty"`
}

// Row is one line of the table: a tracer (or none) and its runs.
type Row struct {
	Name    string `json:"name"`
	Tracer  bool   `json:"tracer"`            // false for the untraced row
	Command string `json:"command,omitempty"` // how the tracer was run (one run's command line)
	// Skip says why the row did not run at all ("not installed (...)");
	// empty when it ran.
	Skip string `json:"skip,omitempty"`
	Runs []Run  `json:"runs"`

	// Filled by Finish from the runs without an error.
	OK       int     `json:"okRuns"`
	Rate     Spread  `json:"callsPerSec"`
	Slowdown float64 `json:"slowdown,omitempty"` // untraced median / this median
	Expected uint64  `json:"expected"`           // sums over the OK runs
	Captured uint64  `json:"captured"`
	Lost     uint64  `json:"lost"`
	CPU      Spread  `json:"tracerCpuSeconds"`
	PeakRSS  uint64  `json:"tracerPeakRssBytes"` // the largest of the runs
}

// Report is one invocation of the bench.
type Report struct {
	Command    string   `json:"command"` // the harness's own command line
	Kernel     string   `json:"kernel"`
	CPUs       int      `json:"cpus"`
	Iterations int      `json:"iterations"` // per thread
	Threads    int      `json:"threads"`
	Rounds     int      `json:"rounds"`
	Syscalls   []string `json:"syscalls"`
	Versions   []string `json:"versions,omitempty"` // of the tracers, as they print them
	Rows       []*Row   `json:"rows"`
	Notes      []string `json:"notes,omitempty"`
	// Collateral is the second table: an untraced process's rate under
	// each row's tracer (see collateral.go).
	Collateral []*CollateralRow `json:"collateral,omitempty"`
}

// Finish computes each row's aggregates from its runs; the slowdown is
// against the row named base (the untraced one), when it has OK runs.
func (r *Report) Finish(base string) {
	var baseMedian float64
	for _, row := range r.Rows {
		row.finish()
		if row.Name == base {
			baseMedian = row.Rate.Median
		}
	}
	for _, row := range r.Rows {
		if row.OK > 0 && baseMedian > 0 && row.Rate.Median > 0 {
			row.Slowdown = baseMedian / row.Rate.Median
		}
	}
}

func (row *Row) finish() {
	var rates, cpus []float64
	row.OK, row.Expected, row.Captured, row.Lost, row.PeakRSS = 0, 0, 0, 0, 0
	for _, run := range row.Runs {
		if run.Err != "" {
			continue
		}
		row.OK++
		rates = append(rates, run.CallsPerSec)
		row.Expected += run.Expected
		if row.Tracer {
			cpus = append(cpus, run.TracerCPU)
			row.Captured += run.Count.Captured
			row.Lost += run.Count.Lost
			row.PeakRSS = max(row.PeakRSS, run.TracerRSS)
		}
	}
	row.Rate = Summarize(rates)
	row.CPU = Summarize(cpus)
}

// WriteTable writes the human table: per row syscalls/s (median, min, max
// over its runs), slowdown of the median against untraced, events expected
// / captured / reported lost summed over the row's runs, the tracer's CPU
// seconds per run (median) and its peak RSS (largest run). Rows that did
// not run, and runs that failed, are listed under the table with why.
func WriteTable(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "auperf bench: kernel %s, %d CPUs; workload loop %s x %d iterations x %d threads; %d rounds (rows alternate within each round)\n",
		r.Kernel, r.CPUs, strings.Join(r.Syscalls, "+"), r.Iterations, r.Threads, r.Rounds)
	fmt.Fprintf(w, "command: %s\n", r.Command)
	if len(r.Versions) > 0 {
		fmt.Fprintf(w, "versions: %s\n", strings.Join(r.Versions, "; "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// Names are padded here because tabwriter aligns every column alike.
	// A row that did not run fills every column (a line with fewer cells
	// would end tabwriter's column block) and puts its reason in a
	// trailing cell, which tabwriter does not use to size the columns.
	width := len("row")
	for _, row := range r.Rows {
		width = max(width, len(row.Name))
	}
	fmt.Fprintf(tw, "%-*s\truns\tsyscalls/s median\tmin\tmax\tslowdown\texpected\tcaptured\tlost\ttracer CPU s\tpeak RSS\t\n", width, "row")
	for _, row := range r.Rows {
		if row.Skip != "" || row.OK == 0 {
			runs, why := "-", row.Skip
			if row.Skip == "" {
				runs, why = fmt.Sprintf("0/%d", len(row.Runs)), "failed (see below)"
			}
			fmt.Fprintf(tw, "%-*s\t%s%s\t  %s\n", width, row.Name, runs, strings.Repeat("\t-", 9), why)
			continue
		}
		slow := "-"
		if row.Slowdown > 0 {
			slow = fmt.Sprintf("%.2fx", row.Slowdown)
		}
		captured, lost, cpu, rss := "-", "-", "-", "-"
		if row.Tracer {
			captured = fmt.Sprint(row.Captured)
			lost = fmt.Sprint(row.Lost)
			cpu = fmt.Sprintf("%.2f", row.CPU.Median)
			rss = formatBytes(row.PeakRSS)
		}
		runs := fmt.Sprint(row.OK)
		if row.OK != len(row.Runs) {
			runs = fmt.Sprintf("%d/%d", row.OK, len(row.Runs))
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%.0f\t%.0f\t%.0f\t%s\t%d\t%s\t%s\t%s\t%s\t\n",
			width, row.Name, runs, row.Rate.Median, row.Rate.Min, row.Rate.Max, slow,
			row.Expected, captured, lost, cpu, rss)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, row := range r.Rows {
		if row.Command != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", row.Name, row.Command))
		}
	}
	for _, row := range r.Rows {
		for _, run := range row.Runs {
			if run.Err != "" {
				notes = append(notes, fmt.Sprintf("%s, round %d: failed: %s", row.Name, run.Round, run.Err))
			}
			if run.Note != "" {
				notes = append(notes, fmt.Sprintf("%s, round %d: %s", row.Name, run.Round, run.Note))
			}
		}
	}
	notes = append(notes, r.Notes...)
	if len(r.Collateral) > 0 {
		if err := writeCollateral(w, r); err != nil {
			return err
		}
		for _, row := range r.Collateral {
			for _, e := range row.Errs {
				notes = append(notes, fmt.Sprintf("collateral %s, %s", row.Name, e))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	return nil
}

func formatBytes(b uint64) string {
	if b == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// writeCollateral writes the second table: the bystander's getppid/s
// (median, min, max over the rounds) under each row's tracer, and its cost
// against the untraced bystander.
func writeCollateral(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "\ncollateral: a process nobody traces (getppid in a loop, forked while the tracer is attached) under each row's tracer\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	width := len("row")
	for _, row := range r.Collateral {
		width = max(width, len(row.Name))
	}
	fmt.Fprintf(tw, "%-*s\truns\tbystander calls/s median\tmin\tmax\tcost\t\n", width, "row")
	for _, row := range r.Collateral {
		if len(row.Rates) == 0 {
			fmt.Fprintf(tw, "%-*s\t0\t-\t-\t-\t-\t  failed (see below)\n", width, row.Name)
			continue
		}
		cost := "-"
		if row.Cost > 0 {
			cost = fmt.Sprintf("%.2fx", row.Cost)
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%.0f\t%.0f\t%.0f\t%s\t\n", width, row.Name, len(row.Rates), row.Rate.Median, row.Rate.Min, row.Rate.Max, cost)
	}
	return tw.Flush()
}
