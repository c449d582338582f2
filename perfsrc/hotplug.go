// CPU hotplug: the online CPU list, and attaching a CPU that comes online
// while the source runs (its calls would otherwise be missed, not even
// counted lost).

package perfsrc

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// onlineCPUs parses a cpu list file ("0-3,5").
func onlineCPUs(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read online cpus: %w", err)
	}
	var out []int
	for _, part := range strings.Split(strings.TrimSpace(string(data)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("parse online cpus %q: %w", data, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("parse online cpus %q: %w", data, err)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no online cpus")
	}
	return out, nil
}

// hotplugEvery is how often Run looks at the online CPUs: a CPU that
// comes online is traced within that time.
const hotplugEvery = int64(100 * time.Millisecond)

// hotplug follows the online CPUs. A CPU that was offline at attach is
// attached when it comes online (its calls before that are missed). A CPU
// that goes offline loses its perf events for good (the kernel takes them
// off and does not put them back); when it is back, its old ring is
// drained and closed, a new set is attached, and the gap is reported
// in-stream (auperf_lost, cause cpu_hotplug, count unknown, stamped with
// the last time the CPU was seen offline: the earliest the gap began):
// calls it ran between coming online and the new attach (hotplugEvery and
// the attach itself) are missed. An offline spell shorter than hotplugEvery goes unnoticed by the
// online list, and its gap unreported. It reports whether the rings
// changed.
func (s *Source) hotplug() bool {
	k, p := s.k, s.run
	if k == nil || k.openCPU == nil {
		return false
	}
	online, err := onlineCPUs(s.cfg.Paths.Sys("devices/system/cpu/online"))
	if err != nil {
		return false
	}
	now := wallNow()
	for i, cpu := range k.ringCPU {
		if k.rings[i] != nil && !slices.Contains(online, cpu) {
			if k.offline == nil {
				k.offline = map[int]int64{}
			}
			k.offline[cpu] = now // the gap starts after the last time it was seen offline
		}
	}
	changed := false
	for _, cpu := range online {
		since, back := k.offline[cpu]
		if !back && (slices.Contains(k.ringCPU, cpu) || k.cpuFailed[cpu]) {
			continue
		}
		if back {
			delete(k.offline, cpu)
			for i, c := range k.ringCPU {
				if c == cpu && k.rings[i] != nil {
					k.rings[i].drain(i, p)
					s.kmu.Lock()
					k.retire(i)
					s.kmu.Unlock()
				}
			}
			p.gap(since, cpu, "cpu_hotplug")
			changed = true
		}
		s.kmu.Lock()
		attached := s.attachCPU(cpu)
		s.kmu.Unlock()
		if attached {
			changed = true
		}
	}
	return changed
}

// attachCPU attaches one more CPU's events and ring; a CPU that cannot be
// attached is left untraced and not retried.
func (s *Source) attachCPU(cpu int) bool {
	k, p := s.k, s.run
	ne, nr, nt := len(k.events), len(k.rings), len(k.tpEvents)
	err := k.openCPU(cpu)
	if err == nil && len(k.rings) != nr+1 {
		err = errors.New("no ring")
	}
	for i := ne; err == nil && i < len(k.events); i++ {
		err = k.events[i].Enable()
	}
	if err != nil {
		k.closeFrom(ne, nr, nt)
		if k.cpuFailed == nil {
			k.cpuFailed = make(map[int]bool)
		}
		k.cpuFailed[cpu] = true
		return false
	}
	p.addCPU(cpu)
	return true
}
