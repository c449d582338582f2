// Kernel tests of run as systemd runs it: the notify protocol (READY only
// once attached, watchdog pings, STOPPING), SIGTERM under load, SIGKILL
// repaired by `auperf cleanup`, SIGHUP with a changed config, the unit's
// capabilities only, and the metrics endpoint against auperf_stats.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// notifySocket is the socket systemd would give a Type=notify service:
// every datagram auperf sends arrives on msgs.
type notifySocket struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T, dir string) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(dir, "notify.sock"), msgs: make(chan string, 1024)}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 4096)
		for {
			k, err := c.Read(b)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(b[:k])
		}
	}()
	return n
}

// wait returns the first message holding line (one of its lines), failing
// t after timeout or when exited says auperf ended.
func (n *notifySocket) wait(t *testing.T, line string, timeout time.Duration, exited <-chan error, stderr *strings.Builder) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-n.msgs:
			for _, l := range strings.Split(m, "\n") {
				if l == line {
					return m
				}
			}
		case err := <-exited:
			t.Fatalf("auperf ended (%v) before %s\n%s", err, line, stderr.String())
		case <-deadline:
			t.Fatalf("no %s in %v\n%s", line, timeout, stderr.String())
		}
	}
}

// serviceCmd is auperf run as the unit runs it: NOTIFY_SOCKET and
// WATCHDOG_USEC set, no config file but the one given.
func serviceCmd(bin string, n *notifySocket, watchdog time.Duration, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path, fmt.Sprintf("WATCHDOG_USEC=%d", watchdog.Microseconds()))
	return cmd
}

