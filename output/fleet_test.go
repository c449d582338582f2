package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/internal/ktest"
	"github.com/auperf/auperf/internal/workload"
)

// fleetNet makes the test's network: a collector namespace and one
// namespace per sender, each sender joined to the collector by a veth
// pair on 10.201.N.0/24 (the collector .1, the sender .2). Every
// namespace and link is deleted when the test ends.
func fleetNet(t *testing.T, senders int) (collector string, sender []string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		ktest.Skip(t, "ip not installed (iproute2)")
	}
	ip := func(args ...string) {
		t.Helper()
		if b, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, b)
		}
	}
	tag := fmt.Sprintf("aft%d", os.Getpid()%100000)
	collector = tag + "-c"
	ip("netns", "add", collector)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", collector).Run() })
	ip("-n", collector, "link", "set", "lo", "up")
	for i := 1; i <= senders; i++ {
		ns := fmt.Sprintf("%s-s%d", tag, i)
		ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		vs, vc := fmt.Sprintf("%ss%d", tag, i), fmt.Sprintf("%sc%d", tag, i)
		ip("link", "add", vs, "type", "veth", "peer", "name", vc)
		ip("link", "set", vs, "netns", ns)
		ip("link", "set", vc, "netns", collector)
		ip("-n", ns, "addr", "add", fmt.Sprintf("10.201.%d.2/24", i), "dev", vs)
		ip("-n", ns, "link", "set", vs, "up")
		ip("-n", ns, "link", "set", "lo", "up")
		ip("-n", collector, "addr", "add", fmt.Sprintf("10.201.%d.1/24", i), "dev", vc)
		ip("-n", collector, "link", "set", vc, "up")
		sender = append(sender, ns)
	}
	return collector, sender
}

// buildAuperfBin builds cmd/auperf (or takes AUPERF_BIN's).
func buildAuperfBin(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv(workload.BinEnv); dir != "" {
		return filepath.Join(dir, "auperf")
	}
	bin := filepath.Join(t.TempDir(), "auperf")
	if b, err := exec.Command("go", "build", "-o", bin, "../cmd/auperf").CombinedOutput(); err != nil {
		t.Fatalf("build auperf: %v\n%s", err, b)
	}
	return bin
}

// fleetEvent is what the fleet test compares of an event.
type fleetEvent struct {
	Timestamp int64  `json:"timestamp"`
	ThreadID  int    `json:"threadId"`
	EventName string `json:"eventName"`
	HostName  string `json:"hostName"`
	Args      []struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	} `json:"args"`
}

func (e fleetEvent) key() string {
	return fmt.Sprintf("%d/%d/%s", e.Timestamp, e.ThreadID, e.EventName)
}

