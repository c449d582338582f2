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
)

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
