// Package report reads auperf JSON lines (auperf run, auperf decode; args
// as an array or an object) and summarises them per process: syscall
// counts and failures by errno, shared writable file mappings with their
// msync coverage, locked memory over time, and the findings of package
// insight, as text, JSON or one self-contained HTML page.
//
// The findings are the input's own when it has any (auperf run with
// insights on); otherwise they are derived here, from the syscall events,
// by the same tracker. The mapping and locked-memory tables always come
// from that tracker. Offline nobody knows when a process ended unless the
// input holds its exit_group: its mappings are "still mapped" at the end.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/insight"
)

// Buckets is how many time slices the timeline has.
const Buckets = 60

// Report is the summary of one input.
type Report struct {
	Events       int        `json:"events"`           // syscall events read
	Other        int        `json:"otherEvents"`      // auperf's own (stats, lost) and findings
	Skipped      int        `json:"skippedLines"`     // lines that are not auperf JSON
	First        int64      `json:"firstNs"`          // the earliest timestamp
	Last         int64      `json:"lastNs"`           // the latest
	Lost         uint64     `json:"lost"`             // events the sources reported lost (auperf_lost)
	FindingsFrom string     `json:"findingsFrom"`     // "input" or "derived"
	Findings     int        `json:"findings"`         // in every process
	BucketNs     int64      `json:"timelineBucketNs"` // the width of a timeline slice
	Processes    []*Process `json:"processes"`
}

// Process is one process (host and pid).
type Process struct {
	Host       string          `json:"hostName,omitempty"`
	PID        int32           `json:"processId"`
	Name       string          `json:"processName"`
	Executable string          `json:"executable,omitempty"`
	Sources    []string        `json:"sources"`
	First      int64           `json:"firstNs"`
	Last       int64           `json:"lastNs"`
	Calls      int             `json:"calls"`
	Failed     int             `json:"failed"`
	Syscalls   []*SyscallCount `json:"syscalls"`
	Errnos     []ErrnoCount    `json:"errnos"`
	Mappings   []Mapping       `json:"sharedWritableFileMappings"`
	Locked     []LockPoint     `json:"lockedOverTime"`
	LockedPeak uint64          `json:"lockedPeakBytes"`
	Findings   []Finding       `json:"findings"`
	Timeline   []int           `json:"timeline"` // calls per slice of the input's time span

	syscalls map[string]*SyscallCount
	errnos   map[string]int
	hist     hist
}

// SyscallCount is one syscall's calls in a process.
type SyscallCount struct {
	Name   string         `json:"name"`
	Calls  int            `json:"calls"`
	Failed int            `json:"failed"`
	Errnos map[string]int `json:"errnos,omitempty"`
}

// ErrnoCount is failures with one errno.
type ErrnoCount struct {
	Errno string `json:"errno"`
	Count int    `json:"count"`
}

// Mapping is a shared writable file mapping and its msync coverage.
type Mapping struct {
	Addr      string `json:"addr"`
	Length    uint64 `json:"length"`
	File      string `json:"file,omitempty"`
	Synced    uint64 `json:"msSyncBytes"`
	AsyncOnly uint64 `json:"msAsyncOnlyBytes"`
	Mapped    int64  `json:"mappedNs"`
	Ended     int64  `json:"endedNs,omitempty"`
	Verdict   string `json:"verdict"`
}

// LockPoint is a process's locked bytes from a moment on.
type LockPoint struct {
	Ts    int64  `json:"ns"`
	Bytes uint64 `json:"bytes"`
}

// Finding is one derived event.
type Finding struct {
	Ts          int64  `json:"ns"`
	Name        string `json:"name"`
	Addr        string `json:"addr"`
	Length      uint64 `json:"length"`
	Pattern     string `json:"pattern,omitempty"`
	File        string `json:"file,omitempty"`
	Explanation string `json:"explanation"`
	Evidence    string `json:"evidence"`
}

