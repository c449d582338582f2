package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/auperf/auperf/internal/workload"
)

// The collateral table: what each row's tracer costs a process it does
// not trace. A bystander (the workload's -bystander mode: getppid(2) in a
// loop, a syscall no row traces) is forked while the tracer is attached,
// as any new process on the host would be, and runs for Config.Collateral;
// its calls/s against the untraced row's bystander is the cost to the
// rest of the host. Syscall tracepoints and audit both put every task on
// the slow syscall path, not only the traced ones.
//
// The auperf rows trace a command (`-- COMMAND`, as in the main table)
// that waits while the bystander runs outside its process tree; the other
// rows trace host-wide (perf record/trace -a) or by exe, and run the
// bystander as their workload (it makes none of the traced calls). The
// extra row "auperf-audit, task filter off" is auperf-audit with
// --audit-task-filter off: the audit cost the task filter takes off
// processes outside the command.

// RowAuperfAuditNoTask is the collateral-only row of auperf-audit without
// the task filter.
const RowAuperfAuditNoTask = "auperf-audit, task filter off"

// CollateralRow is one line of the collateral table.
type CollateralRow struct {
	Name  string    `json:"name"`
	Rates []float64 `json:"callsPerSec"` // the bystander's, one per round
	Errs  []string  `json:"errors,omitempty"`
	Rate  Spread    `json:"rate"`
	Cost  float64   `json:"cost,omitempty"` // untraced median / this median
}

// collateralRows are the rows of the collateral table: every main row
// that runs (but the -no-insights ones: insights cost auperf's own
// process, not other processes' syscalls), and auperf-audit without the
// task filter after auperf-audit.
func collateralRows(rows []*Row) []*CollateralRow {
	var out []*CollateralRow
	for _, r := range rows {
		if r.Skip != "" || r.Name == RowAuperfPerfBare || r.Name == RowAuperfAuditBare {
			continue
		}
		out = append(out, &CollateralRow{Name: r.Name})
		if r.Name == RowAuperfAudit {
			out = append(out, &CollateralRow{Name: RowAuperfAuditNoTask})
		}
	}
	return out
}

// measureCollateral runs every collateral row once per round, rows
// alternating within a round.
func (b *bench) measureCollateral(ctx context.Context, rep *Report) error {
	rep.Collateral = collateralRows(rep.Rows)
	for round := 1; round <= b.cfg.Rounds; round++ {
		for _, row := range rep.Collateral {
			if err := ctx.Err(); err != nil {
				return err
			}
			b.logf("collateral round %d/%d: %s ...", round, b.cfg.Rounds, row.Name)
			rate, err := b.collateralOnce(ctx, row.Name, round)
			if err != nil {
				row.Errs = append(row.Errs, fmt.Sprintf("round %d: %v", round, err))
				b.logf("  failed: %v", err)
			} else {
				row.Rates = append(row.Rates, rate)
				b.logf("  bystander %.0f getppid/s", rate)
			}
			if b.auditBefore != nil && (auditRow(row.Name) || row.Name == RowAuperfAuditNoTask) {
				if err := b.checkAudit(); err != nil {
					return err
				}
			}
		}
	}
	var base float64
	for _, row := range rep.Collateral {
		row.Rate = Summarize(row.Rates)
		if row.Name == RowUntraced {
			base = row.Rate.Median
		}
	}
	for _, row := range rep.Collateral {
		if base > 0 && row.Rate.Median > 0 {
			row.Cost = base / row.Rate.Median
		}
	}
	return nil
}

// collateralOnce measures the bystander once under row id's tracer.
func (b *bench) collateralOnce(ctx context.Context, id string, round int) (float64, error) {
	base := filepath.Join(b.cfg.Dir, fmt.Sprintf("collateral-%s-%d", strings.ReplaceAll(strings.ReplaceAll(id, " ", ""), ",", "-"), round))
	switch id {
	case RowUntraced:
		return b.runBystander(ctx, base+".bystander.json")
	case RowAuperfPerf, RowAuperfAudit, RowAuperfAuditNoTask:
		return b.collateralAuperf(ctx, id, base)
	}
	// Host-wide or exe-narrowed tracers: the bystander is their workload.
	b.bystander = true
	defer func() { b.bystander = false }()
	run, _, err := b.runOnce(ctx, id, round)
	if run.CallsPerSec == 0 {
		if err == nil {
			err = errors.New("no bystander rate")
		}
		return 0, err
	}
	return run.CallsPerSec, nil // (a count error does not void the rate)
}

// bystanderArgs is the bystander's command line.
func (b *bench) bystanderArgs(summary string, extra ...string) []string {
	return append([]string{b.cfg.Workload, "-bystander", b.cfg.Collateral.String(), "-summary", summary}, extra...)
}

// runBystander runs the bystander as the bench's child and returns its
// rate.
func (b *bench) runBystander(ctx context.Context, summary string) (float64, error) {
	args := b.bystanderArgs(summary)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("bystander: %v: %s", err, lastLine(string(out)))
	}
	defer os.Remove(summary)
	s, err := workload.ReadSummary(summary)
	if err != nil {
		return 0, err
	}
	return s.CallsPerSec, nil
}

// collateralAuperf runs auperf tracing a command that waits (ready file,
// start file) while the bystander runs outside its tree.
func (b *bench) collateralAuperf(ctx context.Context, id, base string) (float64, error) {
	source := "perf"
	var extra []string
	switch id {
	case RowAuperfAudit:
		source = "audit"
	case RowAuperfAuditNoTask:
		source, extra = "audit", []string{"--audit-task-filter", "off"}
	}
	ready, start, out := base+".ready", base+".start", base+".json"
	for _, f := range []string{ready, start, out} {
		os.Remove(f)
	}
	args := append([]string{b.cfg.Auperf, "run", "--config", "", "--source", source, "--events", strings.Join(Syscalls, ","),
		"--output", "json:" + out, "--stats-interval", "0"}, extra...)
	args = append(args, "--", b.cfg.Workload, "-loop", "1", "-threads", "1", "-dir", filepath.Join(b.cfg.Dir, "work"),
		"-summary", base+".cmd.json", "-ready", ready, "-wait-start", start)
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	p, err := startTracer(cmd, true)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, f := range []string{ready, start, out, base + ".cmd.json"} {
			os.Remove(f)
		}
	}()
	stop := func() {
		os.WriteFile(start, nil, 0o644)
		p.wait(30*time.Second, os.Interrupt, 30*time.Second)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case <-p.exited:
			p.wait(0, nil, 0)
			return 0, fmt.Errorf("auperf exited before its command was ready: %s", lastLine(stderr.String()))
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return 0, errors.New("the command was not ready after 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rate, err := b.runBystander(ctx, base+".bystander.json")
	stop()
	return rate, err
}
