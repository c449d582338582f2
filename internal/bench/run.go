package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/internal/workload"
)

// Row names, in table order.
const (
	RowUntraced    = "untraced"
	RowAuperfPerf  = "auperf-perf"
	RowAuperfAudit = "auperf-audit"
	RowAuditBare   = "audit-bare"
	RowPerfRecord  = "perf-record"
	RowPerfTrace   = "perf-trace"
	RowAuditd      = "auditd"
	// auperf with --insights none: against the auperf row, what the
	// insights (tracker and file identity, on by default) cost.
	RowAuperfPerfBare  = "auperf-perf-no-insights"
	RowAuperfAuditBare = "auperf-audit-no-insights"
)

// AllRows is every row the bench knows, in table order.
var AllRows = []string{RowUntraced, RowAuperfPerf, RowAuperfPerfBare, RowPerfRecord, RowAuperfAudit, RowAuperfAuditBare, RowAuditBare, RowPerfTrace, RowAuditd}

// auperfRow says whether row id runs auperf, and returns its source and
// extra arguments.
func auperfRow(id string) (source string, extra []string, ok bool) {
	switch id {
	case RowAuperfPerf:
		return "perf", nil, true
	case RowAuperfAudit:
		return "audit", nil, true
	case RowAuperfPerfBare:
		return "perf", []string{"--insights", "none"}, true
	case RowAuperfAuditBare:
		return "audit", []string{"--insights", "none"}, true
	}
	return "", nil, false
}

// AuditKey is the key of the audit rules the auditd row adds (and removes).
const AuditKey = "auperf-bench"

// Config says what to run. Paths that are empty mean "not installed".
type Config struct {
	Workload   string // bin/auperf-workload (required)
	Auperf     string // bin/auperf
	Perf       string // perf (linux-perf)
	Auditd     string // auditd (auditd)
	Auditctl   string // auditctl (auditd)
	Self       string // the bench binary, run with BareReaderArg for the audit-bare row
	Dir        string // scratch directory for outputs and the mapped file
	Iterations int    // per workload thread
	Threads    int
	Rounds     int
	Rows       []string      // subset of AllRows, in table order
	Timeout    time.Duration // one run's limit before the tracer is stopped
	Settle     time.Duration // after perf trace has opened its events
	Keep       bool          // keep the tracers' output files
	// AuditdBacklog is the backlog_limit set for the auditd row's runs
	// (Debian's audit.rules sets 8192); 0 leaves the kernel's as found.
	AuditdBacklog int
	// Collateral is how long the bystander runs under each row's
	// tracer for the collateral table (0: no collateral table).
	Collateral time.Duration
	Log        io.Writer // progress lines
	Command    string    // the harness's command line, for the report
}

// ErrAuditState is returned (wrapped) when the audit state after a run
// differs from the state before it and could not be put back: the bench
// stops, because every later audit number would be wrong and the machine is
// not as it was found.
var ErrAuditState = errors.New("audit state not restored")

type bench struct {
	cfg         Config
	auditBefore *AuditState
	bystander   bool // the workload is the bystander (collateral runs)
}

// Measure runs the bench and returns its report. It returns an error with the
// (partial) report only when it had to stop: the audit state was not
// restored, or the context ended.
func Measure(ctx context.Context, cfg Config) (*Report, error) {
	b := &bench{cfg: cfg}
	rep := &Report{
		Command: cfg.Command, Kernel: kernelRelease(), CPUs: runtime.NumCPU(),
		Iterations: cfg.Iterations, Threads: cfg.Threads, Rounds: cfg.Rounds, Syscalls: Syscalls,
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "work"), 0o755); err != nil {
		return rep, fmt.Errorf("bench dir: %w", err)
	}
	want := map[string]bool{}
	for _, r := range cfg.Rows {
		want[r] = true
	}
	var rows []*Row
	for _, id := range AllRows {
		if !want[id] {
			continue
		}
		row := &Row{Name: id, Tracer: id != RowUntraced, Skip: b.available(id)}
		rows = append(rows, row)
	}
	rep.Rows = rows
	rep.Notes = b.notes()
	rep.Versions = b.versions(rows)
	if b.touchesAudit(rows) && cfg.Auditctl != "" {
		st, err := b.auditState()
		if err != nil {
			return rep, fmt.Errorf("read audit state: %w", err)
		}
		b.auditBefore = &st
		rep.Notes = append(rep.Notes, "audit state found (and checked after every audit run): "+st.String())
	}
	loadStart := loadAvg()
	var stop error