// TestIntegrationFleet: three auperf senders, each in its own network
// namespace with its own host name, trace a workload and ship over
// RELP/TLS (with a spool) to one rsyslog collector in a fourth namespace,
// which is restarted mid-run. Every event of every sender's own file
// arrives at the collector under that sender's host name, each once,
// duplicates no more than the sender counts as resent.
func TestIntegrationFleet(t *testing.T) {
	ktest.Require(t)
	const senders = 3
	collector, nss := fleetNet(t, senders)
	pki := newTestPKI(t)
	r := startRsyslogWith(t, "relps", pki, rsyslogOpts{netns: collector})
	bin := buildAuperfBin(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	wl := workload.CopyAs(t, dir, "wl-fleet")
	type sender struct {
		host, file, spec string
		cmd              *exec.Cmd
		out              bytes.Buffer
	}
	var ss []*sender
	for i, ns := range nss {
		s := &sender{host: fmt.Sprintf("fleet-sender-%d", i+1), file: filepath.Join(dir, fmt.Sprintf("s%d.json", i+1))}
		s.spec = fmt.Sprintf("syslog:relps://10.201.%d.1:%d?ca=%s&cert=%s&key=%s&server_name=localhost&timeout=1s&spool=%s",
			i+1, r.port, pki.ca, pki.clientCert, pki.clientKey, filepath.Join(dir, fmt.Sprintf("spool%d", i+1)))
		// Its own host name (a UTS namespace), network and workload.
		s.cmd = exec.Command("ip", "netns", "exec", ns, "unshare", "--uts", "sh", "-c", `hostname "$0" && exec "$@"`, s.host,
			bin, "run", "--config", "", "--source", "perf", "--events", "msync", "--stats-interval", "1s",
			"--output", "json:"+s.file, "--output", s.spec, "--",
			wl, "-loop", "3000", "-threads", "1", "-rate", "600", "-dir", dir, "-summary", filepath.Join(dir, fmt.Sprintf("sum%d.json", i+1)))
		s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	defer func() {
		for _, s := range ss {
			if s.cmd.ProcessState == nil {
				s.cmd.Process.Kill()
				s.cmd.Wait()
			}
		}
	}()
	// The collector restarts mid-run.
	time.Sleep(2 * time.Second)
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.cmd.Wait()
	time.Sleep(1500 * time.Millisecond)
	r2 := startRsyslogWith(t, "relps", pki, rsyslogOpts{netns: collector, port: r.port, dir: r.dir})
	for _, s := range ss {
		if err := s.cmd.Wait(); err != nil {
			t.Fatalf("%s: %v\n%s", s.host, err, s.out.String())
		}
	}
	// What each sender wrote to its file, and what it counted.
	want := map[string]map[string]bool{}
	resent := map[string]uint64{}
	for _, s := range ss {
		want[s.host] = map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(readFile(t, s.file)))
		sc.Buffer(nil, 1<<20)
		var lastStats fleetEvent
		for sc.Scan() {
			var e fleetEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("%s: %v", s.file, err)
			}
			if e.EventName == "auperf_stats" {
				lastStats = e
				continue
			}
			if e.HostName != s.host {
				t.Fatalf("%s: event of host %q in its file", s.host, e.HostName)
			}
			want[s.host][e.key()] = true
		}
		name := "output:" + strings.SplitN(s.spec, "?", 2)[0]
		for _, a := range lastStats.Args {
			if v, ok := a.Value.(float64); ok && a.Name == name+".resent" {
				resent[s.host] = uint64(v)
			}
		}
	}
	got := map[string]map[string]int{}
	waitFor(t, "every sender's events at the collector", func() bool {
		clear(got)
		for _, m := range r2.messages() {
			rec := parse5424(t, m)
			var e fleetEvent
			json.Unmarshal([]byte(strings.TrimPrefix(*rec.msg.Message, "@cee:")), &e)
			host := *rec.msg.Hostname
			if e.HostName != host {
				t.Fatalf("syslog HOSTNAME %q, body hostName %q", host, e.HostName)
			}
			if got[host] == nil {
				got[host] = map[string]int{}
			}
			got[host][e.key()]++
		}
		for h, keys := range want {
			for k := range keys {
				if got[h][k] == 0 {
					return false
				}
			}
		}
		return true
	})
	for _, s := range ss {
		dups := 0
		for k, n := range got[s.host] {
			if !want[s.host][k] {
				continue // auperf_stats and auperf_lost: not in the comparison
			}
			dups += n - 1
		}
		t.Logf("%s: %d events in its file, all at the collector, %d twice, %d counted resent", s.host, len(want[s.host]), dups, resent[s.host])
		if len(want[s.host]) < 1000 {
			t.Errorf("%s: only %d events", s.host, len(want[s.host]))
		}
		if uint64(dups) > resent[s.host] {
			t.Errorf("%s: %d duplicates, %d resent", s.host, dups, resent[s.host])
		}
	}
}

