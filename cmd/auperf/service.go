// run as a service: systemd's notify protocol (READY, STATUS, STOPPING,
// RELOADING) and watchdog, and the SIGHUP reload.

package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/urfave/cli/v2"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/crash"
	"github.com/auperf/auperf/internal/pipeline"
	"github.com/auperf/auperf/internal/trace"
	"github.com/auperf/auperf/output"
)

// invocation is the command line runMain was given: a reload parses it
// again with the config file as it is now.
var invocation []string

// statusEvery is how often STATUS= tells systemd the event rates.
const statusEvery = 10 * time.Second

// notifier speaks systemd's notify protocol when NOTIFY_SOCKET is set
// (Type=notify); without it every method does nothing.
type notifier struct {
	on   bool
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newNotifier() *notifier {
	return &notifier{on: os.Getenv("NOTIFY_SOCKET") != "", done: make(chan struct{})}
}

// heartbeat is how often the pipeline should show it moves: a quarter of
// the watchdog period, at most 500ms (0: the pipeline's default).
func (n *notifier) heartbeat() time.Duration {
	if !n.on {
		return 0
	}
	wd, _ := daemon.SdWatchdogEnabled(false)
	if wd <= 0 {
		return 0
	}
	return min(wd/4, 500*time.Millisecond)
}

func (n *notifier) send(state string) {
	if n.on {
		daemon.SdNotify(false, state)
	}
}

// ready says READY=1 (every planned source attached, every output open)
// and starts the watchdog pings and the STATUS= lines. The watchdog is
// pinged only while the pipeline takes events or heartbeats: a pipeline
// stuck in a sink stops the pings and systemd restarts the service.
func (n *notifier) ready(p *pipeline.Pipeline, sess *trace.Session) {
	if !n.on {
		return
	}
	names := make([]string, len(sess.Sources))
	for i, s := range sess.Sources {
		names[i] = s.Name()
	}
	n.send("READY=1\nSTATUS=tracing with " + strings.Join(names, "+"))
	wd, _ := daemon.SdWatchdogEnabled(false)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer crash.Recover() // runs first: a panic is handled before the others go on
		var ping <-chan time.Time
		if wd > 0 {
			t := time.NewTicker(wd / 3)
			defer t.Stop()
			ping = t.C
		}
		status := time.NewTicker(statusEvery)
		defer status.Stop()
		rates := newRates(p.Stats())
		stuck := false
		for {
			select {
			case <-n.done:
				return
			case <-ping:
				if p.Alive(wd / 2) {
					n.send("WATCHDOG=1")
					stuck = false
				} else if !stuck {
					stuck = true
					logf("the pipeline has not moved for %v: not pinging the watchdog", wd/2)
				}
			case now := <-status.C:
				n.send("STATUS=" + rates.line(p.Stats(), now))
			}
		}
	}()
}

func (n *notifier) stopping(why string) { n.send("STOPPING=1\nSTATUS=stopping (" + why + ")") }

func (n *notifier) reloading() {
	n.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
}

func (n *notifier) reloaded(status string) { n.send("READY=1\nSTATUS=" + status) }

func (n *notifier) stop() {
	n.once.Do(func() { close(n.done) })
	n.wg.Wait()
}

// rates turns counters into per-second rates between two STATUS lines.
type rates struct {
	prev map[string]uint64
	at   time.Time
}

func newRates(c []event.Counter) *rates {
	r := &rates{at: time.Now()}
	r.prev = counterMap(c)
	return r
}

func counterMap(c []event.Counter) map[string]uint64 {
	m := make(map[string]uint64, len(c))
	for _, x := range c {
		m[x.Source+"."+x.Name] += x.Value
	}
	return m
}

// line is "perf 1200 events/s, audit 3 events/s; 0 lost; outputs 0 dropped".
func (r *rates) line(c []event.Counter, now time.Time) string {
	cur := counterMap(c)
	secs := now.Sub(r.at).Seconds()
	if secs <= 0 {
		secs = 1
	}
	var parts []string
	for _, src := range []string{event.SourcePerf, event.SourceAudit} {
		k := src + ".emitted"
		if v, ok := cur[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f events/s", src, float64(v-r.prev[k])/secs))
		}
	}
	var dropped uint64
	for k, v := range cur {
		if strings.HasPrefix(k, "output:") && strings.HasSuffix(k, ".dropped") {
			dropped += v
		}
	}
	r.prev, r.at = cur, now
	return fmt.Sprintf("%s; %d lost in the kernel; %d dropped by outputs", strings.Join(parts, ", "), cur["pipeline.lost"], dropped)
}