// line is one auperf JSON line, as far as the report reads it.
type line struct {
	Timestamp   int64  `json:"timestamp"`
	ProcessID   *int32 `json:"processId"`
	ProcessName string `json:"processName"`
	Executable  *struct{ Path string }
	HostName    string          `json:"hostName"`
	File        *jsonFile       `json:"file"`
	EventName   string          `json:"eventName"`
	Syscall     string          `json:"syscall"`
	ReturnValue *int64          `json:"returnValue"`
	Errno       string          `json:"errno"`
	Args        json.RawMessage `json:"args"`
	ArgsDecoded map[string]string
	Source      string `json:"source"`
}

type jsonFile struct {
	Path   string `json:"path"`
	Device string `json:"device"`
	Inode  uint64 `json:"inode"`
	From   string `json:"from"`
}

type jsonArg struct {
	Name    string       `json:"name"`
	Value   *json.Number `json:"value"`
	Decoded *string      `json:"decoded"`
}

// args returns the arguments by name: value (ok false: null or absent)
// and decoded text.
func (l *line) args() (map[string]uint64, map[string]string, error) {
	vals, texts := map[string]uint64{}, map[string]string{}
	if len(l.Args) == 0 {
		return vals, texts, nil
	}
	num := func(n *json.Number) (uint64, bool) {
		if n == nil {
			return 0, false
		}
		if v, err := strconv.ParseInt(string(*n), 10, 64); err == nil {
			return uint64(v), true
		}
		v, err := strconv.ParseUint(string(*n), 10, 64)
		return v, err == nil
	}
	d := json.NewDecoder(bytes.NewReader(l.Args))
	d.UseNumber()
	if l.Args[0] == '[' {
		var arr []jsonArg
		if err := d.Decode(&arr); err != nil {
			return nil, nil, err
		}
		for _, a := range arr {
			if v, ok := num(a.Value); ok {
				vals[a.Name] = v
			}
			if a.Decoded != nil {
				texts[a.Name] = *a.Decoded
			}
		}
		return vals, texts, nil
	}
	var obj map[string]*json.Number
	if err := d.Decode(&obj); err != nil {
		return nil, nil, err
	}
	for k, n := range obj {
		if v, ok := num(n); ok {
			vals[k] = v
		}
	}
	for k, v := range l.ArgsDecoded {
		texts[k] = v
	}
	return vals, texts, nil
}

func (f *jsonFile) file() *event.File {
	if f == nil {
		return nil
	}
	out := &event.File{Path: f.Path, Inode: f.Inode, From: f.From}
	var maj, min uint64
	if _, err := fmt.Sscanf(f.Device, "%d:%d", &maj, &min); err == nil {
		out.Dev = (maj&0xfff)<<8 | (maj&^0xfff)<<32 | min&0xff | (min&^0xff)<<12
	}
	return out
}

func isFinding(name string) bool {
	return name != "file_identity" && slices.Contains(insight.Names(), name)
}

type procKey struct {
	host string
	pid  int32
}