rounds:
	for round := 1; round <= cfg.Rounds; round++ {
		for _, row := range rows {
			if row.Skip != "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				stop = err
				break rounds
			}
			b.logf("round %d/%d: %s ...", round, cfg.Rounds, row.Name)
			run, cmdline, err := b.runOnce(ctx, row.Name, round)
			if cmdline != "" {
				row.Command = cmdline
			}
			var na notAvailable
			if errors.As(err, &na) {
				row.Skip = "not available: " + na.msg
				row.Runs = nil
				b.logf("  %s", row.Skip)
			} else {
				if err != nil {
					run.Err = err.Error()
				}
				row.Runs = append(row.Runs, run)
				if run.Err != "" {
					b.logf("  failed: %s", run.Err)
				} else {
					b.logf("  %.0f syscalls/s, expected %d, captured %d, lost %d, tracer %.2f CPU s, %s",
						run.CallsPerSec, run.Expected, run.Count.Captured, run.Count.Lost, run.TracerCPU, formatBytes(run.TracerRSS))
				}
			}
			if row.Tracer && b.auditBefore != nil && auditRow(row.Name) {
				if err := b.checkAudit(); err != nil {
					stop = err
					break rounds
				}
			}
		}
	}
	// A run cut short by a signal restores what it changed on its way out,
	// but was not checked yet.
	if stop != nil && !errors.Is(stop, ErrAuditState) && b.auditBefore != nil {
		if err := b.checkAudit(); err != nil {
			stop = err
		}
	}
	if stop == nil && b.cfg.Collateral > 0 {
		stop = b.measureCollateral(ctx, rep)
	}
	rep.Notes = append(rep.Notes, "load average at start / end: "+loadStart+" / "+loadAvg()+" (other work on the machine skews every row)")
	rep.Finish(RowUntraced)
	return rep, stop
}

// notAvailable is a row that cannot run in this build or on this host (a
// usage error from auperf: the source does not exist yet).
type notAvailable struct{ msg string }

func (e notAvailable) Error() string { return e.msg }

func (b *bench) logf(format string, a ...any) {
	if b.cfg.Log != nil {
		fmt.Fprintf(b.cfg.Log, format+"\n", a...)
	}
}

func (b *bench) touchesAudit(rows []*Row) bool {
	for _, r := range rows {
		if r.Skip == "" && auditRow(r.Name) {
			return true
		}
	}
	return false
}

// auditRow says whether row id changes audit state (and is checked after
// each run).
func auditRow(id string) bool {
	return id == RowAuditd || id == RowAuperfAudit || id == RowAuperfAuditBare || id == RowAuditBare
}

// available returns why row id cannot run here, or "".
func (b *bench) available(id string) string {
	switch id {
	case RowAuperfPerf, RowAuperfAudit, RowAuperfPerfBare, RowAuperfAuditBare:
		if b.cfg.Auperf == "" {
			return "not built (bin/auperf missing: make build)"
		}
		out, err := exec.Command(b.cfg.Auperf, "run", "--help").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--source")) {
			return "not available yet: this auperf has no `run --source`"
		}
	case RowAuditBare:
		if b.cfg.Self == "" {
			return "not available: no bench binary to run the bare reader"
		}
		if os.Geteuid() != 0 {
			return "needs root (audit rules, audit daemon)"
		}
	case RowPerfTrace, RowPerfRecord:
		if b.cfg.Perf == "" {
			return "not installed (apt-get install linux-perf)"
		}
	case RowAuditd:
		if b.cfg.Auditd == "" || b.cfg.Auditctl == "" {
			return "not installed (apt-get install auditd)"
		}
		if os.Geteuid() != 0 {
			return "needs root (audit rules, audit daemon)"
		}
	}
	return ""
}

