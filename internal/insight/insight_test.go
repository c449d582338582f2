package insight

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/auperf/auperf/event"
)

// script feeds a tracker events of one process (pid 7) and records the
// findings as "name addr+len pattern".
type script struct {
	t   *testing.T
	tr  *Tracker
	ts  int64
	got []string
	ev  event.Event
}

func newScript(t *testing.T, set Set, lim Limits) *script {
	s := &script{t: t}
	s.tr = New(set, lim, func(ev *event.Event) {
		f := fmt.Sprintf("%s %#x+%#x", ev.EventName, ev.Args[0].Value, ev.Args[1].Value)
		if len(ev.Args) == 5 {
			f += " " + ev.Args[2].Str
		}
		if ev.File != nil {
			f += " " + ev.File.Path
		}
		s.got = append(s.got, f)
	})
	return s
}

var argNames = map[string][]string{
	"mmap": {"addr", "length", "prot", "flags", "fd", "off"}, "munmap": {"addr", "length"},
	"mprotect": {"addr", "len", "prot"}, "msync": {"addr", "length", "flags"},
	"mremap": {"old_address", "old_size", "new_size", "flags", "new_address"},
	"mlock":  {"addr", "len"}, "mlock2": {"addr", "len", "flags"}, "munlock": {"addr", "len"},
	"mlockall": {"flags"}, "munlockall": {}, "exit_group": {"status"},
}

func (s *script) call(name string, ret int64, file *event.File, args ...uint64) {
	ev := &s.ev
	ev.Reset()
	s.ts++
	ev.Known = event.HasProcess | event.HasReturn
	ev.Timestamp, ev.ProcessID, ev.Source = s.ts, 7, event.SourcePerf
	ev.Syscall, ev.EventName, ev.ReturnValue, ev.File = name, name, ret, file
	a := ev.SetArgs(len(args))
	for i, v := range args {
		a[i] = event.Arg{Name: argNames[name][i], Kind: event.ArgUint, Value: v}
	}
	s.tr.Observe(ev)
}

func (s *script) want(w ...string) {
	s.t.Helper()
	if !slices.Equal(s.got, w) {
		s.t.Errorf("findings\n got %q\nwant %q", s.got, w)
	}
	s.got = nil
}

const (
	pg               = 0x1000
	A                = 0x7f0000000000
	rw, r, rx, rwx   = 3, 1, 5, 7
	shared, privAnon = 1, 0x22
)

var dbFile = &event.File{Path: "/db", Dev: 1, Inode: 2, From: "map"}

func TestMsyncCoverage(t *testing.T) {
	s := newScript(t, All, Limits{})
	// Unmapping the middle page of three unsynced pages: that page only.
	s.call("mmap", A, dbFile, 0, 3*pg, rw, shared, 3, 0)
	s.call("munmap", 0, nil, A+pg, pg)
	s.want("msync_missing 0x7f0000001000+0x1000 /db")
	// The rest synced with MS_SYNC, one mapping per call: nothing more.
	s.call("msync", 0, nil, A, pg, 4)
	s.call("msync", 0, nil, A+2*pg, pg, 4)
	s.call("munmap", 0, nil, A, 3*pg)
	s.want()
	// One call over both and the hole between: nothing either.
	s.call("mmap", A, dbFile, 0, pg, rw, shared, 3, 0)
	s.call("mmap", A+2*pg, dbFile, 0, pg, rw, shared, 3, 0)
	s.call("msync", 0, nil, A, 3*pg, 4)
	s.call("munmap", 0, nil, A, 3*pg)
	s.want()
	// Half of a mapping: partial; the other half never synced is
	// not told twice.
	s.call("mmap", A, dbFile, 0, 2*pg, rw, shared, 3, 0)
	s.call("msync", 0, nil, A+pg, pg, 4)
	s.call("munmap", 0, nil, A, 2*pg)
	s.want("msync_partial 0x7f0000000000+0x2000 /db")

	// Synced, then read-only and writable again: the sync no longer
	// counts.
	s.call("mmap", A, dbFile, 0, pg, rw, shared, 3, 0)
	s.call("msync", 0, nil, A, pg, 4)
	s.call("mprotect", 0, nil, A, pg, r)
	s.call("mprotect", 0, nil, A, pg, rw)
	s.call("munmap", 0, nil, A, pg)
	s.want("msync_missing 0x7f0000000000+0x1000 /db")

	// Moved by mremap after an MS_ASYNC: the moved mapping is judged.
	s.call("mmap", A, dbFile, 0, pg, rw, shared, 3, 0)
	s.call("msync", 0, nil, A, pg, 1)
	s.call("mremap", A+0x100000, nil, A, pg, 2*pg, 1, 0)
	s.call("exit_group", 0, nil, 0)
	s.want("msync_async_only 0x7f0000100000+0x2000 /db")

	// Private and read-only file mappings need no msync.
	s.call("mmap", A, dbFile, 0, pg, rw, 2, 3, 0)
	s.call("mmap", A+pg, dbFile, 0, pg, r, shared, 3, 0)
	s.call("munmap", 0, nil, A, 2*pg)
	s.want()
}

