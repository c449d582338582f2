package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/insight"
)

// insightFindings runs a scripted process through an insight tracker and
// returns a copy of each finding: one of every kind.
func insightFindings(t *testing.T) []*event.Event {
	var out []*event.Event
	tr := insight.New(insight.All, insight.Limits{}, func(ev *event.Event) {
		cp := *ev
		cp.Args = append([]event.Arg(nil), ev.Args...)
		out = append(out, &cp)
	})
	const (
		A, B, C, D   = 0x7f0000000000, 0x7f0000010000, 0x7f0000020000, 0x7f0000030000
		rw, rx, rwx  = 3, 5, 7
		shared, anon = 1, 0x22
	)
	file := &event.File{Path: "/data/f", Dev: 0xfe01, Inode: 7, From: "map"}
	var ts int64
	call := func(nr int32, ret int64, f *event.File, args ...uint64) {
		var ev event.Event
		var raw Raw
		raw.Arch, raw.Nr, raw.Ret, raw.HasRet, raw.Known = ArchX86_64, nr, ret, true, 0x3f
		copy(raw.Args[:], args)
		Decode(&ev, &raw, nil)
		ts++
		ev.Timestamp, ev.ProcessID, ev.Known = ts, 42, ev.Known|event.HasProcess
		ev.ProcessName, ev.Source, ev.File = "app", event.SourcePerf, f
		tr.Observe(&ev)
	}
	call(9, A, file, 0, 0x2000, rw, shared, 3, 0) // mmap
	call(26, 0, nil, A, 0x1000, 4)                // msync half, MS_SYNC
	call(11, 0, nil, A, 0x2000)                   // munmap
	call(9, B, file, 0, 0x1000, rw, shared, 3, 0)
	call(26, 0, nil, B, 0x1000, 1) // MS_ASYNC
	call(11, 0, nil, B, 0x1000)
	call(9, C, file, 0, 0x1000, rw, shared, 3, 0)
	call(11, 0, nil, C, 0x1000) // no msync
	call(9, D, nil, 0, 0x1000, rwx, anon, math.MaxUint64, 0)
	call(10, 0, nil, D, 0x1000, rx) // mprotect
	call(9, A, file, 0, 0x1000, rx, shared, 3, 0)
	call(9, B, file, 0, 0x1000, rw, shared, 3, 0) // the same file writable: alias
	call(325, 0, nil, C, 0x1000, 1)               // mlock2 MLOCK_ONFAULT
	call(216, 0, nil, B, 0x1000, 0, 1, 0)         // remap_file_pages
	tr.Gone(42, ts+1)
	kinds := map[string]bool{}
	for _, f := range out {
		kinds[f.EventName] = true
	}
	for _, n := range insight.Names() {
		if n != "file_identity" && !kinds[n] {
			t.Errorf("the scripted process gave no %s", n)
		}
	}
	return out
}

