// Tests of lean records: grouping without EOE, the lean boundary, loss
// accounting, and (kernel) their start and end next to other readers.

package auditsrc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/host"
	"github.com/auperf/auperf/internal/ktest"
)

// leanReader is a reader of the loop's calls in lean mode, with what it
// emitted and reported lost.
type leanReader struct {
	r      *reader
	events []string // eventName per event, in order
	fds    []int64  // args[4] of the mmaps
	lost   map[string]uint64
}

func newLeanReader(t *testing.T) *leanReader {
	lr := &leanReader{lost: map[string]uint64{}}
	lr.r = newTestReader(benchSet(t), func(ev *event.Event) {
		if ev.EventName == event.NameLost {
			lr.lost[ev.Args[3].Str] += ev.Args[2].Value
			return
		}
		lr.events = append(lr.events, ev.EventName)
		if ev.EventName == "mmap" && len(ev.Args) > 4 { // i386 old mmap has one argument
			lr.fds = append(lr.fds, int64(ev.Args[4].Value))
		}
	}, readerConfig{GapAny: true, Unicast: true, Lean: true})
	return lr
}

// TestLeanGrouping: without EOE, a call completes when its known records
// are in: at once for msync, at its MMAP record for an mmap of a file.
func TestLeanGrouping(t *testing.T) {
	lr := newLeanReader(t)
	r, now := lr.r, time.Now()
	r.message(netlinkMsg(typeSyscall, 10, syscallBody(26, "a0=7fe0a8e4b000 a1=1000 a2=4 a3=0", "0")), now)
	if !slices.Equal(lr.events, []string{"msync"}) {
		t.Fatalf("after msync's SYSCALL: %v, want [msync]", lr.events)
	}
	r.message(netlinkMsg(typeSyscall, 11, syscallBody(9, "a0=0 a1=1000 a2=3 a3=1", "140601838403584")), now)
	if len(lr.events) != 1 {
		t.Fatalf("a file mmap completed before its MMAP record: %v", lr.events)
	}
	r.message(netlinkMsg(typeMmap, 11, "fd=7 flags=0x1"), now)
	if !slices.Equal(lr.events, []string{"msync", "mmap"}) || !slices.Equal(lr.fds, []int64{7}) {
		t.Fatalf("after MMAP: %v fds %v, want [msync mmap] [7]", lr.events, lr.fds)
	}
	// An anonymous mmap has no MMAP record.
	r.message(netlinkMsg(typeSyscall, 12, syscallBody(9, "a0=0 a1=1000 a2=3 a3=22", "140601838403584")), now)
	if len(lr.events) != 3 {
		t.Fatalf("anonymous mmap not completed at its SYSCALL: %v", lr.events)
	}
	// A PROCTITLE and an EOE of a completed group (logged after our
	// exclusions went away) are not the remains of a lost event.
	r.message(netlinkMsg(typeProctitle, 12, benchProctitle), now)
	r.message(netlinkMsg(typeEOE, 12, ""), now)
	r.finish()
	if len(lr.lost) != 0 || len(lr.events) != 3 {
		t.Errorf("events %v, lost %v; want 3 events, nothing lost", lr.events, lr.lost)
	}
	if r.auxMissing != 0 {
		t.Errorf("auxMissing %d: lean events miss no PROCTITLE or EOE", r.auxMissing)
	}
}

// TestLeanLostMmap: the kernel lost two records, another event's SYSCALL
// (the whole event) and a file mmap's MMAP record. The mmap is emitted at
// the timeout; its MMAP is an aux record missing, and one event is lost,
// not zero (a PROCTITLE and an EOE missing from a lean event would cancel
// it) and not two.
func TestLeanLostMmap(t *testing.T) {
	lr := newLeanReader(t)
	r, now := lr.r, time.Now()
	r.message(netlinkMsg(typeSyscall, 20, syscallBody(9, "a0=0 a1=1000 a2=3 a3=1", "140601838403584")), now)
	r.kernelLost(2, now)
	r.flushOlder(now.Add(time.Second))
	r.finish()
	if !slices.Equal(lr.events, []string{"mmap"}) || len(lr.lost) != 1 || lr.lost["backlog"] != 1 {
		t.Errorf("events %v lost %v, want [mmap] and 1 lost (backlog)", lr.events, lr.lost)
	}
}

