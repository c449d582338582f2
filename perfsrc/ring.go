// The perf ring: one mmapped ring per CPU, read in place by one poller
// (records that wrap the ring's end are copied once).

package perfsrc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is one CPU's perf ring buffer, mapped and read by us rather than by
// go-perf: go-perf starts a goroutine per ring and copies every record,
// while one poller over all rings that parses records in place (copying
// only the few that wrap) is what keeps the hot path cheap.
type ring struct {
	fd   int
	mem  []byte
	meta *unix.PerfEventMmapPage
	data []byte
	mask uint64
	wrap []byte // scratch for a record that wraps around the end
}

var errRingMap = errors.New("map perf ring")

func mapRing(fd, pages int) (*ring, error) {
	pg := os.Getpagesize()
	mem, err := unix.Mmap(fd, 0, (1+pages)*pg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%w of %d pages: %w", errRingMap, pages, err)
	}
	r := &ring{fd: fd, mem: mem, meta: (*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0]))}
	off, size := r.meta.Data_offset, r.meta.Data_size
	if off == 0 || size == 0 { // kernels before 4.1 leave them zero
		off, size = uint64(pg), uint64(pages*pg)
	}
	r.data = mem[off : off+size]
	r.mask = size - 1
	return r, nil
}

func (r *ring) unmap() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem, r.data, r.meta = nil, nil, nil
	}
}

// recordSink receives raw ring records.
type recordSink interface {
	record(cpu int, typ uint32, misc uint16, body []byte)
}

// drain calls fn with every record now in the ring (header type, misc, and
// the body after the 8-byte header; valid only during the call), then
// hands the space back to the kernel.
func (r *ring) drain(cpu int, fn recordSink) int {
	head := atomic.LoadUint64(&r.meta.Data_head)
	tail := atomic.LoadUint64(&r.meta.Data_tail)
	n := 0
	for tail < head {
		start := tail & r.mask
		var hdr [8]byte
		if start+8 <= uint64(len(r.data)) {
			copy(hdr[:], r.data[start:start+8])
		} else {
			k := copy(hdr[:], r.data[start:])
			copy(hdr[k:], r.data)
		}
		typ := binary.NativeEndian.Uint32(hdr[0:4])
		misc := binary.NativeEndian.Uint16(hdr[4:6])
		size := uint64(binary.NativeEndian.Uint16(hdr[6:8]))
		if size < 8 || tail+size > head {
			// Corrupt: skip what is there rather than loop.
			tail = head
			break
		}
		var rec []byte
		if start+size <= uint64(len(r.data)) {
			rec = r.data[start+8 : start+size]
		} else {
			if cap(r.wrap) < int(size) {
				r.wrap = make([]byte, size)
			}
			w := r.wrap[:size]
			k := copy(w, r.data[start:])
			copy(w[k:], r.data)
			rec = w[8:]
		}
		fn.record(cpu, typ, misc, rec)
		tail += size
		n++
	}
	atomic.StoreUint64(&r.meta.Data_tail, tail)
	return n
}
