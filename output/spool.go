// The disk spool of a network sink (?spool=DIR&spool_max=SIZE): when the
// collector is down, the batches the sink's memory buffer cannot hold go
// to disk instead of being dropped, and are replayed in order, ahead of
// newer events, when it is back; they survive a restart of auperf (the
// next start replays them first).
//
// On disk: segment files NNNNNNNNNNNNNNNN.spool of records
//
//	"AUSP" | nmsgs u32 | len u32 | crc32 u32 | nmsgs x end u32 | len bytes
//
// (little endian; crc32 (IEEE) over the ends and the bytes), appended; a
// new segment past spoolSegment bytes; and "offset" (segment number and
// byte offset of the next record to replay, rewritten in place after each
// replayed record; then the messages of that record already written, and
// whether a write of it was under way, rewritten around each write of it:
// a restart resumes inside the record, and counts what may have been sent
// when the process died as resent). A segment fully replayed is deleted. A record cut
// short by a crash (or any record that does not check out) ends its
// segment: it and what follows are never replayed, and are counted
// (torn). The directory is locked (flock) for one sink of one process.

package output

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	spoolMagic   = "AUSP"
	spoolHead    = 16
	spoolSegment = 8 << 20
	// spoolMaxRecord bounds a record read back (a batch is tens of KiB).
	spoolMaxRecord = 64 << 20
)

// spool is one sink's spool directory. Only the sink goroutine uses it;
// the counters are read by Stats.
type spool struct {
	dir   string
	max   int64
	lock  *os.File
	segs  []uint64 // segment numbers on disk, oldest first
	sizes map[uint64]int64
	w     *os.File // the segment being appended to (segs' last)
	wseg  uint64
	// Replay position: segment and offset of the next record.
	rseg uint64
	roff int64
	off  *os.File
	// Progress inside the record at roff, as found at open: messages
	// written, and whether a write was under way (a crash mid-write).
	resumeMsg     int
	resumeWriting bool

	spooled, replayed, torn atomic.Uint64 // events
	bytes                   atomic.Int64  // on disk and not replayed yet
}