// TestLeanEnd: once the CONFIG_CHANGE of our exclusions' deletion is
// seen, later events are full again (they wait for EOE, and a missing
// PROCTITLE counts), while earlier ones still complete lean.
func TestLeanEnd(t *testing.T) {
	for _, change := range []string{
		`auid=0 ses=4 op=remove_rule key=(null) list=5 res=1`,
		`auid=0 ses=4 op="remove rule" key=(null) list=5 res=1`, // older kernels
	} {
		t.Run(change, func(t *testing.T) { testLeanEnd(t, change) })
	}
}

func testLeanEnd(t *testing.T, change string) {
	lr := newLeanReader(t)
	r, now := lr.r, time.Now()
	r.message(netlinkMsg(typeSyscall, 30, syscallBody(26, "a0=7fe0a8e4b000 a1=1000 a2=4 a3=0", "0")), now)
	r.awaitLeanEnd = true
	r.message(netlinkMsg(typeConfigChange, 32, change), now)
	// 31 began before the deletion: lean.
	r.message(netlinkMsg(typeSyscall, 31, syscallBody(10, "a0=7fe0a8e4b000 a1=1000 a2=1 a3=0", "0")), now)
	if !slices.Equal(lr.events, []string{"msync", "mprotect"}) {
		t.Fatalf("lean-era events: %v", lr.events)
	}
	r.message(netlinkMsg(typeEOE, 31, ""), now) // its EOE, after the deletion
	// 33 is full: it waits for its EOE.
	r.message(netlinkMsg(typeSyscall, 33, syscallBody(11, "a0=7fe0a8e4b000 a1=1000 a2=0 a3=0", "0")), now)
	if len(lr.events) != 2 {
		t.Fatalf("a full event completed before its EOE: %v", lr.events)
	}
	r.message(netlinkMsg(typeEOE, 33, ""), now) // PROCTITLE lost
	if !slices.Equal(lr.events, []string{"msync", "mprotect", "munmap"}) {
		t.Fatalf("events %v", lr.events)
	}
	if r.auxMissing != 1 {
		t.Errorf("auxMissing %d, want 1 (33's PROCTITLE)", r.auxMissing)
	}
	// A lean-era file mmap whose MMAP never came, flushed when the
	// boundary is long past: its PROCTITLE and EOE were never due.
	r.message(netlinkMsg(typeSyscall, 29, syscallBody(9, "a0=0 a1=1000 a2=3 a3=1", "140601838403584")), now)
	r.finish()
	if len(lr.lost) != 0 || r.auxMissing != 2 {
		t.Errorf("lost %v, auxMissing %d; want nothing lost, 2 missing (33's PROCTITLE, 29's MMAP)", lr.lost, r.auxMissing)
	}
	// Long after the boundary the reader is not lean at all.
	r.flushOlder(now.Add(time.Minute))
	if r.lean {
		t.Error("still lean a minute after the exclusions were deleted")
	}
}