// Build reads the JSON lines of r.
func Build(r io.Reader) (*Report, error) {
	rep := &Report{}
	procs := map[procKey]*Process{}
	var inputFindings, derived []*findingAt
	get := func(l *line) *Process {
		k := procKey{l.HostName, *l.ProcessID}
		p := procs[k]
		if p == nil {
			p = &Process{Host: l.HostName, PID: *l.ProcessID, First: l.Timestamp, syscalls: map[string]*SyscallCount{}, errnos: map[string]int{}}
			procs[k] = p
		}
		if l.ProcessName != "" {
			p.Name = l.ProcessName
		}
		if l.Executable != nil {
			p.Executable = l.Executable.Path
		}
		if l.Source != "" && !slices.Contains(p.Sources, l.Source) {
			p.Sources = append(p.Sources, l.Source)
		}
		p.First, p.Last = min(p.First, l.Timestamp), max(p.Last, l.Timestamp)
		return p
	}
	// One tracker per host: pids are per host.
	trackers := map[string]*insight.Tracker{}
	byPID := func(host string, pid int32) *Process { return procs[procKey{host, pid}] }
	tracker := func(host string) *insight.Tracker {
		if t := trackers[host]; t != nil {
			return t
		}
		t := insight.New(insight.All&^insight.FileIdentity, insight.Limits{}, func(ev *event.Event) {
			derived = append(derived, &findingAt{host: host, pid: ev.ProcessID, f: findingOf(ev)})
		})
		t.SetHooks(insight.Hooks{
			Mapping: func(m insight.Mapping) {
				if p := byPID(host, m.PID); p != nil {
					p.Mappings = append(p.Mappings, mappingOf(m))
				}
			},
			Locked: func(pid int32, ts int64, bytes uint64) {
				if p := byPID(host, pid); p != nil {
					p.Locked = append(p.Locked, LockPoint{ts, bytes})
					p.LockedPeak = max(p.LockedPeak, bytes)
				}
			},
		})
		trackers[host] = t
		return t
	}
	var ev event.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	first := true
	for sc.Scan() {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil || l.EventName == "" {
			rep.Skipped++
			continue
		}
		if first || l.Timestamp < rep.First {
			rep.First = l.Timestamp
		}
		if first || l.Timestamp > rep.Last {
			rep.Last = l.Timestamp
		}
		first = false
		vals, texts, err := l.args()
		if err != nil {
			rep.Skipped++
			continue
		}
		switch {
		case l.EventName == event.NameLost:
			rep.Other++
			rep.Lost += vals["lost"]
			continue
		case l.Source == event.SourceAuperf || l.ProcessID == nil:
			rep.Other++
			continue
		case l.Syscall == "" && isFinding(l.EventName):
			rep.Other++
			get(&l)
			f := Finding{Ts: l.Timestamp, Name: l.EventName, Addr: texts["addr"], Length: vals["length"], Pattern: texts["pattern"],
				Explanation: texts["explanation"], Evidence: texts["evidence"]}
			if l.File != nil {
				f.File = l.File.Path
			}
			inputFindings = append(inputFindings, &findingAt{host: l.HostName, pid: *l.ProcessID, f: f})
			continue
		case l.Syscall == "":
			rep.Other++
			continue
		}
		rep.Events++
		p := get(&l)
		p.Calls++
		p.hist.add(l.Timestamp)
		sc := p.syscalls[l.Syscall]
		if sc == nil {
			sc = &SyscallCount{Name: l.Syscall}
			p.syscalls[l.Syscall] = sc
		}
		sc.Calls++
		if l.Errno != "" {
			p.Failed++
			sc.Failed++
			if sc.Errnos == nil {
				sc.Errnos = map[string]int{}
			}
			sc.Errnos[l.Errno]++
			p.errnos[l.Errno]++
		}
		// The event again, for the tracker.
		ev.Reset()
		ev.Known = event.HasProcess
		ev.Timestamp, ev.ProcessID, ev.Source = l.Timestamp, *l.ProcessID, l.Source
		ev.ProcessName, ev.HostName = l.ProcessName, l.HostName
		ev.Syscall, ev.EventName = l.Syscall, l.EventName
		if l.ReturnValue != nil {
			ev.Known |= event.HasReturn
			ev.ReturnValue = *l.ReturnValue
		}
		ev.File = l.File.file()
		if spec, ok := decode.Spec(l.Syscall); ok {
			a := ev.SetArgs(len(spec.Args))
			for i, as := range spec.Args {
				a[i].Name = as.Name
				if v, ok := vals[as.Name]; ok {
					a[i].Kind, a[i].Value = event.ArgUint, v
				}
			}
		}
		tracker(l.HostName).Observe(&ev)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	hosts := make([]string, 0, len(trackers))
	for h := range trackers {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		trackers[h].Open()
	}
	findings := derived
	rep.FindingsFrom = "derived"
	if len(inputFindings) > 0 {
		findings, rep.FindingsFrom = inputFindings, "input"
	}
	for _, fa := range findings {
		if p := procs[procKey{fa.host, fa.pid}]; p != nil {
			p.Findings = append(p.Findings, fa.f)
			rep.Findings++
		}
	}
	span := rep.Last - rep.First + 1
	rep.BucketNs = (span + Buckets - 1) / Buckets
	for _, p := range procs {
		p.Timeline = p.hist.buckets(rep.First, rep.BucketNs)
		p.finish()
		rep.Processes = append(rep.Processes, p)
	}
	sort.Slice(rep.Processes, func(i, j int) bool {
		a, b := rep.Processes[i], rep.Processes[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		return a.PID < b.PID
	})
	return rep, nil
}

// hist counts calls per time slot: per millisecond, coarsened to the
// second when a process has too many slots to keep.
type hist struct {
	res    int64 // slot width (ns)
	counts map[int64]int
}

func (h *hist) add(ns int64) {
	if h.counts == nil {
		h.res, h.counts = 1e6, map[int64]int{}
	}
	h.counts[ns/h.res]++
	if len(h.counts) > 100000 && h.res < 1e9 {
		old := h.counts
		h.res, h.counts = 1e9, map[int64]int{}
		for k, n := range old {
			h.counts[k*1e6/1e9] += n
		}
	}
}

// buckets spreads the counts over Buckets slices of width w from first.
func (h *hist) buckets(first, w int64) []int {
	out := make([]int, Buckets)
	for k, n := range h.counts {
		i := (k*h.res - first) / w
		out[min(max(i, 0), Buckets-1)] += n
	}
	return out
}

type findingAt struct {
	host string
	pid  int32
	f    Finding
}

func findingOf(ev *event.Event) Finding {
	f := Finding{Ts: ev.Timestamp, Name: ev.EventName}
	for _, a := range ev.Args {
		switch a.Name {
		case "addr":
			f.Addr = fmt.Sprintf("0x%x", a.Value)
		case "length":
			f.Length = a.Value
		case "pattern":
			f.Pattern = a.Str
		case "evidence":
			f.Evidence = a.Str
		case "explanation":
			f.Explanation = a.Str
		}
	}
	if ev.File != nil {
		f.File = ev.File.Path
	}
	return f
}

func mappingOf(m insight.Mapping) Mapping {
	out := Mapping{Addr: fmt.Sprintf("0x%x", m.Addr), Length: m.Length, Synced: m.Synced, AsyncOnly: m.AsyncOnly,
		Mapped: m.Mapped, Ended: m.Ended, Verdict: m.Verdict}
	if m.File != nil {
		out.File = m.File.Path
		if m.File.From == "gone" {
			out.File = "?"
		}
	}
	return out
}

// finish sorts a process's tables.
func (p *Process) finish() {
	for _, s := range p.syscalls {
		p.Syscalls = append(p.Syscalls, s)
	}
	sort.Slice(p.Syscalls, func(i, j int) bool {
		a, b := p.Syscalls[i], p.Syscalls[j]
		return a.Calls > b.Calls || a.Calls == b.Calls && a.Name < b.Name
	})
	for e, n := range p.errnos {
		p.Errnos = append(p.Errnos, ErrnoCount{e, n})
	}
	sort.Slice(p.Errnos, func(i, j int) bool {
		a, b := p.Errnos[i], p.Errnos[j]
		return a.Count > b.Count || a.Count == b.Count && a.Errno < b.Errno
	})
	if p.Syscalls == nil {
		p.Syscalls = []*SyscallCount{}
	}
	if p.Errnos == nil {
		p.Errnos = []ErrnoCount{}
	}
	if p.Mappings == nil {
		p.Mappings = []Mapping{}
	}
	if p.Locked == nil {
		p.Locked = []LockPoint{}
	}
	if p.Findings == nil {
		p.Findings = []Finding{}
	}
	if p.Sources == nil {
		p.Sources = []string{}
	}
	sort.Strings(p.Sources)
	sort.SliceStable(p.Findings, func(i, j int) bool { return p.Findings[i].Ts < p.Findings[j].Ts })
}

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, rep *Report) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(rep)
}