// reload is SIGHUP: the config is read again from the original command
// line (flags win over the file, as at start). Outputs and filters change
// without detaching the sources: the new outputs are opened, and the
// pipeline switches to them and to the new filter between two events; the
// old outputs then drain and close. A config that does not load, or that
// changes what only a restart can change, is refused and the running one
// stays; the output files are reopened either way (logrotate).
func reload(cur *runConfig, p *pipeline.Pipeline, out *output.Fanout, sd *notifier) (*runConfig, *output.Fanout) {
	sd.reloading()
	refuse := func(format string, a ...any) (*runConfig, *output.Fanout) {
		logf("reload refused, the running config stays (output files reopened): "+format, a...)
		out.Reopen()
		sd.reloaded("reload refused; running config unchanged")
		return cur, out
	}
	next, err := reparseRun(invocation)
	if err != nil {
		return refuse("%v", err)
	}
	if diff := restartOnly(cur, next); len(diff) > 0 {
		return refuse("%s changed: only a restart applies that (systemctl restart auperf)", strings.Join(diff, ", "))
	}
	nout, err := openOutputs(next, out.OnFatal())
	if err != nil {
		return refuse("%v", err)
	}
	var f *filter.Spec
	if !sameFilter(cur.opts.Filter, next.opts.Filter) {
		f = &next.opts.Filter
	}
	old, err := p.Reload(f, cur.opts.Filter, nout)
	if err != nil {
		nout.Close()
		return refuse("%v", err)
	}
	if err := old.(*output.Fanout).Close(); err != nil {
		logf("reload: the previous outputs: %v", err)
	}
	what := "outputs reopened"
	if !slices.Equal(cur.outputs, next.outputs) {
		what = "outputs " + strings.Join(next.outputs, " ")
	}
	if f != nil {
		what += "; new filter"
	}
	logf("reload: config applied (%s)", what)
	sd.reloaded("reloaded: " + what)
	return next, nout
}

// reparseRun parses args (auperf run ...) again with a fresh run command,
// reading the config file as it is now.
func reparseRun(args []string) (*runConfig, error) {
	var rc *runConfig
	cmd := runCommand()
	cmd.Action = func(c *cli.Context) error {
		var err error
		rc, err = loadRunConfig(c)
		return err
	}
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageHint("run", cmd.Flags, err) }
	app := &cli.App{Name: "auperf", Commands: []*cli.Command{cmd}, Writer: io.Discard, ErrWriter: io.Discard,
		HideHelp: true, HideVersion: true}
	if err := app.Run(args); err != nil {
		return nil, err
	}
	if rc == nil {
		return nil, fmt.Errorf("the command line %q is not a run", args)
	}
	return rc, nil
}

// restartOnly names the settings that differ between a and b and that a
// reload cannot apply.
func restartOnly(a, b *runConfig) []string {
	var d []string
	x, y := a.opts, b.opts
	add := func(changed bool, name string) {
		if changed {
			d = append(d, name)
		}
	}
	add(x.Source != y.Source, "source")
	add(!slices.Equal(x.Events, y.Events), "events")
	add(fmt.Sprint(x.Overrides) != fmt.Sprint(y.Overrides), "source-events")
	add(x.RingPages != y.RingPages, "ring-pages")
	add(x.AuditBackpressure != y.AuditBackpressure, "audit-backpressure")
	add(x.AuditBacklogLimit != y.AuditBacklogLimit, "audit-backlog-limit")
	add(x.AuditLean != y.AuditLean, "audit-lean")
	add(x.AuditTaskFilter != y.AuditTaskFilter, "audit-task-filter")
	add(x.B32 != y.B32, "b32")
	add(x.Insights != y.Insights, "insights")
	add(x.StatsInterval != y.StatsInterval, "stats-interval")
	add(x.Duration != y.Duration, "duration")
	add(a.metrics != b.metrics, "metrics")
	return d
}

func sameFilter(a, b filter.Spec) bool {
	return slices.Equal(a.PIDs, b.PIDs) && slices.Equal(a.Comms, b.Comms) && slices.Equal(a.UIDs, b.UIDs) &&
		a.Failed == b.Failed && a.Tree == b.Tree
}