// TestJSONOneTypePerPath: an index (Elasticsearch, OpenSearch) maps a
// field by the first type it sees and rejects later events whose type
// differs. Every event of the catalog (every syscall of every arch, with
// small, huge and negative arguments, succeeding, failing, an address
// returned, arguments unknown) and auperf's own events go through both
// args layouts; a JSON path (array elements as []) with two types fails,
// and so does a number that does not fit a signed 64-bit integer.
func TestJSONOneTypePerPath(t *testing.T) {
	argSets := [][6]uint64{
		{0, 0, 0, 0, 0, 0},
		{0x7f6b0f98e000, 4096, 3, 1, 3, 4096},
		{math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64},
		{1 << 63, 1 << 62, 0xffffffff, 0x80000000, 7, 1 << 40},
	}
	rets := []struct {
		ret    int64
		hasRet bool
	}{{0, true}, {0x7f6b0f98c000, true}, {-12, true}, {-4095, true}, {math.MinInt64, true}, {0, false}}
	for _, layout := range []event.Layout{event.ArgsArray, event.ArgsObject} {
		types := map[string]map[string]string{} // path -> type -> an example
		var ev event.Event
		var buf []byte
		events := 0
		add := func(what string) {
			buf = event.AppendJSONLayout(buf[:0], &ev, layout)
			if err := collectTypes(buf, types, what); err != nil {
				t.Fatalf("%s: %v\n%s", what, err, buf)
			}
			events++
		}
		for a := Arch(1); a < archCount; a++ {
			for nr := range entries[a] {
				if entries[a][nr].name == "" {
					continue
				}
				for ai, args := range argSets {
					for _, r := range rets {
						for _, known := range []uint8{0x3f, 0x0f, 0} {
							ev.Reset()
							Decode(&ev, &Raw{Arch: a, Nr: int32(nr), Args: args, Known: known, Ret: r.ret, HasRet: r.hasRet}, nil)
							add(fmt.Sprintf("%s %s args#%d ret %d", a, entries[a][nr].name, ai, r.ret))
						}
					}
				}
			}
		}
		ev.Reset()
		Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 9, Args: argSets[1], Known: 0x3f, Ret: 0x7f0000000000, HasRet: true}, nil)
		ev.Container = &event.Container{ID: strings.Repeat("ab", 32), Runtime: "docker", PidNS: 4026532201, MntNS: 4026532199}
		add("mmap in a container")
		ev.Container = &event.Container{ID: "web-01", Runtime: "systemd-nspawn"}
		add("mmap in a machine")
		ev.File = &event.File{Path: "/var/lib/x.db", Dev: 0xfe01, Inode: 12, From: "map"}
		add("mmap of a file")
		ev.File = &event.File{From: "gone"}
		add("mmap of a file gone")
		// Every kind of finding (package insight) from a scripted process.
		for _, f := range insightFindings(t) {
			ev = *f
			add("finding " + f.EventName)
		}
		ev.Reset()
		event.NewLost(&ev, 1, "perf", 1, 42, "ring")
		add("auperf_lost")
		event.NewLostUnknown(&ev, 1, "perf", 1, "cpu_hotplug")
		add("auperf_lost unknown")
		event.NewLost(&ev, 1, "audit", -1, math.MaxUint64, "backlog")
		add("auperf_lost audit")
		event.NewStats(&ev, 1, []event.Counter{{Source: "perf", Name: "received", Value: math.MaxUint64}, {Source: "audit", Name: "lost", Value: 0}})
		add("auperf_stats")

		var bad []string
		for path, ts := range types {
			if len(ts) > 1 {
				var kinds []string
				for k, ex := range ts {
					kinds = append(kinds, k+" (e.g. "+ex+")")
				}
				sort.Strings(kinds)
				bad = append(bad, fmt.Sprintf("%s: %s", path, strings.Join(kinds, ", ")))
			}
		}
		sort.Strings(bad)
		for _, b := range bad {
			t.Errorf("layout %d: %s", layout, b)
		}
		t.Logf("layout %d: %d events, %d paths", layout, events, len(types))
	}
}

// collectTypes adds the type of every path of one JSON line to types
// (null is no type: an index takes it for any field).
func collectTypes(line []byte, types map[string]map[string]string, what string) error {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err
	}
	var walk func(path string, v any) error
	walk = func(path string, v any) error {
		var kind string
		switch x := v.(type) {
		case nil:
			return nil
		case string:
			kind = "string"
		case bool:
			kind = "bool"
		case json.Number:
			kind = "number"
			if _, err := x.Int64(); err != nil {
				return fmt.Errorf("%s: %s does not fit int64", path, x)
			}
		case []any:
			kind = "array"
			for _, e := range x {
				if err := walk(path+"[]", e); err != nil {
					return err
				}
			}
		case map[string]any:
			kind = "object"
			for k, e := range x {
				if err := walk(path+"."+k, e); err != nil {
					return err
				}
			}
		}
		if types[path] == nil {
			types[path] = map[string]string{}
		}
		if _, ok := types[path][kind]; !ok {
			types[path][kind] = what
		}
		return nil
	}
	return walk("", v)
}
