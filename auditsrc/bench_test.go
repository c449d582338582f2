// Benchmarks of the reader: recorded kernel records of the bench loop,
// full and lean, to events (and JSON); test helpers for readers.

package auditsrc

import (
	"fmt"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
)

// Records as this kernel (6.18) sends them for the bench workload's loop:
// one mmap of a shared file page, then mprotect, msync, mlock2, munlock
// and munmap of it. Each event is SYSCALL (+ MMAP for the mmap) +
// PROCTITLE + EOE, 3.17 records per event on average.
const (
	benchProctitle = `proctitle=2F776F726B2F6D61696E2F62696E2F6175706572662D776F726B6C6F6164002D6C6F6F70003530303030002D74687265616473003100`
)

var benchLoop = []struct {
	nr   int
	args string
	exit string
	mmap bool
}{
	{9, "a0=0 a1=1000 a2=3 a3=1", "140601838403584", true},
	{10, "a0=7fe0a8e4b000 a1=1000 a2=1 a3=0", "0", false},
	{26, "a0=7fe0a8e4b000 a1=1000 a2=4 a3=0", "0", false},
	{325, "a0=7fe0a8e4b000 a1=1000 a2=1 a3=0", "0", false},
	{150, "a0=7fe0a8e4b000 a1=1000 a2=0 a3=0", "0", false},
	{11, "a0=7fe0a8e4b000 a1=1000 a2=0 a3=0", "0", false},
}

// benchSyscallBody is the loop's mmap of a file as this kernel logs it.
var benchSyscallBody = syscallBody(9, "a0=0 a1=1000 a2=3 a3=1", "140601838403584")

// syscallBody is a SYSCALL record's text as this kernel writes it, for a
// call of the workload.
func syscallBody(nr int, args, exit string) string {
	return fmt.Sprintf("arch=c000003e syscall=%d success=yes exit=%s %s items=0 ppid=31408 pid=31426 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=45 comm=\"auperf-workload\" exe=\"/work/main/bin/auperf-workload\" key=\"auperf\"", nr, exit, args)
}

// netlinkMsg is one audit record as the kernel puts it on the socket.
func netlinkMsg(typ uint16, serial int, body string) []byte {
	text := fmt.Sprintf("audit(1795694330.749:%d): %s", serial, body)
	b := make([]byte, syscall.NLMSG_HDRLEN+len(text))
	h := (*syscall.NlMsghdr)(unsafe.Pointer(&b[0]))
	h.Len = uint32(len(b))
	h.Type = typ
	copy(b[syscall.NLMSG_HDRLEN:], text)
	return b
}

// benchMessages returns the records of n loop events, in kernel order.
func benchMessages(n int) (msgs [][]byte) {
	for i := range n {
		c := benchLoop[i%len(benchLoop)]
		serial := 1000 + i
		msgs = append(msgs, netlinkMsg(typeSyscall, serial, syscallBody(c.nr, c.args, c.exit)))
		if c.mmap {
			msgs = append(msgs, netlinkMsg(typeMmap, serial, "fd=3 flags=0x1"))
		}
		msgs = append(msgs, netlinkMsg(typeProctitle, serial, benchProctitle))
		msgs = append(msgs, netlinkMsg(typeEOE, serial, ""))
	}
	return msgs
}

// benchSet is the loop's syscalls, in archs (default x86_64).
func benchSet(b testing.TB, archs ...decode.Arch) *syscallSet {
	if archs == nil {
		archs = []decode.Arch{decode.ArchX86_64}
	}
	set, _, err := newSyscallSet([]string{"mmap", "mprotect", "msync", "mlock2", "munlock", "munmap"}, nil, archs)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// handlerOut is an emitter that hands every event, and every loss as an
// auperf_lost event, to h.
type handlerOut struct {
	h  event.Handler
	ev event.Event
}

func (o *handlerOut) syscall(ev *event.Event, _ *syscallRecord) { o.h(ev) }
func (o *handlerOut) malformed()                                {}
func (o *handlerOut) lost(n uint64, cause string) {
	event.NewLost(&o.ev, 0, event.SourceAudit, -1, n, cause)
	o.h(&o.ev)
}

// newTestReader is a live reader of set's syscalls (our pid: none) that
// hands its events to h.
func newTestReader(set *syscallSet, h event.Handler, cfg readerConfig) *reader {
	return newReader(newAssembler(set, -1, &counters{}, &handlerOut{h: h}), cfg)
}

func BenchmarkSplitStamp(b *testing.B) {
	msg := netlinkMsg(typeSyscall, 123456789, benchSyscallBody)[syscall.NLMSG_HDRLEN:]
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := splitStamp(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSyscall(b *testing.B) {
	var s syscallRecord
	body := []byte(benchSyscallBody)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		parseSyscall(&s, body)
	}
	if !s.hasNr || s.nr != 9 || s.pid != 31426 || string(s.exe) != "/work/main/bin/auperf-workload" {
		b.Fatalf("parsed %+v", s)
	}
}

func BenchmarkParseMmap(b *testing.B) {
	body := []byte("fd=3 flags=0x1")
	b.ReportAllocs()
	for b.Loop() {
		if m := parseMmap(body); !m.hasFd {
			b.Fatal("no fd")
		}
	}
}

// BenchmarkReader is the audit source's user-space path per event: netlink
// messages in (stamp, serial gap check, grouping by serial, SYSCALL and
// MMAP parsing), a decoded event out. One op is one event (3.17 records;
// lean: 1.17, no PROCTITLE and no EOE).
func BenchmarkReader(b *testing.B) {
	full := benchMessages(600)
	var lean [][]byte
	for _, m := range full {
		if t := (*syscall.NlMsghdr)(unsafe.Pointer(&m[0])).Type; t != typeProctitle && t != typeEOE {
			lean = append(lean, m)
		}
	}
	for _, bc := range []struct {
		name string
		json bool
		lean bool
	}{{"events", false, false}, {"events+json", true, false}, {"lean", false, true}, {"lean+json", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			var buf []byte
			n := 0
			r := newTestReader(benchSet(b), func(ev *event.Event) {
				n++
				if bc.json {
					buf = event.AppendJSON(buf[:0], ev)
				}
			}, readerConfig{GapAny: true, Lean: bc.lean})
			msgs := full
			if bc.lean {
				msgs = lean
			}
			now := time.Now()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				// One event: its records, until it is emitted.
				for before := n; n == before; {
					m := msgs[i]
					i++
					if i == len(msgs) {
						i = 0
						r.gapOn, r.gap = false, gapTracker{} // serials restart
					}
					r.message(m, now)
				}
			}
			if n != b.N {
				b.Fatalf("%d events for %d ops", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
