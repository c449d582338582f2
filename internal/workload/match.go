// Matching a tracer's output with the truth: auperf's JSON events read
// back, what auperf must write for each truth call (decode's own view of
// it), and the pairing of the two, each event used once. The command's
// kernel tests and the vmtest guest checker both use it.

package workload

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
)

// Event is one line of auperf's JSON output, as checks read it.
type Event struct {
	Timestamp int64  `json:"timestamp"`
	PID       int    `json:"processId"`
	TID       *int   `json:"threadId"`
	Comm      string `json:"processName"`
	Name      string `json:"eventName"`
	ID        string `json:"eventId"`
	Arch      string `json:"arch"`
	Ret       any    `json:"returnValue"`
	Errno     string `json:"errno"`
	Source    string `json:"source"`
	Args      []struct {
		Name    string `json:"name"`
		Value   any    `json:"value"`
		Decoded string `json:"decoded"`
	} `json:"args"`
}

// ReadEvents reads auperf's JSON lines, without auperf's own events
// (auperf_stats, auperf_lost), which it returns apart.
func ReadEvents(r io.Reader) (events, own []Event, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, nil, fmt.Errorf("line %d %q: %w", n, sc.Text(), err)
		}
		if ev.Source == event.SourceAuperf {
			own = append(own, ev)
		} else {
			events = append(events, ev)
		}
	}
	return events, own, sc.Err()
}

// Want is what auperf must write for a truth call: decode's view of it,
// through the same JSON encoder.
func Want(c Call) (Event, error) {
	arch, ok := decode.ArchByName(c.Arch)
	if !ok {
		return Event{}, fmt.Errorf("truth call of unknown arch %q", c.Arch)
	}
	var ev event.Event
	decode.Decode(&ev, &decode.Raw{Arch: arch, Nr: int32(c.Nr), Args: c.Args,
		Known: uint8(1<<c.NArgs - 1), Ret: c.Ret, HasRet: true}, nil)
	var w Event
	err := json.Unmarshal(event.AppendJSON(nil, &ev), &w)
	return w, err
}

// MemoryCall reports whether c is a call of the default events (in its
// arch's names), and so one that auperf run must report.
func MemoryCall(c Call) bool {
	for _, e := range decode.DefaultEvents {
		a, _ := decode.ArchByName(c.Arch)
		if c.Name == e && !a.IsCompat() || a.IsCompat() && slices.Contains(decode.CompatNames(a, e), c.Name) {
			return true
		}
	}
	return false
}

// Matched is what Match found.
type Matched struct {
	PerSource map[string]int // truth calls matched, per source
	Missing   []Call         // truth calls no event reports exactly
	// Extra are events that report a truth call already matched: the
	// same call reported twice (by two sources, say).
	Extra []Event
}

// Match pairs every truth call that keep selects with one event of got
// (each used once) and checks pid, tid (perf), arch, number, return value,
// errno and every argument that the source can know (audit: a0..a3, later
// ones null unless a record gave them), and which source reported it
// (sourceOf). Events of the workload's Go runtime, which the truth does
// not hold, are neither missing nor extra.
func Match(truth []Call, got []Event, keep func(Call) bool, sourceOf func(Call) string) (Matched, error) {
	m := Matched{PerSource: map[string]int{}}
	used := make([]bool, len(got))
	// Candidates by (pid, arch, number): a long run matches in linear time.
	type callKey struct {
		pid      int
		arch, id string
	}
	byKey := map[callKey][]int{}
	for i := range got {
		k := callKey{got[i].PID, got[i].Arch, got[i].ID}
		byKey[k] = append(byKey[k], i)
	}
	doneBy := map[callKey][]Event{} // wanted events already matched, for duplicates
	for _, c := range truth {
		if !keep(c) {
			continue
		}
		w, err := Want(c)
		if err != nil {
			return m, err
		}
		src := sourceOf(c)
		k := callKey{c.PID, c.Arch, w.ID}
		idx := -1
		cands := byKey[k]
		for j, i := range cands {
			if !used[i] && sameCall(&got[i], &w, c, src) {
				idx = i
				// Used candidates at the front are skipped next time.
				if j == 0 {
					byKey[k] = cands[1:]
				}
				break
			}
		}
		if idx < 0 {
			m.Missing = append(m.Missing, c)
			continue
		}
		used[idx] = true
		m.PerSource[src]++
		doneBy[k] = append(doneBy[k], got[idx])
	}
	for i := range got {
		if used[i] {
			continue
		}
		done := doneBy[callKey{got[i].PID, got[i].Arch, got[i].ID}]
		for j := range done {
			if sameEvent(&got[i], &done[j]) {
				m.Extra = append(m.Extra, got[i])
				break
			}
		}
	}
	return m, nil
}

// sameCall reports whether g reports truth call c (wanted as w) from src.
func sameCall(g, w *Event, c Call, src string) bool {
	if g.PID != c.PID || g.Arch != c.Arch || g.ID != w.ID || g.Source != src ||
		!reflect.DeepEqual(g.Ret, w.Ret) || g.Errno != w.Errno || len(g.Args) != len(w.Args) {
		return false
	}
	if src == event.SourcePerf && (g.TID == nil || *g.TID != c.TID) {
		return false
	}
	for j, a := range w.Args {
		gv := g.Args[j].Value
		if src == event.SourceAudit && j >= 4 && gv == nil {
			continue // audit records a0..a3 only
		}
		if !reflect.DeepEqual(gv, a.Value) || g.Args[j].Name != a.Name || g.Args[j].Decoded != a.Decoded {
			return false
		}
	}
	return true
}

// sameEvent reports whether a and b report the same call of the same
// process with the same arguments and result, whatever the source.
func sameEvent(a, b *Event) bool {
	if a.PID != b.PID || a.Arch != b.Arch || a.ID != b.ID || !reflect.DeepEqual(a.Ret, b.Ret) || len(a.Args) != len(b.Args) {
		return false
	}
	for j := range a.Args {
		if j < 4 && !reflect.DeepEqual(a.Args[j].Value, b.Args[j].Value) {
			return false
		}
	}
	return true
}
