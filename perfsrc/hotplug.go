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

// hotplugEvery is how often Run looks for CPUs brought online.
const hotplugEvery = int64(time.Second)

// addOnlineCPUs attaches the CPUs that came online since attach. It
// reports whether it added one.
func (s *Source) addOnlineCPUs() bool {
	k, p := s.k, s.run
	if k == nil || k.openCPU == nil {
		return false
	}
	online, err := onlineCPUs(s.cfg.Paths.Sys("devices/system/cpu/online"))
	if err != nil {
		return false
	}
	added := false
	for _, cpu := range online {
		if slices.Contains(p.cpus, cpu) || k.cpuFailed[cpu] {
			continue
		}
		ne, nr, nt := len(k.events), len(k.rings), len(k.tpEvents)
		err := k.openCPU(cpu)
		if err == nil && len(k.rings) != nr+1 {
			err = errors.New("no ring")
		}
		for i := ne; err == nil && i < len(k.events); i++ {
			err = k.events[i].Enable()
		}
		if err != nil {
			// Left untraced, as before; not retried every second.
			k.closeFrom(ne, nr, nt)
			if k.cpuFailed == nil {
				k.cpuFailed = make(map[int]bool)
			}
			k.cpuFailed[cpu] = true
			continue
		}
		p.addCPU(cpu)
		added = true
	}
	return added
}