// openSpool opens (creating) dir, locks it, checks every segment (a torn
// tail is cut off and counted) and finds where replay resumes.
func openSpool(dir string, max int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := safeDir(dir); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool %s is in use by another output or auperf process", dir)
	}
	sp := &spool{dir: dir, max: max, lock: lock, sizes: map[uint64]int64{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		sp.close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".spool"); ok {
			if v, err := strconv.ParseUint(n, 10, 64); err == nil {
				sp.segs = append(sp.segs, v)
			}
		}
	}
	slices.Sort(sp.segs)
	if sp.off, err = os.OpenFile(filepath.Join(dir, "offset"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600); err != nil {
		sp.close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	var ob [32]byte
	n, _ := sp.off.ReadAt(ob[:], 0)
	if n >= 16 {
		sp.rseg, sp.roff = binary.LittleEndian.Uint64(ob[:8]), int64(binary.LittleEndian.Uint64(ob[8:]))
	}
	if n == 32 {
		sp.resumeMsg = int(binary.LittleEndian.Uint64(ob[16:24]))
		sp.resumeWriting = binary.LittleEndian.Uint64(ob[24:]) != 0
	}
	for _, seg := range sp.segs {
		good, torn, err := sp.check(seg)
		if err != nil {
			sp.close()
			return nil, err
		}
		if torn > 0 {
			sp.torn.Add(uint64(torn))
			if err := os.Truncate(sp.path(seg), good); err != nil {
				sp.close()
				return nil, fmt.Errorf("spool: cut torn tail: %w", err)
			}
		}
		sp.sizes[seg] = good
		sp.bytes.Add(good)
	}
	if len(sp.segs) > 0 && (sp.rseg < sp.segs[0] || !slices.Contains(sp.segs, sp.rseg)) {
		sp.rseg, sp.roff = sp.segs[0], 0
	}
	if len(sp.segs) > 0 {
		if sp.roff > sp.sizes[sp.rseg] {
			sp.roff, sp.resumeMsg, sp.resumeWriting = sp.sizes[sp.rseg], 0, false
		}
		sp.bytes.Add(-sp.roff) // replayed before the restart
	} else {
		sp.resumeMsg, sp.resumeWriting = 0, false
	}
	return sp, nil
}

func (sp *spool) path(seg uint64) string {
	return filepath.Join(sp.dir, fmt.Sprintf("%016d.spool", seg))
}

// check reads segment seg record by record and returns the length of its
// good prefix and, when a record past it does not check out, the events
// that record held (at least one).
func (sp *spool) check(seg uint64) (good int64, torn int, err error) {
	f, err := os.Open(sp.path(seg))
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	for good < st.Size() {
		b, n, err := readSpoolRecord(f, good)
		if err != nil {
			return good, max(1, n), nil
		}
		good += int64(spoolHead + 4*len(b.ends) + len(b.buf))
	}
	return good, 0, nil
}

// readSpoolRecord reads the record at off. On error n is the record's
// message count when the header was readable (the events it loses).
func readSpoolRecord(f *os.File, off int64) (b *batch, n int, err error) {
	var h [spoolHead]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, 0, errTorn
	}
	if string(h[:4]) != spoolMagic {
		return nil, 0, errTorn
	}
	n = int(binary.LittleEndian.Uint32(h[4:]))
	size := int(binary.LittleEndian.Uint32(h[8:]))
	if n <= 0 || size < 0 || 4*n+size > spoolMaxRecord {
		return nil, 0, errTorn
	}
	body := make([]byte, 4*n+size)
	if _, err := f.ReadAt(body, off+spoolHead); err != nil {
		return nil, n, errTorn
	}
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(h[12:]) {
		return nil, n, errTorn
	}
	b = &batch{buf: body[4*n:], ends: make([]int32, n), n: n}
	prev := int32(0)
	for i := range n {
		e := int32(binary.LittleEndian.Uint32(body[4*i:]))
		if e < prev || int(e) > size {
			return nil, n, errTorn
		}
		b.ends[i], prev = e, e
	}
	return b, n, nil
}

var errTorn = errors.New("torn spool record")

// empty reports whether nothing is left to replay.
func (sp *spool) empty() bool {
	return len(sp.segs) == 0 || len(sp.segs) == 1 && sp.rseg == sp.segs[0] && sp.roff >= sp.sizes[sp.rseg]
}

// put appends the messages of b from message from on. It fails (the
// caller drops and counts them) past spool_max or on a write error.
func (sp *spool) put(b *batch, from int) error {
	n := len(b.ends) - from
	if n <= 0 {
		return nil
	}
	start := int32(0)
	if from > 0 {
		start = b.ends[from-1]
	}
	payload := b.buf[start:b.ends[len(b.ends)-1]]
	rec := make([]byte, spoolHead+4*n, spoolHead+4*n+len(payload))
	copy(rec, spoolMagic)
	binary.LittleEndian.PutUint32(rec[4:], uint32(n))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(payload)))
	for i := range n {
		binary.LittleEndian.PutUint32(rec[spoolHead+4*i:], uint32(b.ends[from+i]-start))
	}
	rec = append(rec, payload...)
	binary.LittleEndian.PutUint32(rec[12:], crc32.ChecksumIEEE(rec[spoolHead:]))
	if sp.max > 0 && sp.bytes.Load()+int64(len(rec)) > sp.max {
		return fmt.Errorf("spool %s is full (spool_max %d bytes)", sp.dir, sp.max)
	}
	if sp.w == nil || sp.sizes[sp.wseg] >= spoolSegment {
		if err := sp.newSegment(); err != nil {
			return err
		}
	}
	if _, err := sp.w.Write(rec); err != nil {
		// A partial write would be a torn record: cut it off.
		sp.w.Truncate(sp.sizes[sp.wseg])
		sp.w.Seek(sp.sizes[sp.wseg], io.SeekStart)
		return fmt.Errorf("spool: %w", err)
	}
	sp.sizes[sp.wseg] += int64(len(rec))
	sp.bytes.Add(int64(len(rec)))
	sp.spooled.Add(uint64(n))
	return nil
}