func (b *bench) notes() []string {
	notes := []string{
		"slowdown = untraced median syscalls/s / row median; syscalls/s is the workload's own measure of its loop",
		"expected = calls the workload made (its summary), captured = loop-syscall records of the workload's pid in the tracer's output, lost = what the tracer reported lost; all summed over the row's runs. Captured may exceed expected by a few: the workload's Go runtime maps and unmaps memory too",
		"every run starts after sync(2): no row pays for the writeback of the previous row's output",
		"tracer CPU s = user+sys of the tracer process alone (median per run); peak RSS = largest run (auperf rows: VmHWM polled every 50ms, since auperf is the workload's parent)",
		"auperf rows trace the workload with `auperf run --source S -- WORKLOAD` (the command starts after auperf has attached, and auperf exits when it does); the -no-insights rows add --insights none (no mapping tracker, no mmap file lookup): against the auperf row, what the insights, on by default, cost",
		fmt.Sprintf("audit-bare row: the bench's own reader (auperf-bench %s) becomes the audit daemon with backlog_limit %d, loads the auditd row's rule plus the two exclusions auperf's audit source loads as the only audit reader (-a never,exclude -F msgtype=PROCTITLE, and EOE), reads like auperf (recvmmsg, 5ms pause after a drain) and discards every record after counting; the same records auperf-audit asks for at no cost of reading: the floor for auperf-audit; captured = its SYSCALL records with the key, lost = the kernel's lost counter across the run", BareReaderArg, b.bareBacklog()),
		"perf-record row: `perf record -a` of the loop syscalls' enter and exit tracepoints into a file (perf's default buffers), stopped with SIGINT after the workload: the same kernel records as auperf-perf, not decoded, so the floor for auperf-perf; captured = exit records of the workload's threads in `perf script`, lost = its LOST lines (records of all processes)",
		fmt.Sprintf("perf trace row: `perf trace -a`, attached once its perf fds stop changing, plus %v settle; stopped with SIGINT after the workload; captured counted by the workload's thread ids (perf trace shows tids; its comms are unreliable after exec); its LOST lines count all processes", b.cfg.Settle),
		fmt.Sprintf("auditd row: a private auditd (-n -s nochange, temporary config and log dir, Debian's default auditd.conf otherwise: ENRICHED, INCREMENTAL_ASYNC), backlog_limit %d for the run (0: as found), and one rule -a always,exit -F arch=b64 -S %s -F exe=WORKLOAD -k %s; lost = the kernel's lost counter across the run; stopped with SIGTERM; audit state restored", b.cfg.AuditdBacklog, strings.Join(Syscalls, ","), AuditKey),
	}
	if b.cfg.Collateral > 0 {
		notes = append(notes, fmt.Sprintf("collateral table: the bystander (auperf-workload -bystander %v: raw getppid calls, which no row traces) is forked while each row's tracer is attached, as any new process would be; auperf rows trace a waiting command (-- COMMAND, as above) and the bystander runs outside its tree; other rows run it as their workload; cost = untraced median / row median. Once audit has been enabled on a boot, every process forked afterwards takes the audit syscall path, so on a host where audit was ever on the untraced row already pays part of it", b.cfg.Collateral))
	}
	return notes
}

// versions asks each tracer that will run for its version line.
func (b *bench) versions(rows []*Row) []string {
	var v []string
	seen := map[string]bool{}
	for _, row := range rows {
		var args []string
		switch row.Name {
		case RowAuperfPerf, RowAuperfAudit, RowAuperfPerfBare, RowAuperfAuditBare:
			args = []string{b.cfg.Auperf, "version"}
		case RowPerfTrace, RowPerfRecord:
			args = []string{b.cfg.Perf, "--version"}
		case RowAuditd:
			args = []string{b.cfg.Auditctl, "-v"}
		}
		if row.Skip != "" || args == nil || seen[args[0]] {
			continue
		}
		seen[args[0]] = true
		if out, err := exec.Command(args[0], args[1:]...).Output(); err == nil {
			v = append(v, strings.TrimSpace(string(out)))
		}
	}
	return v
}

// workloadArgs returns the workload's loop command for a run.
func (b *bench) workloadArgs(summary string) []string {
	if b.bystander {
		return b.bystanderArgs(summary)
	}
	return []string{b.cfg.Workload,
		"-loop", strconv.Itoa(b.cfg.Iterations),
		"-threads", strconv.Itoa(b.cfg.Threads),
		"-dir", filepath.Join(b.cfg.Dir, "work"),
		"-summary", summary,
	}
}