// clock is a timestamp as UTC time of day with microseconds.
func clock(ns int64) string { return string(event.AppendClock(nil, ns)) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteText writes the report for a terminal.
func WriteText(w io.Writer, rep *Report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "auperf report: %d syscall events of %d %s", rep.Events, len(rep.Processes), plural(len(rep.Processes), "process", "processes"))
	if rep.Events > 0 || rep.Other > 0 {
		fmt.Fprintf(bw, ", %s to %s UTC (%.3f s)", clock(rep.First), clock(rep.Last), float64(rep.Last-rep.First)/1e9)
	}
	fmt.Fprintf(bw, "; %d findings (%s)", rep.Findings, map[string]string{"input": "from the input", "derived": "derived from the syscalls"}[rep.FindingsFrom])
	if rep.Lost > 0 {
		fmt.Fprintf(bw, "; %d events LOST by the sources", rep.Lost)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(bw, "; %d lines skipped (not auperf JSON)", rep.Skipped)
	}
	fmt.Fprintln(bw)
	for _, p := range rep.Processes {
		fmt.Fprintf(bw, "\nprocess %d %s", p.PID, p.Name)
		if p.Executable != "" {
			fmt.Fprintf(bw, " (%s)", p.Executable)
		}
		if p.Host != "" {
			fmt.Fprintf(bw, " on %s", p.Host)
		}
		fmt.Fprintf(bw, ", %s, %d calls, %d failed\n", strings.Join(p.Sources, "+"), p.Calls, p.Failed)
		if len(p.Syscalls) > 0 {
			var parts []string
			for _, s := range p.Syscalls {
				part := fmt.Sprintf("%s %d", s.Name, s.Calls)
				if s.Failed > 0 {
					part += fmt.Sprintf(" (%d failed)", s.Failed)
				}
				parts = append(parts, part)
			}
			fmt.Fprintf(bw, "  syscalls: %s\n", strings.Join(parts, ", "))
		}
		if len(p.Errnos) > 0 {
			fmt.Fprintf(bw, "  failures by errno:")
			for _, e := range p.Errnos {
				fmt.Fprintf(bw, " %s %d", e.Errno, e.Count)
			}
			fmt.Fprintln(bw)
		}
		if len(p.Mappings) > 0 {
			fmt.Fprintf(bw, "  shared writable file mappings:\n    %-16s %10s %10s %10s  %-16s %s\n", "ADDR", "LENGTH", "MS_SYNC", "ASYNC ONLY", "VERDICT", "FILE")
			for _, m := range p.Mappings {
				fmt.Fprintf(bw, "    %-16s %10d %10d %10d  %-16s %s\n", m.Addr, m.Length, m.Synced, m.AsyncOnly, m.Verdict, m.File)
			}
		}
		if len(p.Locked) > 0 {
			var parts []string
			for _, l := range p.Locked {
				parts = append(parts, fmt.Sprintf("%s %d", clock(l.Ts), l.Bytes))
			}
			fmt.Fprintf(bw, "  locked bytes over time (peak %d): %s\n", p.LockedPeak, strings.Join(parts, ", "))
		}
		if len(p.Findings) > 0 {
			fmt.Fprintf(bw, "  findings:\n")
			for _, f := range p.Findings {
				fmt.Fprintf(bw, "    %s %s %s+%d", clock(f.Ts), f.Name, f.Addr, f.Length)
				if f.Pattern != "" {
					fmt.Fprintf(bw, " %s", f.Pattern)
				}
				if f.File != "" {
					fmt.Fprintf(bw, " %s", f.File)
				}
				fmt.Fprintf(bw, ": %s\n", f.Explanation)
			}
		}
	}
	return bw.Flush()
}
