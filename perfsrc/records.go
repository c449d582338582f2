// Ring records: the raw bytes of one perf ring record (a tracepoint sample,
// or a side-band COMM, FORK, EXIT, MMAP or LOST record) parsed into a rec
// and queued per CPU for the time-ordered merge. Pure: no kernel I/O.

package perfsrc

import (
	"encoding/binary"

	"github.com/elastic/go-perf"
)

// tracepoint is one sys_enter_/sys_exit_ event, as the hot path needs it.
type tracepoint struct {
	call  *Syscall
	enter bool
	nrOff int
	nr    int32    // the syscall number its records carry (-1: not known here)
	args  []int    // offsets of the 8-byte argument words (enter), or ret (exit)
	names []string // argument names from the format (generic decoding)
}

// rec is one record of a ring, parsed and queued for the time-ordered merge.
type rec struct {
	ts       uint64
	kind     uint8
	cpu      int32
	pid, tid int32
	nr       int32
	tp       *tracepoint
	words    [6]uint64 // args (enter), ret (exit), ppid (fork), count (lost)
	str      string    // comm / file name
}

const (
	kEnter uint8 = iota
	kExit
	kComm
	kCommExec
	kFork
	kProcExit
	kMmapExec
	kLost
)

// record parses one raw ring record of the CPU at index cpu into its
// queue (no allocation for samples). It is the recordSink of ring.drain.
func (p *pairer) record(cpu int, typ uint32, misc uint16, b []byte) {
	q := &p.queues[cpu]
	switch perf.RecordType(typ) {
	case perf.RecordTypeSample:
		// pid, tid u32; time u64; cpu, res u32; raw size u32; raw
		if len(b) < 28 {
			return
		}
		size := int(binary.NativeEndian.Uint32(b[24:28]))
		if 28+size > len(b) || size < 8 {
			return
		}
		raw := b[28 : 28+size]
		id := binary.NativeEndian.Uint16(raw[0:2])
		if int(id) >= len(p.tps) || p.tps[id] == nil {
			return
		}
		tp := p.tps[id]
		p.samples++
		*q = append(*q, rec{})
		r := &(*q)[len(*q)-1]
		r.pid = int32(binary.NativeEndian.Uint32(b[0:4]))
		r.tid = int32(binary.NativeEndian.Uint32(b[4:8]))
		r.ts = binary.NativeEndian.Uint64(b[8:16])
		r.cpu = int32(binary.NativeEndian.Uint32(b[16:20]))
		r.tp = tp
		if tp.nrOff+4 <= len(raw) {
			r.nr = int32(binary.NativeEndian.Uint32(raw[tp.nrOff:]))
		}
		if tp.nr >= 0 && r.nr != tp.nr {
			// Not what this tracepoint's records carry: a record no
			// kernel writes; never reported as another syscall.
			*q = (*q)[:len(*q)-1]
			return
		}
		if tp.enter {
			r.kind = kEnter
		} else {
			r.kind = kExit
		}
		for i, off := range tp.args {
			if off+8 <= len(raw) {
				r.words[i] = binary.NativeEndian.Uint64(raw[off:])
			}
		}
	case perf.RecordTypeLost:
		// id u64, lost u64, sample_id
		if len(b) < 16+24 {
			return
		}
		n := binary.NativeEndian.Uint64(b[8:16])
		p.lost[cpu].Add(n)
		*q = append(*q, rec{kind: kLost, ts: sampleTime(b), cpu: int32(p.cpus[cpu]), words: [6]uint64{n}})
	case perf.RecordTypeComm:
		// pid, tid u32; comm (NUL padded); sample_id (24 bytes)
		if len(b) < 8+24 {
			return
		}
		r := rec{kind: kComm, ts: sampleTime(b)}
		r.pid = int32(binary.NativeEndian.Uint32(b[0:4]))
		r.tid = int32(binary.NativeEndian.Uint32(b[4:8]))
		r.str = cString(b[8 : len(b)-24])
		if misc&(1<<13) != 0 { // PERF_RECORD_MISC_COMM_EXEC
			r.kind = kCommExec
		}
		*q = append(*q, r)
	case perf.RecordTypeFork, perf.RecordTypeExit:
		// pid, ppid, tid, ptid u32; time u64; sample_id
		if len(b) < 24 {
			return
		}
		r := rec{kind: kFork, ts: binary.NativeEndian.Uint64(b[16:24])}
		if perf.RecordType(typ) == perf.RecordTypeExit {
			r.kind = kProcExit
		}
		r.pid = int32(binary.NativeEndian.Uint32(b[0:4]))
		r.words[0] = uint64(binary.NativeEndian.Uint32(b[4:8]))
		r.tid = int32(binary.NativeEndian.Uint32(b[8:12]))
		*q = append(*q, r)
	case perf.RecordTypeMmap:
		// pid, tid u32; addr, len, pgoff u64; filename; sample_id
		if len(b) < 32+24 || misc&(1<<13) != 0 { // PERF_RECORD_MISC_MMAP_DATA: not executable
			return
		}
		r := rec{kind: kMmapExec, ts: sampleTime(b)}
		r.pid = int32(binary.NativeEndian.Uint32(b[0:4]))
		r.tid = int32(binary.NativeEndian.Uint32(b[4:8]))
		r.str = cString(b[32 : len(b)-24])
		*q = append(*q, r)
	}
}

// sampleTime reads the time of a non-sample record's trailing sample_id
// (pid/tid, time, cpu/res: 24 bytes).
func sampleTime(b []byte) uint64 {
	return binary.NativeEndian.Uint64(b[len(b)-16 : len(b)-8])
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
