package event

import (
	"encoding/json"
	"strings"
	"testing"
)

// flagDecoder is a tiny stand-in for package decode's flag sets (which are
// written concurrently): names joined by '|', unknown bits as |0x...
type flagDecoder struct {
	zero  string
	names []string // names[i] is bit i
}

func (d flagDecoder) AppendDecoded(dst []byte, v uint64) []byte {
	if v == 0 {
		return append(dst, d.zero...)
	}
	first := true
	for i, n := range d.names {
		if n != "" && v&(1<<i) != 0 {
			if !first {
				dst = append(dst, '|')
			}
			dst = append(dst, n...)
			first = false
			v &^= 1 << i
		}
	}
	if v != 0 {
		if !first {
			dst = append(dst, '|')
		}
		dst = appendHex(dst, v)
	}
	return dst
}

var (
	protDec  = flagDecoder{zero: "PROT_NONE", names: []string{"PROT_READ", "PROT_WRITE", "PROT_EXEC"}}
	mmapDec  = flagDecoder{zero: "0", names: []string{"MAP_SHARED", "MAP_PRIVATE", "", "", "MAP_FIXED", "MAP_ANONYMOUS"}}
	msyncDec = flagDecoder{zero: "0", names: []string{"MS_ASYNC", "MS_INVALIDATE", "MS_SYNC"}}
)

// perfMmap is a perf-like event with everything known.
func perfMmap(ev *Event) {
	ev.Reset()
	ev.Known = HasProcessor | HasProcess | HasThread | HasParent | HasUser | HasEventID | HasReturn | HasDuration
	ev.Timestamp = 1795689548283123456
	ev.ProcessorID = 1
	ev.ProcessID = 6188
	ev.ThreadID = 6190
	ev.ParentProcessID = 6181
	ev.UserID = 1000
	ev.ProcessName = "python3"
	ev.ExecutablePath = "/usr/bin/python3.11"
	ev.HostName = "web01"
	ev.EventID = 9
	ev.EventName = "mmap"
	ev.Syscall = "mmap"
	ev.Arch = "x86_64"
	a := ev.SetArgs(6)
	a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0}
	a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 8192}
	a[2] = Arg{Name: "prot", Type: "int", Kind: ArgInt, Value: 3, Decoder: protDec}
	a[3] = Arg{Name: "flags", Type: "int", Kind: ArgInt, Value: 1, Decoder: mmapDec}
	a[4] = Arg{Name: "fd", Type: "int", Kind: ArgInt, Value: 3}
	a[5] = Arg{Name: "off", Type: "off_t", Kind: ArgInt, Value: 0}
	ev.ReturnValue = 0x7f6b0f98e000
	ev.ReturnPointer = true
	ev.Source = SourcePerf
	ev.DurationNs = 5120
}

func TestAppendJSONQuick(t *testing.T) {
	var ev Event
	perfMmap(&ev)
	out := AppendJSON(nil, &ev)
	t.Logf("%s", out)
	if !strings.HasSuffix(string(out), "}\n") || strings.Count(string(out), "\n") != 1 {
		t.Fatalf("not one line: %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &ev) }); n != 0 {
		t.Fatalf("allocs per event = %v", n)
	}
}