// TestIntegrationAuperfKilledHoldingSpool: auperf run ships over RELP to a
// collector that is not there yet, with a spool and a 16 KiB memory
// buffer, so that the workload's msync events all go to disk. auperf is
// killed (SIGKILL) holding them; the collector comes up; the next start
// of auperf with the same spool replays them. Every msync call of the
// workload (its summary counts them) arrives, and none more often than
// the second run counts as resent.
func TestIntegrationAuperfKilledHoldingSpool(t *testing.T) {
	ktest.Require(t)
	bin := buildAuperfBin(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	wl := workload.CopyAs(t, dir, "wl-spool")
	port := freePort(t, "tcp")
	spool := filepath.Join(dir, "spool")
	spec := fmt.Sprintf("syslog:relp://127.0.0.1:%d?spool=%s&buffer=16KiB&timeout=1s", port, spool)
	name := "output:" + strings.SplitN(spec, "?", 2)[0]
	first, second := filepath.Join(dir, "first.json"), filepath.Join(dir, "second.json")
	pidFile, summary := filepath.Join(dir, "cmd.pid"), filepath.Join(dir, "sum.json")
	t.Cleanup(func() { exec.Command(bin, "cleanup").Run() }) // what the killed run left mounted
	cmd := exec.Command(bin, "run", "--config", "", "--source", "perf", "--events", "msync", "--stats-interval", "200ms",
		"--output", "json:"+first, "--output", spec, "--",
		"sh", "-c", `echo $$ > "$0" && "$1" -loop 2000 -threads 1 -dir "$2" -summary "$3" && exec sleep 120`, pidFile, wl, dir, summary)
	logf, err := os.Create(filepath.Join(dir, "first.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf // (a buffer would make Wait wait for the command's sleep)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if b, err := os.ReadFile(pidFile); err == nil { // the command's sleep, ours to end
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()
	// The workload's msync events, and the sink's counters, from the
	// file sink of the same run.
	var wlPID int
	calls := uint64(0)
	spooled := func() (n uint64) {
		sc := bufio.NewScanner(bytes.NewReader(readFile(t, first)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e struct {
				EventName string
				Args      []struct {
					Name  string
					Value any
				}
			}
			if json.Unmarshal(sc.Bytes(), &e) != nil || e.EventName != "auperf_stats" {
				continue
			}
			for _, a := range e.Args {
				if v, ok := a.Value.(float64); ok && a.Name == name+".spooled" {
					n = uint64(v)
				}
			}
		}
		return n
	}
	waitFor(t, "the workload done and its events spooled", func() bool {
		if calls == 0 {
			s, err := workload.ReadSummary(summary)
			if err != nil {
				return false
			}
			wlPID, calls = s.PID, s.Calls["msync"]
		}
		return spooled() >= calls
	})
	cmd.Process.Kill()
	cmd.Wait()
	killed = true
	t.Logf("killed auperf holding %d spooled events (the workload made %d msync calls)", spooled(), calls)

	r := startRsyslogWith(t, "relp", nil, rsyslogOpts{port: port})
	second2 := exec.Command(bin, "run", "--config", "", "--source", "perf", "--events", "msync", "--stats-interval", "0",
		"--output", "json:"+second, "--output", spec, "--", "sleep", "3")
	if b, err := second2.CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, b)
	}
	var resent, replayed uint64
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, second)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e fleetEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.EventName != "auperf_stats" {
			continue
		}
		for _, a := range e.Args {
			if v, ok := a.Value.(float64); ok {
				switch a.Name {
				case name + ".resent":
					resent = uint64(v)
				case name + ".replayed":
					replayed = uint64(v)
				}
			}
		}
	}
	seen := map[string]int{}
	waitFor(t, "the workload's msync events at the collector", func() bool {
		clear(seen)
		for _, m := range r.messages() {
			var e struct {
				ProcessID int    `json:"processId"`
				EventName string `json:"eventName"`
				Timestamp int64  `json:"timestamp"`
				ThreadID  int    `json:"threadId"`
			}
			json.Unmarshal([]byte(strings.TrimPrefix(*parse5424(t, m).msg.Message, "@cee:")), &e)
			if e.ProcessID == wlPID && e.EventName == "msync" {
				seen[fmt.Sprintf("%d/%d", e.Timestamp, e.ThreadID)]++
			}
		}
		return uint64(len(seen)) >= calls
	})
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("second run: replayed %d, resent %d; the collector has %d of the workload's %d msync calls, %d twice", replayed, resent, len(seen), calls, dups)
	if uint64(len(seen)) != calls || uint64(dups) > resent || replayed < calls {
		t.Errorf("%d of %d msync calls arrived, %d twice (resent %d), replayed %d", len(seen), calls, dups, resent, replayed)
	}
}