func (sp *spool) newSegment() error {
	if sp.w != nil {
		sp.w.Close()
	}
	seg := uint64(1)
	if len(sp.segs) > 0 {
		seg = sp.segs[len(sp.segs)-1] + 1
	}
	f, err := os.OpenFile(sp.path(seg), os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sp.w, sp.wseg = f, seg
	sp.segs = append(sp.segs, seg)
	sp.sizes[seg] = 0
	if len(sp.segs) == 1 {
		sp.rseg, sp.roff = seg, 0
	}
	return nil
}

// next reads the next record to replay, or nil when there is none. A
// record that does not check out ends its segment (counted torn).
func (sp *spool) next() *batch {
	for !sp.empty() {
		if sp.roff >= sp.sizes[sp.rseg] {
			if sp.rseg == sp.wseg && sp.w != nil {
				return nil // caught up with what is being appended
			}
			sp.dropSegment()
			continue
		}
		f, err := os.Open(sp.path(sp.rseg))
		if err != nil {
			sp.dropSegment()
			continue
		}
		b, n, err := readSpoolRecord(f, sp.roff)
		f.Close()
		if err != nil {
			sp.torn.Add(uint64(max(1, n)))
			sp.bytes.Add(-(sp.sizes[sp.rseg] - sp.roff))
			sp.roff = sp.sizes[sp.rseg]
			continue
		}
		return b
	}
	return nil
}

// done records that the record next returned was written: replay goes on
// after it, also after a restart.
func (sp *spool) done(b *batch) {
	size := int64(spoolHead + 4*len(b.ends) + len(b.buf))
	sp.roff += size
	sp.bytes.Add(-size)
	sp.replayed.Add(uint64(len(b.ends)))
	sp.writeOffset(0, false)
	if sp.roff >= sp.sizes[sp.rseg] && sp.rseg != sp.wseg {
		sp.dropSegment()
	}
}

// progress records, around each write of the record being replayed, how
// many of its messages were written and whether a write is under way.
func (sp *spool) progress(msgs int, writing bool) {
	sp.writeOffset(msgs, writing)
}

func (sp *spool) writeOffset(msgs int, writing bool) {
	var ob [32]byte
	binary.LittleEndian.PutUint64(ob[:8], sp.rseg)
	binary.LittleEndian.PutUint64(ob[8:], uint64(sp.roff))
	binary.LittleEndian.PutUint64(ob[16:], uint64(msgs))
	if writing {
		ob[24] = 1
	}
	sp.off.WriteAt(ob[:], 0)
}

// resume returns, once, where replay of the first record resumes after
// a restart: messages already written, and how many after them may have
// been sent before the process died (a write under way: they go out
// again, counted as resent). n is that record's message count.
func (sp *spool) resume(n int) (from, maybeSent int) {
	from = min(sp.resumeMsg, n)
	if sp.resumeWriting {
		maybeSent = n - from
	}
	sp.resumeMsg, sp.resumeWriting = 0, false
	return from, maybeSent
}

// dropSegment deletes the segment being replayed, fully replayed (or
// unreadable), and moves replay to the next one.
func (sp *spool) dropSegment() {
	seg := sp.rseg
	if seg == sp.wseg && sp.w != nil {
		sp.w.Close()
		sp.w = nil
	}
	os.Remove(sp.path(seg))
	sp.bytes.Add(-max(0, sp.sizes[seg]-sp.roff)) // what was not replayed
	delete(sp.sizes, seg)
	sp.segs = slices.DeleteFunc(sp.segs, func(s uint64) bool { return s == seg })
	if len(sp.segs) > 0 {
		sp.rseg = sp.segs[0]
	}
	sp.roff = 0
}

func (sp *spool) close() {
	if sp.w != nil {
		sp.w.Sync()
		sp.w.Close()
	}
	if sp.off != nil {
		sp.off.Close()
	}
	if sp.lock != nil {
		sp.lock.Close()
	}
}
