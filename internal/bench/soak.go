// The soak (make soak): auperf traces a steady load, below the rate it can
// take, for a long time; its RSS, open fds and counters are sampled every
// 10s. It fails on loss, on fds that grow, or on RSS that keeps growing.

package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/auperf/auperf/internal/workload"
)

// SoakConfig says what to soak.
type SoakConfig struct {
	Auperf, Workload string
	Dir              string
	Duration         time.Duration // per source
	Every            time.Duration // sampling period (10s)
	Sources          []string      // perf, audit
	Log              io.Writer
}

// SoakSample is one sample of the running auperf.
type SoakSample struct {
	At      time.Duration // since the start
	RSS     uint64        // bytes (VmRSS)
	FDs     int
	Emitted uint64 // pipeline.emitted
	Lost    uint64 // pipeline.lost
}

// SoakResult is one source's soak.
type SoakResult struct {
	Source       string
	CapacityRate float64 // calls/s it took in the calibration (loop at full speed)
	Rate         float64 // calls/s of the soak's paced loop
	Generated    uint64  // the workload's calls
	Samples      []SoakSample
	Problems     []string
}

// Soak runs each source's soak in turn.
func Soak(ctx context.Context, cfg SoakConfig) ([]SoakResult, error) {
	if cfg.Every <= 0 {
		cfg.Every = 10 * time.Second
	}
	var out []SoakResult
	for _, src := range cfg.Sources {
		r, err := soakOne(ctx, cfg, src)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func soakOne(ctx context.Context, cfg SoakConfig, src string) (SoakResult, error) {
	r := SoakResult{Source: src}
	logf := func(format string, a ...any) {
		fmt.Fprintf(cfg.Log, "soak %s: "+format+"\n", append([]any{src}, a...)...)
	}
	// Calibration: the loop at full speed under auperf, 5s worth.
	sum := filepath.Join(cfg.Dir, "soak-cal-"+src+".json")
	cal := exec.CommandContext(ctx, cfg.Auperf, "run", "--config", "", "--source", src, "--stats-interval", "0",
		"--output", "json:/dev/null", "--", cfg.Workload, "-loop", "30000", "-threads", "1", "-dir", cfg.Dir, "-summary", sum)
	if b, err := cal.CombinedOutput(); err != nil {
		return r, fmt.Errorf("calibration: %v: %s", err, b)
	}
	s, err := workload.ReadSummary(sum)
	if err != nil {
		return r, err
	}
	r.CapacityRate = s.CallsPerSec
	r.Rate = r.CapacityRate / 2
	iterRate := int(r.Rate / 6) // 6 calls an iteration
	iters := int(float64(iterRate) * cfg.Duration.Seconds())
	logf("took %.0f calls/s at full speed; soaking at %.0f calls/s for %v", r.CapacityRate, r.Rate, cfg.Duration)

	port, err := freePort()
	if err != nil {
		return r, err
	}
	sum = filepath.Join(cfg.Dir, "soak-"+src+".json")
	cmd := exec.CommandContext(ctx, cfg.Auperf, "run", "--config", "", "--source", src, "--stats-interval", "1m",
		"--metrics-listen", "127.0.0.1:"+strconv.Itoa(port), "--output", "json:/dev/null", "--",
		cfg.Workload, "-loop", strconv.Itoa(iters), "-rate", strconv.Itoa(iterRate), "-threads", "1", "-dir", cfg.Dir, "-summary", sum)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(cfg.Every)
	defer tick.Stop()
	for running := true; running; {
		select {
		case err := <-done:
			running = false
			if err != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("auperf: %v: %s", err, strings.TrimSpace(stderr.String())))
			}
		case <-tick.C:
			smp := SoakSample{At: time.Since(start).Round(time.Second)}
			smp.RSS, smp.FDs = procRSS(cmd.Process.Pid), procFDs(cmd.Process.Pid)
			c := scrapeCounters("127.0.0.1:" + strconv.Itoa(port))
			smp.Emitted, smp.Lost = c["auperf_events_emitted_total{source=\"pipeline\"}"], c["auperf_events_lost_total{source=\"pipeline\"}"]
			r.Samples = append(r.Samples, smp)
			logf("%6v  rss %5.1f MiB  fds %3d  emitted %10d  lost %d", smp.At, float64(smp.RSS)/(1<<20), smp.FDs, smp.Emitted, smp.Lost)
		}
	}
	if s, err := workload.ReadSummary(sum); err == nil {
		r.Generated = s.Total
	}
	if strings.Contains(stderr.String(), "lost in the kernel") {
		r.Problems = append(r.Problems, "loss: "+strings.TrimSpace(stderr.String()))
	}
	r.Problems = append(r.Problems, r.judge()...)
	return r, nil
}

// judge finds growth and loss in the samples: no sample may report loss;
// fds may not move by more than 2; RSS after the first minute may not end
// more than 10% (and 4 MiB) above where it started, nor rise in every third.
func (r *SoakResult) judge() []string {
	var p []string
	var steady []SoakSample
	for _, s := range r.Samples {
		if s.Lost > 0 {
			p = append(p, fmt.Sprintf("%d lost at %v", s.Lost, s.At))
			break
		}
		if s.At >= time.Minute && s.RSS > 0 {
			steady = append(steady, s)
		}
	}
	if len(steady) < 3 {
		return append(p, fmt.Sprintf("%d samples past the first minute: too few to judge growth", len(steady)))
	}
	minFD, maxFD := steady[0].FDs, steady[0].FDs
	for _, s := range steady {
		minFD, maxFD = min(minFD, s.FDs), max(maxFD, s.FDs)
	}
	if maxFD-minFD > 2 {
		p = append(p, fmt.Sprintf("open fds moved from %d to %d", minFD, maxFD))
	}
	third := len(steady) / 3
	avg := func(ss []SoakSample) float64 {
		var t float64
		for _, s := range ss {
			t += float64(s.RSS)
		}
		return t / float64(len(ss))
	}
	first, last := avg(steady[:max(third, 1)]), avg(steady[len(steady)-max(third, 1):])
	if last > first*1.10 && last-first > 4<<20 {
		p = append(p, fmt.Sprintf("RSS grew from %.1f to %.1f MiB (first and last third of the steady samples)", first/(1<<20), last/(1<<20)))
	}
	return p
}

func procRSS(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	rss, _ := ParseStatusKB(b, "VmRSS")
	return rss
}

func procFDs(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// scrapeCounters reads the metrics endpoint: "name{labels}" -> value.
func scrapeCounters(addr string) map[string]uint64 {
	out := map[string]uint64{}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err == nil {
			out[l[:i]] = uint64(v)
		}
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WriteSoak prints the series and the verdict per source.
func WriteSoak(w io.Writer, rs []SoakResult) {
	for _, r := range rs {
		fmt.Fprintf(w, "\nsoak %s: capacity %.0f calls/s, soaked at %.0f calls/s, %d calls generated\n", r.Source, r.CapacityRate, r.Rate, r.Generated)
		fmt.Fprintf(w, "%8s  %9s  %4s  %12s  %5s\n", "TIME", "RSS MiB", "FDS", "EMITTED", "LOST")
		for _, s := range r.Samples {
			fmt.Fprintf(w, "%8v  %9.1f  %4d  %12d  %5d\n", s.At, float64(s.RSS)/(1<<20), s.FDs, s.Emitted, s.Lost)
		}
		if len(r.Problems) == 0 {
			fmt.Fprintln(w, "ok: no loss, no fd growth, no RSS growth trend")
		}
		for _, p := range r.Problems {
			fmt.Fprintln(w, "FAIL:", p)
		}
	}
}