// mountState is the tracefs and debugfs lines of the mount table.
func mountState(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 2 && (f[2] == "tracefs" || f[2] == "debugfs") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// guardMounts checks, when t ends, that tracefs/debugfs mounts are as they were.
func guardMounts(t *testing.T) {
	t.Helper()
	before := mountState(t)
	t.Cleanup(func() {
		if after := mountState(t); after != before {
			t.Errorf("mounts changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// allStats is the counters of every auperf_stats event in the file.
func allStats(t *testing.T, path string) []map[string]uint64 {
	t.Helper()
	_, own := readOwn(t, path)
	var all []map[string]uint64
	for _, ev := range own {
		if ev.Name != "auperf_stats" {
			continue
		}
		m := map[string]uint64{}
		for _, a := range ev.Args {
			v, _ := a.Value.(float64)
			m[a.Name] = uint64(v)
		}
		all = append(all, m)
	}
	return all
}

// lastStats is the counters of the last auperf_stats event in the file.
func lastStats(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	all := allStats(t, path)
	if len(all) == 0 {
		t.Fatalf("%s: no auperf_stats", path)
	}
	return all[len(all)-1]
}

// eachSource runs f as a kernel subtest per source (perf, audit) with
// audit and mounts guarded and auperf built into dir.
func eachSource(t *testing.T, f func(t *testing.T, src, dir, bin string)) {
	for _, src := range []string{"perf", "audit"} {
		t.Run(src, func(t *testing.T) {
			ktest.Require(t)
			guardAudit(t)
			guardMounts(t)
			dir := t.TempDir()
			f(t, src, dir, buildAuperf(t, dir))
		})
	}
}

// countLines counts the lines of a file.
func countLines(path string) int { return strings.Count(readFile(path), "\n") }

// TestIntegrationServiceNotifyAndStop, per source: READY=1 comes only once
// the source is attached (a workload started right after it is seen call
// for call), the watchdog is pinged, and a SIGTERM while a loop runs gives
// exit 0 with every event the pipeline took written (and fsynced) and the
// audit state and mounts as before.
func TestIntegrationServiceNotifyAndStop(t *testing.T) {
	eachSource(t, func(t *testing.T, src, dir, bin string) {
		wl := workload.CopyAs(t, dir, "wl-svc-"+src)
		loop := workload.CopyAs(t, dir, "wl-load-"+src)
		out, truthPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "truth.json")
		n := listenNotify(t, dir)
		cmd := serviceCmd(bin, n, 300*time.Millisecond, "--config", "", "--source", src, "--stats-interval", "0", "--output", "json:"+out)
		exited, stderr := startCmd(t, cmd)
		ready := n.wait(t, "READY=1", 60*time.Second, exited, stderr)
		t.Logf("ready: %q", ready)
		if src == "audit" {
			if rules, _ := exec.Command("auditctl", "-l").Output(); !strings.Contains(string(rules), "key=auperf") {
				t.Fatalf("READY=1 before the audit rules are loaded:\n%s", rules)
			}
		}
		// Attached: a workload started now is seen in full.
		if b, err := exec.Command(wl, "-threads", "2", "-out", truthPath).CombinedOutput(); err != nil {
			t.Fatalf("workload: %v\n%s", err, b)
		}
		// Watchdog pings while the pipeline moves.
		pings := 0
		for end := time.After(time.Second); pings < 3; {
			select {
			case m := <-n.msgs:
				if m == "WATCHDOG=1" {
					pings++
				}
			case <-end:
				t.Fatalf("%d watchdog pings in 1s, want 3 or more (WATCHDOG_USEC 300ms)", pings)
			}
		}
		// SIGTERM under load.
		lcmd := exec.Command(loop, "-loop", "2000000", "-threads", "1", "-summary", filepath.Join(dir, "sum.json"))
		if err := lcmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { lcmd.Process.Kill(); lcmd.Wait() }()
		time.Sleep(300 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("SIGTERM: %v, want exit 0\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no exit 30s after SIGTERM\n%s", stderr.String())
		}
		n.wait(t, "STOPPING=1", time.Second, nil, stderr)

		truth, err := workload.ReadTruth(truthPath)
		if err != nil {
			t.Fatal(err)
		}
		matchTruth(t, truth, readEvents(t, out), func(c workload.Call) bool {
			return memoryCall(c) && (src == "audit" || c.Arch != "i386")
		}, func(workload.Call) string { return src })
		st := lastStats(t, out)
		sink := "output:json:" + out
		if st["pipeline.emitted"] == 0 || st[sink+".written"] != st["pipeline.emitted"] || st[sink+".dropped"] != 0 {
			t.Errorf("pipeline emitted %d, output wrote %d and dropped %d: want every event written",
				st["pipeline.emitted"], st[sink+".written"], st[sink+".dropped"])
		}
		if lines := countLines(out); uint64(lines) != st[sink+".written"]+1 {
			t.Errorf("%d lines in the file, want %d events and the final auperf_stats", lines, st[sink+".written"])
		}
		t.Logf("%d events under load, all written", st["pipeline.emitted"])
	})
}

// TestIntegrationServiceKillCleanup: a run with both sources (auto, with
// tracefs mounted by auperf) killed with SIGKILL leaves audit changed and
// tracefs mounted; `auperf cleanup` (the unit's ExecStopPost) puts both
// back, says what it did, and a second cleanup has nothing to do.
func TestIntegrationServiceKillCleanup(t *testing.T) {
	ktest.Require(t)
	requireIA32(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	if mountState(t) != "" {
		ktest.Skip(t, "tracefs is mounted: the test needs auperf to mount it")
	}
	beforeAudit, beforeMounts := auditState(t), mountState(t)
	n := listenNotify(t, dir)
	cmd := serviceCmd(bin, n, 0, "--config", "", "--b32", "on", "--output", "json:"+filepath.Join(dir, "out.json"))
	exited, stderr := startCmd(t, cmd)
	n.wait(t, "READY=1", 60*time.Second, exited, stderr)
	cmd.Process.Kill()
	<-exited
	t.Cleanup(func() { exec.Command(bin, "cleanup").Run() }) // (if the test fails half way)
	if auditState(t) == beforeAudit || mountState(t) == beforeMounts {
		t.Fatalf("SIGKILL left nothing to repair (audit changed: %v, mounts changed: %v): the test proves nothing",
			auditState(t) != beforeAudit, mountState(t) != beforeMounts)
	}
	probe, _ := exec.Command(bin, "probe").Output()
	if !strings.Contains(string(probe), "LEFT BY A KILLED AUPERF") {
		t.Errorf("probe does not report the leftover state:\n%s", probe)
	}
	out, err := exec.Command(bin, "cleanup").CombinedOutput()
	if err != nil {
		t.Fatalf("cleanup: %v\n%s", err, out)
	}
	t.Logf("cleanup:\n%s", out)
	for _, want := range []string{"rule(s) with key \"auperf\"", "enabled 1 -> 0", "unmounted tracefs"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cleanup does not say %q", want)
		}
	}
	if a := auditState(t); a != beforeAudit {
		t.Errorf("audit after cleanup:\n%s\nwant:\n%s", a, beforeAudit)
	}
	if m := mountState(t); m != beforeMounts {
		t.Errorf("mounts after cleanup:\n%s\nwant:\n%s", m, beforeMounts)
	}
	if out, err := exec.Command(bin, "cleanup").CombinedOutput(); err != nil || string(out) != "auperf cleanup: nothing to restore\n" {
		t.Errorf("second cleanup: %v %q", err, out)
	}
}

// writeConfig writes a config file atomically (as an editor's rename).
func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestIntegrationServiceReload, per source: SIGHUP with a config that
// names a new output file and a wider filter, while a workload loop runs:
// the workload's msyncs are in the old and the new file exactly once
// together; a process the new filter adds is in the new file; a broken
// config and one that changes the source are refused, and the running
// config keeps writing.
func TestIntegrationServiceReload(t *testing.T) {
	eachSource(t, func(t *testing.T, src, dir, bin string) {
		wl := workload.CopyAs(t, dir, "wl-reload")
		other := workload.CopyAs(t, dir, "wl-other")
		a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
		cfg := filepath.Join(dir, "auperf.yaml")
		base := "source: " + src + "\nevents: [msync]\nstats-interval: 0s\n"
		writeConfig(t, cfg, base+"output: [json:"+a+"]\ncomm: [wl-reload]\n")
		n := listenNotify(t, dir)
		cmd := serviceCmd(bin, n, 0, "--config", cfg)
		exited, stderr := startCmd(t, cmd)
		n.wait(t, "READY=1", 60*time.Second, exited, stderr)

		const iterations = 60000
		summary := filepath.Join(dir, "sum.json")
		lcmd := exec.Command(wl, "-loop", strconv.Itoa(iterations), "-threads", "1", "-dir", dir, "-summary", summary)
		if err := lcmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { lcmd.Process.Kill(); lcmd.Wait() }()
		waitFor(t, "1000 msyncs in the first file", 60*time.Second, func() bool {
			return strings.Count(readFile(a), `"eventName":"msync"`) >= 1000
		})
		writeConfig(t, cfg, base+"output: [json:"+b+"]\ncomm: [wl-reload, wl-other]\n")
		cmd.Process.Signal(syscall.SIGHUP)
		n.wait(t, "RELOADING=1", 10*time.Second, exited, stderr)
		waitFor(t, "the reload", 10*time.Second, func() bool { return strings.Contains(stderr.String(), "reload: config applied") })
		if o, err := exec.Command(other, "-once", "-out", "/dev/null").CombinedOutput(); err != nil {
			t.Fatalf("wl-other: %v %s", err, o)
		}
		// Refused: a broken file, then a change only a restart applies.
		writeConfig(t, cfg, base+"output: [json:"+b+"]\ncomm: [wl-reload\n")
		cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, "the refusal", 10*time.Second, func() bool { return strings.Count(stderr.String(), "reload refused") == 1 })
		other2 := "perf"
		if src == "perf" {
			other2 = "audit"
		}
		writeConfig(t, cfg, strings.Replace(base, src, other2, 1)+"output: [json:"+b+"]\ncomm: [wl-reload, wl-other]\n")
		cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, "the second refusal", 10*time.Second, func() bool { return strings.Count(stderr.String(), "reload refused") == 2 })
		if !strings.Contains(stderr.String(), "source changed: only a restart applies that") {
			t.Errorf("the source change is not refused as such:\n%s", stderr.String())
		}
		if err := lcmd.Wait(); err != nil {
			t.Fatalf("workload: %v", err)
		}
		nb := strings.Count(readFile(b), `"eventName":"msync"`)
		waitFor(t, "the loop's last events", 30*time.Second, func() bool {
			time.Sleep(300 * time.Millisecond)
			k := strings.Count(readFile(b), `"eventName":"msync"`)
			defer func() { nb = k }()
			return k == nb
		})
		cmd.Process.Signal(syscall.SIGTERM)
		if err := <-exited; err != nil {
			t.Fatalf("auperf: %v\n%s", err, stderr.String())
		}
		t.Logf("stderr:\n%s", stderr.String())

		sum, err := workload.ReadSummary(summary)
		if err != nil {
			t.Fatal(err)
		}
		type key struct {
			ts  int64
			tid int
		}
		seen := map[key]bool{}
		count := func(path string) (loop, others int) {
			for _, line := range strings.Split(strings.TrimSpace(readFile(path)), "\n") {
				var ev struct {
					TS   int64  `json:"timestamp"`
					PID  int    `json:"processId"`
					TID  int    `json:"threadId"`
					Name string `json:"eventName"`
					Comm string `json:"processName"`
				}
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("%s: %q: %v", path, line, err)
				}
				if ev.Name == "auperf_lost" {
					t.Fatalf("loss reported: %s", line)
				}
				if ev.Name != "msync" {
					continue
				}
				switch {
				case ev.PID == sum.PID:
					// perf's nanosecond stamps tell two calls apart;
					// audit's are milliseconds: there the exact count
					// alone says no call was lost or written twice.
					k := key{ev.TS, ev.TID}
					if seen[k] && src == "perf" {
						t.Fatalf("an msync written twice: %s", line)
					}
					seen[k] = true
					loop++
				case ev.Comm == "wl-other":
					others++
				default:
					t.Errorf("%s: a process outside the filter: %s", path, line)
				}
			}
			return loop, others
		}
		la, oa := count(a)
		lb, ob := count(b)
		t.Logf("first file %d msyncs of the loop, second %d (+%d of wl-other)", la, lb, ob)
		if la+lb != iterations || lb == 0 {
			t.Errorf("loop msyncs: %d + %d = %d, want exactly %d with some in each", la, lb, la+lb, iterations)
		}
		if oa != 0 || ob != 1 {
			t.Errorf("wl-other's msync: %d in the first file, %d in the second, want 0 and 1", oa, ob)
		}
	})
}

// unitCapabilities is the CapabilityBoundingSet of the shipped unit, as
// setpriv spells it ("+audit_control,+perfmon,...").
func unitCapabilities(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../packaging/auperf.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapabilityBoundingSet=(.*)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("the unit has no CapabilityBoundingSet")
	}
	var caps []string
	for _, c := range strings.Fields(string(m[1])) {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return strings.Join(caps, ",")
}

// TestIntegrationServiceCapabilities: with only the unit's capabilities
// (the rest dropped from the bounding set, as systemd does), each source
// sees the workload call for call. tracefs is mounted first, as the unit's
// Wants=sys-kernel-tracing.mount does.
func TestIntegrationServiceCapabilities(t *testing.T) {
	ktest.Require(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		ktest.Skip(t, "setpriv not installed (util-linux)")
	}
	guardAudit(t)
	caps := unitCapabilities(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	if mountState(t) == "" {
		if err := syscall.Mount("nodev", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Unmount("/sys/kernel/tracing", 0) })
	}
	for _, src := range []string{"perf", "audit"} {
		t.Run(src, func(t *testing.T) {
			wl := workload.CopyAs(t, dir, "wl-caps-"+src)
			out, truthPath := filepath.Join(dir, src+".json"), filepath.Join(dir, src+"-truth.json")
			capsFile := filepath.Join(dir, src+"-caps")
			cmd := exec.Command("setpriv", "--bounding-set", "-all,"+caps, "--inh-caps", "-all", bin, "run", "--config", "",
				"--source", src, "--output", "json:"+out, "--",
				"sh", "-c", `grep -E '^Cap(Eff|Bnd)' /proc/$PPID/status > "$0"; exec "$@"`, capsFile, wl, "-threads", "2", "-out", truthPath)
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			got := readFile(capsFile)
			t.Logf("auperf ran with %s (unit: %s)", strings.ReplaceAll(got, "\n", " "), caps)
			if !strings.Contains(got, "CapEff:\t"+capMask(t, caps)) {
				t.Fatalf("auperf's effective capabilities %q are not the unit's %s (%s)", got, caps, capMask(t, caps))
			}
			truth, err := workload.ReadTruth(truthPath)
			if err != nil {
				t.Fatal(err)
			}
			matchTruth(t, truth, readEvents(t, out), func(c workload.Call) bool {
				return memoryCall(c) && (src == "audit" || c.Arch != "i386")
			}, func(workload.Call) string { return src })
		})
	}
}

// capMask is the hex mask /proc/PID/status shows for caps.
func capMask(t *testing.T, caps string) string {
	t.Helper()
	numbers := map[string]uint{"audit_control": 30, "audit_read": 37, "perfmon": 38, "ipc_lock": 14, "sys_ptrace": 19,
		"sys_admin": 21, "dac_read_search": 2, "sys_resource": 24, "net_admin": 12}
	var m uint64
	for _, c := range strings.Split(caps, ",") {
		nr, ok := numbers[strings.TrimPrefix(c, "+")]
		if !ok {
			t.Fatalf("capability %s: add its number", c)
		}
		m |= 1 << nr
	}
	return fmt.Sprintf("%016x", m)
}

// scrape reads /metrics into "source.name" -> value, named as
// auperf_stats names them (see metricsOf).
func scrape(t *testing.T, addr string) map[string]uint64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return parseMetrics(t, string(body))
}

// TestIntegrationServiceMetrics: the endpoint's counters are auperf_stats'
// numbers. The audit source, narrowed to a workload's pid, sees nothing
// once the workload exits; a scrape then equals, counter for counter, the
// periodic auperf_stats written next (which counts the one before it in
// its sink counters, as the scrape does), and the final one but for the
// records of the stop itself (the kernel's CONFIG_CHANGE records of our
// rule deletions and status restore, which audit.received counts).
// /healthz answers ok.
func TestIntegrationServiceMetrics(t *testing.T) {
	ktest.Require(t)
	guardAudit(t)
	dir := t.TempDir()
	bin := buildAuperf(t, dir)
	wl := workload.CopyAs(t, dir, "wl-metrics")
	ready := filepath.Join(dir, "ready")
	wcmd := exec.Command(wl, "-ready", ready, "-wait-signal", "-threads", "1", "-out", filepath.Join(dir, "truth.json"))
	if err := wcmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { wcmd.Process.Kill(); wcmd.Wait() }()
	waitFor(t, "the workload's pid", 10*time.Second, func() bool { return readFile(ready) != "" })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := filepath.Join(dir, "out.json")
	n := listenNotify(t, dir)
	cmd := serviceCmd(bin, n, 0, "--config", "", "--source", "audit", "--pid", strings.TrimSpace(readFile(ready)),
		"--stats-interval", "1s", "--metrics-listen", addr, "--output", "json:"+out+"?flush=10ms")
	exited, stderr := startCmd(t, cmd)
	n.wait(t, "READY=1", 60*time.Second, exited, stderr)
	wcmd.Process.Signal(syscall.SIGUSR1)
	if err := wcmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	// One periodic auperf_stats after the workload's end, then scrape,
	// then the next one.
	k := len(allStats(t, out))
	waitFor(t, "an auperf_stats after the workload", 5*time.Second, func() bool { return len(allStats(t, out)) > k })
	time.Sleep(100 * time.Millisecond)
	k = len(allStats(t, out))
	got := scrape(t, addr)
	waitFor(t, "the auperf_stats after the scrape", 5*time.Second, func() bool { return len(allStats(t, out)) > k })
	next := allStats(t, out)[k]
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz: %v %v", resp, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("auperf: %v\n%s", err, stderr.String())
	}
	final := lastStats(t, out)
	if final["audit.emitted"] == 0 {
		t.Fatalf("no events: %v", final)
	}
	compare := func(what string, st map[string]uint64, slack bool) {
		for k, v := range st {
			g, ok := got[k]
			switch {
			case !ok:
				t.Errorf("%s=%d is not on the endpoint", k, v)
			case slack && k == "audit.received" && v >= g && v-g <= 16:
				t.Logf("audit.received: %d scraped, %d in the %s (the stop's own CONFIG_CHANGE records)", g, v, what)
			case slack && strings.HasPrefix(k, "output:") && (strings.HasSuffix(k, ".received") || strings.HasSuffix(k, ".written")) && v > g && v <= g+3:
				// The periodic auperf_stats written since the scrape.
			case g != v:
				t.Errorf("%s: endpoint %d, %s %d", k, g, what, v)
			}
		}
		for k := range got {
			if _, ok := st[k]; !ok {
				t.Errorf("%s on the endpoint is not in the %s", k, what)
			}
		}
	}
	compare("auperf_stats after the scrape", next, false)
	compare("final auperf_stats", final, true)
	t.Logf("%d counters compared", len(final))
}