func TestWX(t *testing.T) {
	s := newScript(t, All, Limits{})
	s.call("mmap", A, nil, 0, pg, rwx, privAnon, ^uint64(0), 0)
	s.want("mem_wx 0x7f0000000000+0x1000 wx_mapping")
	s.call("mprotect", 0, nil, A, pg, rx) // was executable already
	s.want()
	s.call("mmap", A+2*pg, nil, 0, pg, rw, privAnon, ^uint64(0), 0)
	s.call("mprotect", 0, nil, A+2*pg, pg, rx) // writable, then executable
	s.want("mem_wx 0x7f0000002000+0x1000 x_after_w")
	s.call("mmap", A+pg, nil, 0, pg, r, privAnon, ^uint64(0), 0)
	s.call("mprotect", 0, nil, A+pg, pg, rx) // never writable
	s.want()
	// The same file writable here and executable there, found from
	// either side.
	s.call("mmap", A+4*pg, dbFile, 0, pg, rx, shared, 3, 0)
	s.call("mmap", A+8*pg, dbFile, 0, pg, rw, shared, 3, 0)
	s.want("mem_wx 0x7f0000008000+0x1000 w_x_alias /db")
	// Off: nothing.
	s = newScript(t, All&^MemWX, Limits{})
	s.call("mmap", A, nil, 0, pg, rwx, privAnon, ^uint64(0), 0)
	s.want()
}

func TestMlockInventory(t *testing.T) {
	s := newScript(t, All, Limits{})
	s.call("mlock2", 0, nil, A, 3*pg, 1)
	s.call("munlock", 0, nil, A+pg, pg) // a hole in the middle
	s.call("mlock", 0, nil, A+8*pg, pg)
	c := map[string]uint64{}
	for _, x := range s.tr.Counters() {
		c[x.Name] = x.Value
	}
	if c["mlock_bytes_pid_7"] != 3*pg || c["mlock_bytes"] != 3*pg || c["mlock_onfault_bytes"] != 2*pg {
		t.Errorf("mlock_bytes_pid_7 %d, mlock_bytes %d, mlock_onfault_bytes %d; want %d, %d, %d",
			c["mlock_bytes_pid_7"], c["mlock_bytes"], c["mlock_onfault_bytes"], 3*pg, 3*pg, 2*pg)
	}
	s.tr.Gone(7, 100)
	s.want("mlock_inventory 0x7f0000000000+0x1000", "mlock_inventory 0x7f0000002000+0x1000", "mlock_inventory 0x7f0000008000+0x1000")
	// mlockall, undone: nothing; not undone: one finding.
	s.call("mlockall", 0, nil, 3)
	s.call("munlockall", 0, nil)
	s.tr.Gone(7, 101)
	s.want()
	s.call("mlockall", 0, nil, 2)
	s.tr.Gone(7, 102)
	s.want("mlock_inventory 0x0+0x0")
}

func TestBounds(t *testing.T) {
	s := newScript(t, All, Limits{Regions: 4, Processes: 2})
	for i := range 6 {
		s.call("mmap", A+int64(i)*pg, nil, 0, pg, rw, privAnon, ^uint64(0), 0)
	}
	var ev event.Event
	for pid := int32(100); pid < 103; pid++ {
		ev = event.Event{Known: event.HasProcess | event.HasReturn, ProcessID: pid, Syscall: "munlockall", Source: event.SourcePerf}
		s.tr.Observe(&ev)
	}
	c := map[string]uint64{}
	for _, x := range s.tr.Counters() {
		c[x.Name] = x.Value
	}
	if c["evicted_regions"] != 2 || c["evicted_processes"] != 2 || len(s.tr.procs) != 2 {
		t.Errorf("evicted regions %d, processes %d, %d followed", c["evicted_regions"], c["evicted_processes"], len(s.tr.procs))
	}
}

func TestParseSet(t *testing.T) {
	for in, want := range map[string]Set{
		"all": All, "none": 0, "": 0, "mem_wx,msync_missing": MemWX | MsyncMissing,
		"all,-mem_wx": All &^ MemWX, "mem_wx,none,file_identity": FileIdentity,
	} {
		if got, err := ParseSet(in); err != nil || got != want {
			t.Errorf("ParseSet(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSet("msync"); err == nil || !strings.Contains(err.Error(), "msync_missing") {
		t.Errorf("an unknown name: %v", err)
	}
}

// BenchmarkLoop: the bench workload's iteration (mmap of a shared file
// page, mprotect, msync, mlock2, munlock, munmap), per event, in a process
// with 40 other mappings.
func BenchmarkLoop(b *testing.B) {
	s := newScript(&testing.T{}, All, Limits{})
	for i := range 40 {
		s.call("mmap", A+0x100000+int64(i)*2*pg, nil, 0, pg, rw, privAnon, ^uint64(0), 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 6 {
		s.call("mmap", A, dbFile, 0, pg, rw, shared, 3, 0)
		s.call("mprotect", 0, nil, A, pg, r)
		s.call("msync", 0, nil, A, pg, 4)
		s.call("mlock2", 0, nil, A, pg, 1)
		s.call("munlock", 0, nil, A, pg)
		s.call("munmap", 0, nil, A, pg)
	}
}