func (b *bench) runOnce(ctx context.Context, id string, round int) (Run, string, error) {
	run := Run{Round: round}
	base := filepath.Join(b.cfg.Dir, fmt.Sprintf("%s-%d", strings.NewReplacer(", ", "-", " ", "-").Replace(id), round))
	summary := base + ".summary.json"
	os.Remove(summary)
	// The previous run's output (hundreds of MiB for a traced row) is
	// written back first: its writeback would otherwise slow this run's
	// msync and a tracer's own log writes (auditd's fdatasync), so that a
	// row's numbers would depend on the row before it.
	unix.Sync()
	start := time.Now()
	var cmdline string
	var err error
	switch id {
	case RowUntraced:
		if _, err = b.runWorkload(ctx, summary); err == nil {
			_, err = readSummary(&run, summary)
		}
	case RowAuperfPerf, RowAuperfAudit, RowAuperfPerfBare, RowAuperfAuditBare:
		source, extra, _ := auperfRow(id)
		cmdline, err = b.runAuperf(ctx, &run, source, extra, base, summary)
	case RowAuditBare:
		cmdline, err = b.runAuditBare(ctx, &run, base, summary)
	case RowPerfTrace:
		cmdline, err = b.runPerfTrace(ctx, &run, base, summary)
	case RowPerfRecord:
		cmdline, err = b.runPerfRecord(ctx, &run, base, summary)
	case RowAuditd:
		cmdline, err = b.runAuditd(ctx, &run, base, summary)
	default:
		err = fmt.Errorf("unknown row %q", id)
	}
	run.WallSeconds = time.Since(start).Seconds()
	return run, cmdline, err
}

// readSummary fills run from the workload's summary.
func readSummary(run *Run, path string) (workload.Summary, error) {
	s, err := workload.ReadSummary(path)
	if err != nil {
		return s, err
	}
	run.CallsPerSec = s.CallsPerSec
	run.Expected = s.Total
	return s, nil
}

