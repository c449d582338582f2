// The guest side: the init script each guest runs, and the checker that
// compares a run's events with the workload's truth and with probe's plan,
// printing one VMTEST-RESULT line for the host.

package vmtest

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/workload"
	"github.com/auperf/auperf/selector"
)

// Runs are the runs each guest makes, in order: one per source, each
// tracing the workload as `-- COMMAND`, then audit-early, a host-wide
// audit run that must see a workload started before audit was ever
// enabled exactly when audit was enabled at boot.
var Runs = []string{"perf", "audit", "auto", "audit-early"}

// InitScript is the guest's /init (busybox sh). For each source it asks
// probe for the plan, runs the workload under `auperf run`, and checks the
// run; the console carries the VMTEST lines back. It ends with reboot -f, which ends QEMU (-no-reboot) also on kernels
// without ACPI.
var InitScript = strings.NewReplacer("FULL_SCRIPT", FullScript, "COMPAT32_ARG", Compat32Arg).Replace(initScript)

const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
echo "VMTEST-BEGIN $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) cmdline=$(cat /proc/cmdline)"
cd /tmp
case "$(cat /proc/cmdline)" in
*auperf.vmtest=full*)
	FULL_SCRIPT
	echo "VMTEST-END"
	reboot -f
	;;
*auperf.vmtest=locked*)
	# Audit locked (enabled=2) without auperf's rules: probe must say
	# audit cannot work, and run must refuse it.
	auperf-vmtest guest-audit-lock || echo "VMTEST-LOG could not lock audit"
	locked=-want-refused
	;;
*auperf.vmtest=lasting*)
	# The lasting cost on a fresh boot, where audit was never enabled: a
	# new process's getppid rate before any run, after a perf run, and
	# after an audit run (audit off again and no rule left by then).
	# Shown, not judged: timing belongs in make bench.
	lasting() {
		auperf-workload -bystander 3s -summary by.json > /dev/null 2>&1
		echo "VMTEST-LOG lasting: $1: $(sed -n 's/.*"calls_per_sec":\([0-9]*\).*/\1/p' by.json) getppid/s"
	}
	lasting "fresh boot"
	lasting "fresh boot, again"
	auperf run --source perf --stats-interval 0 --output json:ev-l1.json -- auperf-workload -once -out /dev/null > run-l1.log 2>&1
	lasting "after a perf run"
	auperf run --source audit --stats-interval 0 --output json:ev-l2.json -- auperf-workload -once -out /dev/null > run-l2.log 2>&1
	lasting "after an audit run"
	lasting "after an audit run, again"
	echo "VMTEST-END"
	reboot -f
	;;
esac
int80=""
grep -q '^CONFIG_IA32_EMULATION=y' /boot/config-$(uname -r) 2>/dev/null && int80=-int80
# A process started before anything enables audit: audit sees it only when
# audit was enabled at boot (audit=1), as probe's audit_boot row says.
auperf-workload -threads 2 -wait-start /tmp/go-early -out truth-early.json > early.log 2>&1 &
early=$!
for src in perf audit auto; do
	auperf probe --json --source $src > probe-$src.json 2> probe-$src.err
	pst=$?
	auperf run --source $src --stats-interval 0 --output json:ev-$src.json -- \
		auperf-workload $int80 -out truth-$src.json > run-$src.log 2>&1
	rst=$?
	want=""
	[ $src = audit ] && want=$locked
	auperf-vmtest guest-check -source $src $want -probe probe-$src.json -probe-exit $pst \
		-run-exit $rst -run-log run-$src.log -truth truth-$src.json -events ev-$src.json
done
if [ -x /bin/busybox-arm32 ]; then
	# A 32-bit arm program (arm64's compat): seen through audit's b32 rules.
	auperf run --source auto --b32 on --stats-interval 0 --output json:ev-arm32.json -- \
		busybox-arm32 COMPAT32_ARG > run-arm32.log 2>&1
	rst=$?
	auperf-vmtest guest-compat32 -events ev-arm32.json -run-exit $rst -run-log run-arm32.log