func TestAuditListeners(t *testing.T) {
	for _, c := range []struct {
		table string
		n     int
		ok    bool
	}{
		{`sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
000000002faf30d5 9   0          00000000 0        0        0     2        0        6
00000000690520b9 9   2607246242 00000000 0        0        0     2        0        243914
0000000012345678 0   812        00000551 0        0        0     2        0        1000
`, 0, true},
		{`sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
000000002faf30d5 9   0          00000000 0        0        0     2        0        6
00000000deadbeef 9   377        00000001 0        0        0     2        0        2000
`, 1, true},
		{"garbage\n", 0, false},
		{"", 0, false},
	} {
		p := filepath.Join(t.TempDir(), "netlink")
		if err := os.WriteFile(p, []byte(c.table), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		n, ok := AuditListeners(f)
		f.Close()
		if n != c.n || ok != c.ok {
			t.Errorf("%q: %d %v, want %d %v", c.table, n, ok, c.n, c.ok)
		}
	}
}

func TestParseLean(t *testing.T) {
	for in, want := range map[string]Lean{"": LeanAuto, "auto": LeanAuto, "off": LeanOff} {
		if got, err := ParseLean(in); err != nil || got != want {
			t.Errorf("ParseLean(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLean("on"); err == nil {
		t.Error("ParseLean(on): no error")
	}
}

// stat returns the source's counter name.
func stat(s *Source, name string) uint64 { return statOf(&s.c, name) }

// statOf is one of the counters c.
func statOf(cs *counters, name string) uint64 {
	for _, c := range cs.stats() {
		if c.Name == name {
			return c.Value
		}
	}
	return 0
}

// exclusionsLoaded says which of lean mode's exclusions the kernel has.
func exclusionsLoaded(t *testing.T) int {
	t.Helper()
	st, err := ReadState()
	if err != nil {
		t.Fatal(err)
	}
	want, err := exclusionRules()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range st.Rules {
		for _, w := range want {
			if string(r) == string(w) {
				n++
			}
		}
	}
	return n
}

// TestIntegrationLean: as the audit daemon with nobody else reading,
// the source excludes PROCTITLE and EOE and still captures every call
// exactly; when a multicast reader appears it deletes the exclusions,
// the reader gets full events and the source still captures every call;
// afterwards the audit state is as found (guardState).
func TestIntegrationLean(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	if exclusionsLoaded(t) != 0 {
		ktest.Skip(t, "this host already excludes PROCTITLE or EOE records")
	}
	if !noOtherReader(host.Paths{}) {
		ktest.Skip(t, "another process reads audit by multicast here: lean mode stays off")
	}
	bin := workloadCopy(t, "auperf-wl-lean")
	dir := t.TempDir()
	r := startSource(t, Config{RuleFields: []string{"-F exe=" + bin}, StatusInterval: 200 * time.Millisecond})
	if stat(r.src, "lean_records") != 1 || exclusionsLoaded(t) != 2 {
		t.Fatalf("lean mode not on: lean_records %d, exclusions loaded %d", stat(r.src, "lean_records"), exclusionsLoaded(t))
	}
	if !slices.ContainsFunc(r.src.Warnings(), func(w string) bool { return strings.Contains(w, "PROCTITLE and EOE records are excluded") }) {
		t.Errorf("the user is not told about the exclusions: warnings %q", r.src.Warnings())
	}
	lean := runLoop(t, bin, 2000, filepath.Join(dir, "lean.json"))
	waitFor(10*time.Second, func() bool { return uint64(r.col.count()) >= lean.Total })

	// A reader joins: lean mode must end.
	l, err := openConn(libaudit.NetlinkGroupReadLog)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.setRcvBuf(8 << 20)
	// The counter follows the deletion: wait for both.
	waitFor(5*time.Second, func() bool {
		return exclusionsLoaded(t) == 0 && stat(r.src, "lean_ended_for_reader") == 1
	})
	if n := exclusionsLoaded(t); n != 0 || stat(r.src, "lean_ended_for_reader") != 1 {
		t.Fatalf("a multicast reader joined, yet %d exclusions are loaded (lean_ended_for_reader %d)", n, stat(r.src, "lean_ended_for_reader"))
	}
	full := runLoop(t, bin, 2000, filepath.Join(dir, "full.json"))
	waitFor(10*time.Second, func() bool { return uint64(r.col.count()) >= lean.Total+full.Total })
	time.Sleep(500 * time.Millisecond)
	r.stop(t)

	got := loopCalls(r.col.snapshot())
	captured := sum(got)
	t.Logf("generated %d lean + %d full, captured %d (%v), lost %v, stats %v", lean.Total, full.Total, captured, got, r.col.lost, r.src.Stats())
	if captured != lean.Total+full.Total || len(r.col.lost) != 0 {
		t.Errorf("captured %d, lost %v; want %d and nothing lost", captured, r.col.lost, lean.Total+full.Total)
	}
	// The reader that joined got PROCTITLE and EOE records (not all: it
	// read none while the workload ran, its buffer overflowed).
	types := map[uint16]int{}
	b := newMsgBatch(64, 9000)
	for {
		n, err := l.recvBatch(b)
		if err == unix.ENOBUFS {
			continue
		}
		if err != nil || n == 0 {
			break
		}
		for i := range n {
			if m := b.message(i); m != nil {
				types[(*syscall.NlMsghdr)(unsafe.Pointer(&m[0])).Type]++
			}
		}
	}
	t.Logf("the multicast reader got records by type: %v", types)
	if types[typeSyscall] == 0 || types[typeProctitle] < types[typeSyscall]-1 || types[typeEOE] < types[typeSyscall]-1 {
		t.Errorf("multicast reader got %d SYSCALL, %d PROCTITLE, %d EOE; want a PROCTITLE and an EOE with every SYSCALL", types[typeSyscall], types[typeProctitle], types[typeEOE])
	}
}

// TestIntegrationLeanNotWithReader: with a multicast reader present at
// start, no exclusion is loaded; --audit-lean off loads none either.
func TestIntegrationLeanNotWithReader(t *testing.T) {
	ktest.Require(t)
	guardState(t)
	l, err := openConn(libaudit.NetlinkGroupReadLog)
	if err != nil {
		t.Fatal(err)
	}
	r := startSource(t, Config{Events: []string{"msync"}, RuleFields: []string{"-F exe=/nonexistent"}})
	if n := exclusionsLoaded(t); n != 0 || stat(r.src, "lean_records") != 0 {
		t.Errorf("with a multicast reader: %d exclusions loaded, lean_records %d", n, stat(r.src, "lean_records"))
	}
	if slices.ContainsFunc(r.src.Warnings(), func(w string) bool { return strings.Contains(w, "excluded") }) {
		t.Errorf("exclusions announced but not loaded: %q", r.src.Warnings())
	}
	r.stop(t)
	l.Close()
	r = startSource(t, Config{Events: []string{"msync"}, RuleFields: []string{"-F exe=/nonexistent"}, Lean: LeanOff})
	if n := exclusionsLoaded(t); n != 0 {
		t.Errorf("--audit-lean off: %d exclusions loaded", n)
	}
	r.stop(t)
}

// TestLeanI386OldMmap: i386's old mmap passes its arguments in memory, so
// whether an MMAP record follows is unknown: its lean group waits for the
// MMAP (or the timeout) instead of completing at its SYSCALL.
func TestLeanI386OldMmap(t *testing.T) {
	lr := newLeanReader(t)
	r, now := lr.r, time.Now()
	r.set = benchSet(t, decode.ArchX86_64, decode.ArchI386)
	body := strings.Replace(syscallBody(90, "a0=ffd0e1c0 a1=0 a2=0 a3=0", "4151595008"), "arch=c000003e", "arch=40000003", 1)
	r.message(netlinkMsg(typeSyscall, 40, body), now)
	if len(lr.events) != 0 {
		t.Fatalf("old mmap completed at its SYSCALL: %v", lr.events)
	}
	r.message(netlinkMsg(typeMmap, 40, "fd=3 flags=0x1"), now)
	if !slices.Equal(lr.events, []string{"mmap"}) {
		t.Errorf("after its MMAP: %v, want [mmap]", lr.events)
	}
}

// TestReaderFullEvents: the records of whole events, in kernel order, give
// every event, nothing lost, and no record counted late (the 2nd and later
// records of an event are not behind the serial window).
func TestReaderFullEvents(t *testing.T) {
	lr := newLeanReader(t)
	r, now := lr.r, time.Now()
	r.lean = false
	for _, m := range benchMessages(60) {
		r.message(m, now)
	}
	r.finish()
	if len(lr.events) != 60 || len(lr.lost) != 0 || statOf(r.c, "late_records") != 0 {
		t.Errorf("%d events, lost %v, late_records %d; want 60, none, 0", len(lr.events), lr.lost, statOf(r.c, "late_records"))
	}
}