// runWorkload runs the workload as the harness's child and waits for it.
// It returns the ids of the workload's threads, read from /proc/PID/task
// every 10ms while it runs (its loop threads live for the whole loop).
func (b *bench) runWorkload(ctx context.Context, summary string) (map[int]bool, error) {
	args := b.workloadArgs(summary)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	tids := map[int]bool{cmd.Process.Pid: true}
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		dir := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task"
		for {
			if ents, err := os.ReadDir(dir); err == nil {
				for _, e := range ents {
					if tid, err := strconv.Atoi(e.Name()); err == nil {
						tids[tid] = true
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-polled
	if err != nil {
		return tids, fmt.Errorf("workload: %v: %s", err, lastLine(stderr.String()))
	}
	return tids, nil
}

func (b *bench) countFile(path string, count func(io.Reader) (Count, error)) (Count, error) {
	f, err := os.Open(path)
	if err != nil {
		return Count{}, fmt.Errorf("tracer output: %w", err)
	}
	defer f.Close()
	if !b.cfg.Keep {
		defer os.Remove(path)
	}
	return count(f)
}

func (b *bench) runAuperf(ctx context.Context, run *Run, source string, extra []string, base, summary string) (string, error) {
	out := base + ".json"
	os.Remove(out)
	args := append([]string{b.cfg.Auperf, "run", "--source", source,
		"--events", strings.Join(Syscalls, ","), "--output", "json:" + out}, extra...)
	args = append(append(args, "--"), b.workloadArgs(summary)...)
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmdline := shellJoin(args)
	p, err := startTracer(cmd, true)
	if err != nil {
		return cmdline, err
	}
	cpu, rss, werr := p.wait(b.cfg.Timeout, os.Interrupt, 30*time.Second)
	run.TracerCPU, run.TracerRSS = cpu, rss
	if werr != nil {
		st := cmd.ProcessState
		if st != nil && st.ExitCode() == 2 {
			return cmdline, notAvailable{fmt.Sprintf("auperf run --source %s: %s", source, lastLine(stderr.String()))}
		}
		// auperf exits 1 when it reports loss; the run still happened
		// and its output says how much. Without a summary the workload
		// did not finish and there is nothing to measure.
		if st == nil || st.ExitCode() != 1 {
			return cmdline, fmt.Errorf("auperf: %v: %s", werr, lastLine(stderr.String()))
		}
		run.Note = fmt.Sprintf("auperf %v: %s", werr, lastLine(stderr.String()))
	}
	s, err := readSummary(run, summary)
	if err != nil {
		if run.Note != "" {
			err = fmt.Errorf("%s; %w", run.Note, err)
		}
		return cmdline, err
	}
	run.Count, err = b.countFile(out, func(r io.Reader) (Count, error) { return CountAuperfJSON(r, s.PID) })
	return cmdline, err
}

func (b *bench) runPerfTrace(ctx context.Context, run *Run, base, summary string) (string, error) {
	out := base + ".perftrace.txt"
	os.Remove(out)
	args := []string{b.cfg.Perf, "trace", "-a", "-e", strings.Join(Syscalls, ","), "-o", out}
	tids, err := b.runPerfTool(ctx, run, args, summary, 60*time.Second)
	if err != nil {
		return shellJoin(args), err
	}
	run.Count, err = b.countFile(out, func(r io.Reader) (Count, error) { return CountPerfTrace(r, tids) })
	return shellJoin(args), err
}

// runPerfTool runs a perf command that traces host-wide (args) around one
// run of the workload: started, attached (its perf fds stable) and
// settled before the workload, stopped with SIGINT after it, given grace
// to write. It fills run's rate and tracer cost and returns the workload's
// thread ids. A tracefs mount perf made is taken back.
func (b *bench) runPerfTool(ctx context.Context, run *Run, args []string, summary string, grace time.Duration) (map[int]bool, error) {
	defer b.unmountNewTracefs()()
	name := "perf " + args[1]
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	p, err := startTracer(cmd, false)
	if err != nil {
		return nil, err
	}
	if err := waitPerfFds(p, 30*time.Second); err != nil {
		p.wait(0, os.Interrupt, 10*time.Second)
		return nil, fmt.Errorf("%s: %v: %s", name, err, lastLine(stderr.String()))
	}
	time.Sleep(b.cfg.Settle)
	tids, werr := b.runWorkload(ctx, summary)
	cpu, rss, perr := p.wait(0, os.Interrupt, grace)
	run.TracerCPU, run.TracerRSS = cpu, rss
	if werr != nil {
		return nil, werr
	}
	if perr != nil && !isInterrupted(cmd) {
		return nil, fmt.Errorf("%s: %v: %s", name, perr, lastLine(stderr.String()))
	}
	if _, err := readSummary(run, summary); err != nil {
		return nil, err
	}
	return tids, nil
}

// isInterrupted reports whether the tracer ended because of our SIGINT
// (perf exits with 128+SIGINT or by the signal after it has flushed).
func isInterrupted(cmd *exec.Cmd) bool {
	st := cmd.ProcessState
	if st == nil {
		return false
	}
	if st.ExitCode() == 0 || st.ExitCode() == 130 {
		return true
	}
	return strings.Contains(st.String(), "interrupt")
}

// waitPerfFds waits until the tracer has perf event fds open and their
// number has not changed for three polls 100ms apart: perf trace prints no
// "attached" marker, and it opens its events after scanning /proc.
func waitPerfFds(p *tracerProc, limit time.Duration) error {
	pid := p.cmd.Process.Pid
	deadline := time.Now().Add(limit)
	last, stable := -1, 0
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited before attaching")
		default:
		}
		n := countPerfFds(pid)
		if n > 0 && n == last {
			stable++
			if stable >= 3 {
				return nil
			}
		} else {
			stable = 0
		}
		last = n
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no stable perf event fds after %v", limit)
}

func countPerfFds(pid int) int {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if t, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && t == "anon_inode:[perf_event]" {
			n++
		}
	}
	return n
}

// LookTool finds a tool on PATH or in the sbin directories that a
// non-login root shell may not have on PATH; "" when it is not installed.
func LookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "(no stderr)"
	}
	return s
}

// shellJoin renders a command line for the report (quoting only what needs it).
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\|&;<>()*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// tracefsMounts is the set of tracefs mount points in /proc/self/mounts.
func tracefsMounts() map[string]bool {
	m := map[string]bool{}
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[2] == "tracefs" {
			m[f[1]] = true
		}
	}
	return m
}