fi
auperf probe --json --source audit > probe-early.json 2> probe-early.err
pst=$?
auperf run --source audit --stats-interval 0 --output json:ev-early.json > run-early.log 2>&1 &
ap=$!
auperf-vmtest guest-wait-rules $ap
touch /tmp/go-early
wait $early
sleep 1
kill -INT $ap
wait $ap
rst=$?
auperf-vmtest guest-check -source audit -early $locked -probe probe-early.json -probe-exit $pst \
	-run-exit $rst -run-log run-early.log -truth truth-early.json -events ev-early.json
case "$(cat /proc/cmdline)" in
*auperf.vmtest=daemon*)
	# Another audit daemon (auditd starting) while auperf is the daemon:
	# the kernel refuses it (EEXIST), and auperf's capture stays exact.
	auperf probe --json --source audit > probe-d.json 2> probe-d.err
	pst=$?
	auperf run --source audit --stats-interval 0 --output json:ev-d.json -- \
		sh -c 'auperf-vmtest guest-audit-daemon; auperf-workload -out truth-d.json' > run-d.log 2>&1
	rst=$?
	grep 'guest-audit-daemon' run-d.log | sed 's/^/VMTEST-LOG /'
	auperf-vmtest guest-check -source audit -name audit-vs-daemon -probe probe-d.json -probe-exit $pst \
		-run-exit $rst -run-log run-d.log -truth truth-d.json -events ev-d.json
	;;
*auperf.vmtest=hotplug*)
	# CPU 1 goes offline and comes back while perf traces a workload
	# that runs on both CPUs: every call reported once, nothing lost.
	auperf probe --json --source perf > probe-hp.json 2> probe-hp.err
	pst=$?
	( sleep 1; echo 0 > /sys/devices/system/cpu/cpu1/online; echo "VMTEST-LOG online after off: $(cat /sys/devices/system/cpu/online)"
	  sleep 1; echo 1 > /sys/devices/system/cpu/cpu1/online; echo "VMTEST-LOG online after on: $(cat /sys/devices/system/cpu/online)" ) &
	hp=$!
	auperf run --source perf --ring-pages 2048 --stats-interval 0 --output json:ev-hp.json -- \
		auperf-workload -loop 4000 -threads 2 -truth -out truth-hp.json -summary sum-hp.json > run-hp.log 2>&1
	rst=$?
	wait $hp
	echo "VMTEST-LOG hotplug workload: $(cat sum-hp.json)"
	auperf-vmtest guest-check -source perf -name perf-hotplug -accept-loss -probe probe-hp.json -probe-exit $pst \
		-run-exit $rst -run-log run-hp.log -truth truth-hp.json -events ev-hp.json
	;;
