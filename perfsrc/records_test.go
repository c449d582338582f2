// Ring records built in memory, as the kernel lays them out, for the
// tests of the pure core (pair_test.go) and the benchmarks.

package perfsrc

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/elastic/go-perf"
)

// sample builds a PERF_RECORD_SAMPLE body (Tid|Time|CPU|Raw).
func sample(f *Format, pid, tid int32, ts uint64, cpu uint32, nr int32, words ...uint64) []byte {
	raw := make([]byte, 16+8*len(words)+4)
	binary.NativeEndian.PutUint16(raw[0:], uint16(f.ID))
	binary.NativeEndian.PutUint32(raw[4:], uint32(tid))
	binary.NativeEndian.PutUint32(raw[8:], uint32(nr))
	for i, w := range words {
		binary.NativeEndian.PutUint64(raw[16+8*i:], w)
	}
	b := make([]byte, 28, 28+len(raw))
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(tid))
	binary.NativeEndian.PutUint64(b[8:], ts)
	binary.NativeEndian.PutUint32(b[16:], cpu)
	binary.NativeEndian.PutUint32(b[24:], uint32(len(raw)))
	return append(b, raw...)
}

// sampleID is the trailing sample_id of side-band records.
func sampleID(pid, tid int32, ts uint64, cpu uint32) []byte {
	b := make([]byte, 24)
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(tid))
	binary.NativeEndian.PutUint64(b[8:], ts)
	binary.NativeEndian.PutUint32(b[16:], cpu)
	return b
}

func commRec(pid int32, name string, ts uint64) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(pid))
	n := append([]byte(name), 0)
	for len(n)%8 != 0 {
		n = append(n, 0)
	}
	return append(append(b, n...), sampleID(pid, pid, ts, 0)...)
}

func mmapRec(pid int32, file string, ts uint64) []byte {
	b := make([]byte, 32)
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(pid))
	n := append([]byte(file), 0)
	for len(n)%8 != 0 {
		n = append(n, 0)
	}
	return append(append(b, n...), sampleID(pid, pid, ts, 0)...)
}

// taskRec is a FORK or EXIT record of thread tid of process pid, whose
// parent is ppid (ptid is ppid too): taskRec(pid, ppid, pid, ts) for a
// process, taskRec(pid, pid, tid, ts) for another thread of pid.
func taskRec(pid, ppid, tid int32, ts uint64) []byte {
	b := make([]byte, 24)
	binary.NativeEndian.PutUint32(b[0:], uint32(pid))
	binary.NativeEndian.PutUint32(b[4:], uint32(ppid))
	binary.NativeEndian.PutUint32(b[8:], uint32(tid))
	binary.NativeEndian.PutUint32(b[12:], uint32(ppid))
	binary.NativeEndian.PutUint64(b[16:], ts)
	return append(b, sampleID(pid, tid, ts, 0)...)
}

func lostRec(n uint64, ts uint64) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b[8:], n)
	return append(b, sampleID(0, 0, ts, 0)...)
}

const typSample = uint32(perf.RecordTypeSample)

// FuzzRecord: any bytes the ring gives, as a record of any type on either
// CPU, against the 6.18 msync/mmap formats: parsing and pairing never
// panic, and every event that comes out is one of the traced syscalls, or
// (a record whose nr field disagrees with its tracepoint) a syscall named
// by its number, with at most six arguments.
func FuzzRecord(f *testing.F) {
	s0, _ := fakeSource(f, filter.Spec{})
	c := s0.calls[0]
	f.Add(typSample, uint16(0), sample(c.Enter, 100, 101, 1000, 0, msyncNr, 0x5000, 0x3000, 1))
	f.Add(typSample, uint16(0), sample(c.Exit, 100, 101, 2000, 0, msyncNr, uint64(^uint64(11))))
	f.Add(uint32(perf.RecordTypeLost), uint16(0), append(make([]byte, 16), sampleID(1, 1, 5, 0)...))
	f.Add(uint32(perf.RecordTypeComm), uint16(1<<13), append([]byte("\x64\x00\x00\x00\x65\x00\x00\x00name\x00\x00\x00\x00"), sampleID(100, 101, 7, 0)...))
	f.Add(uint32(perf.RecordTypeFork), uint16(0), make([]byte, 48))
	f.Add(uint32(perf.RecordTypeMmap), uint16(0), append(make([]byte, 32), append([]byte("/bin/x\x00\x00"), sampleID(1, 1, 3, 0)...)...))
	f.Fuzz(func(t *testing.T, typ uint32, misc uint16, b []byte) {
		s, got := fakeSource(t, filter.Spec{})
		s.record(int(misc)&1, typ, misc, b)
		s.record(int(misc>>1)&1, typ, misc, b)
		s.round(false)
		s.round(true)
		for _, ev := range *got {
			if ev.Source != event.SourceAuperf && ev.Syscall != "msync" && ev.Syscall != "mmap" && !strings.HasPrefix(ev.Syscall, "syscall_") {
				t.Fatalf("an event of %q from two formats of msync and mmap", ev.Syscall)
			}
			if len(ev.Args) > 6 {
				t.Fatalf("%d arguments", len(ev.Args))
			}
		}
	})
}