esac
echo "VMTEST-END"
reboot -f
`

// Result is one run's check, as the guest prints it.
type Result struct {
	Source    string         `json:"source"`
	Plan      string         `json:"plan"`      // probe's plan, in short
	Refused   bool           `json:"refused"`   // probe said the source cannot work, and run refused it
	Reason    string         `json:"reason"`    // probe's reason for a plan of none
	RunExit   int            `json:"runExit"`   // auperf run's exit status
	Matched   map[string]int `json:"matched"`   // truth calls matched, per source
	Missing   int            `json:"missing"`   // truth calls not reported exactly
	Extra     int            `json:"extra"`     // calls reported twice
	Lost      uint64         `json:"lost"`      // what auperf reported lost
	Gaps      int            `json:"gaps"`      // gaps reported with an unknown count (a CPU back online)
	Problems  []string       `json:"problems"`  // why the check failed (empty: passed)
	Events    int            `json:"events"`    // events in the output
	TruthRuns int            `json:"truthRuns"` // truth calls kept
}

// Passed reports whether the run did what probe planned, exactly.
func (r Result) Passed() bool { return len(r.Problems) == 0 }

// CheckConfig is what guest-check is told.
type CheckConfig struct {
	Source    string
	Probe     string // probe --json --source SOURCE
	ProbeExit int
	RunExit   int
	RunLog    string
	Truth     string
	Events    string
	// Early: the workload was started before audit was ever enabled on
	// this boot; the run traced the whole host. Audit sees it only if
	// probe says audit was enabled at boot; then exactly, else not at all.
	Early bool
	// Name is the run's name in the table ("": Source).
	Name string
	// AcceptLoss: loss the source reports is accepted (missing calls up
	// to the records reported lost, as in the hotplug run under
	// emulation, where the poller may starve); elsewhere any loss fails.
	AcceptLoss bool
	// WantRefused: the scenario (audit locked) leaves this source
	// nothing to work with; probe must say so and run must refuse.
	WantRefused bool
}

// Check checks one run against probe's plan and the workload's truth.
func Check(c CheckConfig) Result {
	r := Result{Source: c.Source, RunExit: c.RunExit, Matched: map[string]int{}}
	if c.Early {
		r.Source += "-early"
	}
	if c.Name != "" {
		r.Source = c.Name
	}
	fail := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
	var rep selector.Report
	if b, err := os.ReadFile(c.Probe); err != nil || json.Unmarshal(b, &rep) != nil {
		fail("probe --json gave no report (exit %d)", c.ProbeExit)
		return r
	}
	if c.WantRefused && rep.Plan != nil {
		fail("the scenario leaves %s nothing to work with, yet probe planned %s", c.Source, planSummary(rep.Plan))
	}
	if rep.Plan == nil {
		// Probe says this source cannot work: run must refuse it (2).
		r.Plan = "none"
		r.Reason = rep.Error
		r.Refused = c.RunExit == 2
		if c.ProbeExit != 2 {
			fail("probe has no plan but exited %d, want 2", c.ProbeExit)
		}
		if !r.Refused {
			fail("probe said %s cannot work here, but run exited %d (want 2)", c.Source, c.RunExit)
		}
		return r
	}
	r.Plan = planSummary(rep.Plan)
	if c.ProbeExit != 0 {
		fail("probe exited %d with a plan", c.ProbeExit)
	}
	if c.RunExit != 0 {
		log, _ := os.ReadFile(c.RunLog)
		fail("run exited %d: %s", c.RunExit, lastLine(log))
		return r
	}
	truth, err := workload.ReadTruth(c.Truth)
	if err != nil {
		fail("%v", err)
		return r
	}
	f, err := os.Open(c.Events)
	if err != nil {
		fail("%v", err)
		return r
	}
	defer f.Close()
	got, own, err := workload.ReadEvents(f)
	if err != nil {
		fail("events: %v", err)
		return r
	}
	r.Events = len(got)
	for _, e := range own {
		if e.Name != event.NameLost {
			continue
		}
		for _, a := range e.Args {
			if a.Name != "lost" {
				continue
			}
			if n, ok := a.Value.(float64); ok {
				r.Lost += uint64(n)
			} else if a.Value == nil {
				r.Gaps++
			}
		}
	}
	sourceOf := planSources(rep.Plan)
	keep := func(tc workload.Call) bool { return workload.MemoryCall(tc) && sourceOf(tc) != "" }
	for _, tc := range truth {
		if keep(tc) {
			r.TruthRuns++
		}
	}
	m, err := workload.Match(truth, got, keep, sourceOf)
	if err != nil {
		fail("%v", err)
		return r
	}
	if c.Early && !auditAtBoot(&rep) {
		// Not audited: probe's note says so, and no event may be there.
		if !slices.ContainsFunc(rep.Plan.Notes, func(n string) bool { return strings.Contains(n, "not enabled at boot") }) {
			fail("audit was not enabled at boot, but the plan does not say what that hides: %q", rep.Plan.Notes)
		}
		r.Plan += " (audit off at boot)"
		if n := r.TruthRuns - len(m.Missing); n != 0 {
			fail("%d calls of a process started before audit was enabled were seen: probe said none would be", n)
		}
		r.Matched = map[string]int{"unseen": len(m.Missing)}
		return r
	}
	r.Matched, r.Missing, r.Extra = m.PerSource, len(m.Missing), len(m.Extra)
	if r.Gaps > 0 && len(m.Missing) > 0 {
		// Calls missed in reported gaps: each gap's event is stamped
		// with the earliest it may have begun; under TCG a gap may
		// last hundreds of milliseconds.
		starts := gapStarts(own)
		var outside []workload.Call
		for _, c := range m.Missing {
			if !slices.ContainsFunc(starts, func(t int64) bool { return c.TS >= t && c.TS-t <= int64(gapLimit) }) {
				outside = append(outside, c)
			}
		}
		m.Missing = outside
	}
	if c.AcceptLoss && r.Lost > 0 && uint64(len(m.Missing)) <= r.Lost {
		// Ring loss, reported: each lost record is at most one call,
		// so the missing calls are within what was reported lost.
		m.Missing = nil
	}
	for i, tc := range m.Missing {
		if i == 3 {
			break
		}
		fail("missing: %s %s %s ret %d (want it from %s)", tc.Label, tc.Arch, tc.Name, tc.Ret, sourceOf(tc))
	}
	if len(m.Missing) > 3 {
		fail("missing: %d more", len(m.Missing)-3)
	}
	for i, e := range m.Extra {
		if i == 3 {
			break
		}
		fail("reported twice: %s %s by %s", e.Arch, e.Name, e.Source)
	}
	if r.Lost > 0 && !c.AcceptLoss {
		fail("%d reported lost", r.Lost)
	}
	if r.TruthRuns == 0 {
		fail("the workload made no call this plan traces")
	}
	return r
}

// planSources says which source the plan gives a truth call ("" for
// none): native calls by their event's source, 32-bit ones to audit when
// the plan has b32 rules for their event.
func planSources(p *selector.Plan) func(workload.Call) string {
	native := map[string]string{}
	b32 := map[string]bool{}
	for _, e := range p.Events {
		if e.Source == selector.SourcePerf || e.Source == selector.SourceAudit {
			native[e.Name] = string(e.Source)
		}
		for _, n := range e.B32 {
			b32[n] = true
		}
	}
	return func(c workload.Call) string {
		if a, ok := decode.ArchByName(c.Arch); ok && a == decode.NativeArch() {
			return native[c.Name]
		}
		if c.Arch == "i386" && b32[c.Name] {
			return event.SourceAudit
		}
		return ""
	}
}

// planSummary is the plan in a few words: how many events each source
// traces, and whether 32-bit calls are seen.
func planSummary(p *selector.Plan) string {
	n := map[selector.Source]int{}
	b32 := 0
	for _, e := range p.Events {
		n[e.Source]++
		if len(e.B32) > 0 {
			b32++
		}
	}
	s := ""
	for _, src := range []selector.Source{selector.SourcePerf, selector.SourceAudit, selector.SourceNone} {
		if n[src] > 0 {
			s += fmt.Sprintf("%s:%d ", src, n[src])
		}
	}
	return s + fmt.Sprintf("b32:%d", b32)
}

func lastLine(b []byte) string {
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if last := all[len(all)-1]; strings.TrimSpace(last) != "" {
		return last
	}
	return "(no output)"
}

// auditAtBoot reports whether probe found audit enabled at boot.
func auditAtBoot(rep *selector.Report) bool {
	for _, p := range rep.Probes {
		if p.Name == "audit_boot" {
			return p.Status == "ok"
		}
	}
	return false
}

// gapLimit is how long after its start a gap reported with an unknown
// count may have lasted, under software emulation. The perf source
// attaches a CPU that came back at the end of its current round (draining
// every ring and handling the events); under TCG, with the insights' /proc
// lookups per mmap of a file, a round of the hotplug boot's 2048-page rings
// took more than a second once (2,001 calls missed outside a 1 s limit, CI
// at 7b4b91c; the same boot passed twice after with 10,247 and 0 missed).
const gapLimit = 3 * time.Second

// gapStarts are the timestamps of the gaps reported with an unknown count.
func gapStarts(own []workload.Event) []int64 {
	var out []int64
	for _, e := range own {
		for _, a := range e.Args {
			if e.Name == event.NameLost && a.Name == "lost" && a.Value == nil {
				out = append(out, e.Timestamp)
			}
		}
	}
	return out
}
