// Audit logs: auditd's audit.log (RAW or ENRICHED, with or without node=
// prefixes, several hosts interleaved) or `ausearch -r` output, read line
// by line into the same reassembly as the live source, for `auperf
// decode`. What cannot be read is counted by reason, with line numbers,
// never skipped silently.

package auditsrc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

// LogConfig says which events of an audit log a LogDecoder delivers.
type LogConfig struct {
	// Events are syscall names (by name, in any arch: "mmap" also takes
	// i386's mmap2); nil delivers every syscall event in the log.
	Events []string
	Filter filter.Spec
	// MaxLine is the longest line read (0: 16 MiB); a longer one is
	// skipped and counted.
	MaxLine int
	// Follow: the input grows (auperf decode --follow). A last line
	// without its newline waits for the rest, and groups are completed
	// by their age (FlushOlder) rather than by the end of the input.
	Follow bool
}

// Reasons a line or record is skipped (LogStats.Skipped).
const (
	SkipNotRecord   = "not an audit record"
	SkipInterpreted = "interpreted record (ausearch -i output; use ausearch -r)"
	SkipLongLine    = "line over the length limit"
	SkipBadSyscall  = "SYSCALL record with missing or garbled fields"
	SkipIncomplete  = "event without its SYSCALL record"
	SkipLate        = "record after its event was complete"
)

// LogStats counts what a LogDecoder read.
type LogStats struct {
	Lines      uint64 // lines read
	Records    uint64 // audit records among them
	Events     uint64 // events delivered
	Incomplete uint64 // record groups without their SYSCALL record
	// Skipped counts, by reason, what could not be decoded, with the
	// first few places (FILE:LINE).
	Skipped map[string]*Skip
}

// Skip is one reason's count and its first places.
type Skip struct {
	Count  uint64
	Places []string
}

// maxPlaces is how many places a Skip keeps.
const maxPlaces = 5

// SkippedTotal is the number of lines and records skipped.
func (st *LogStats) SkippedTotal() uint64 {
	var n uint64
	for _, s := range st.Skipped {
		n += s.Count
	}
	return n
}

// Reasons are the reasons of Skipped, sorted.
func (st *LogStats) Reasons() []string {
	var out []string
	for r := range st.Skipped {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// LogDecoder turns audit log lines into events: one per syscall (SYSCALL +
// MMAP + PROCTITLE + EOE records grouped by host and serial), delivered in
// the order their groups complete, which per host is the log's order.
type LogDecoder struct {
	cfg   LogConfig
	st    LogStats
	c     counters
	asm   *assembler
	out   *logOut
	ids   map[string]uint32 // node name -> id
	last  map[uint32]uint32 // newest serial per node id
	file  string
	line  uint64
	buf   []byte // a line that spans reads (ReadSlice's buffer is too small)
	skipL bool   // inside an over-long line: discard to its end
}

// NewLogDecoder makes a decoder that calls h with every event.
func NewLogDecoder(cfg LogConfig, h event.Handler) (*LogDecoder, error) {
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = 16 << 20
	}
	set := allSyscalls()
	if cfg.Events != nil {
		var err error
		if set, _, err = newSyscallSet(cfg.Events, nil, []decode.Arch{decode.ArchX86_64, decode.ArchI386, decode.ArchARM64, decode.ArchARM}); err != nil {
			return nil, err
		}
	}
	d := &LogDecoder{cfg: cfg, ids: map[string]uint32{}, last: map[uint32]uint32{}}
	d.st.Skipped = map[string]*Skip{}
	d.out = &logOut{filter: cfg.Filter, h: h, d: d}
	d.out.filter.Init()
	d.asm = newAssembler(set, -1, &d.c, d.out)
	d.asm.logs = true
	return d, nil
}

// skip counts one skipped line or record of the current place.
func (d *LogDecoder) skip(reason string) {
	s := d.st.Skipped[reason]
	if s == nil {
		s = &Skip{}
		d.st.Skipped[reason] = s
	}
	s.Count++
	if len(s.Places) < maxPlaces {
		s.Places = append(s.Places, fmt.Sprintf("%s:%d", d.file, d.line))
	}
}

// Read decodes r, named name in the counts, to its end. Line numbers start
// again for each name. Events of groups still open at the end wait for
// Flush (or, when following, for their records or FlushOlder).
func (d *LogDecoder) Read(r io.Reader, name string) error {
	if name != d.file {
		d.file, d.line = name, 0
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			d.take(chunk, err == nil)
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if !d.cfg.Follow && (len(d.buf) > 0 || d.skipL) {
				d.endLine(nil, true) // a last line without its newline
			}
			return nil
		default:
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
}

// take handles a piece of a line; complete says the piece ends the line.
func (d *LogDecoder) take(chunk []byte, complete bool) {
	if !complete || len(d.buf) > 0 || d.skipL {
		if !d.skipL {
			if len(d.buf)+len(chunk) > d.cfg.MaxLine {
				d.skipL, d.buf = true, d.buf[:0]
			} else {
				d.buf = append(d.buf, chunk...)
			}
		}
		if !complete {
			return
		}
		d.endLine(d.buf, false)
		d.buf = d.buf[:0]
		return
	}
	d.line++
	d.st.Lines++
	d.parse(chunk)
}

// endLine ends a line that spanned reads (or the input's last line).
func (d *LogDecoder) endLine(line []byte, atEOF bool) {
	d.line++
	d.st.Lines++
	if d.skipL {
		d.skipL = false
		d.skip(SkipLongLine)
		return
	}
	if atEOF {
		line = d.buf
		d.buf = d.buf[:0]
	}
	d.parse(line)
}

// parse handles one whole line.
func (d *LogDecoder) parse(line []byte) {
	line = bytes.TrimRight(line, "\r\n")
	if len(bytes.TrimSpace(line)) == 0 || bytes.HasPrefix(line, []byte("----")) {
		return // blank lines and ausearch's separators
	}
	rec, ok := parseLogLine(line)
	if !ok {
		if bytes.Contains(line, []byte("type=")) && bytes.Contains(line, []byte("msg=audit(")) && interpretedStamp(line) {
			d.skip(SkipInterpreted)
		} else {
			d.skip(SkipNotRecord)
		}
		return
	}
	d.st.Records++
	if node := nodeOf(line); len(node) > 0 {
		id, ok := d.ids[string(node)]
		if !ok {
			d.asm.nodes = append(d.asm.nodes, string(node))
			id = uint32(len(d.asm.nodes))
			d.ids[string(node)] = id
		}
		rec.node = id
	}
	late := d.c.late.Load()
	now := time.Time{}
	if d.cfg.Follow {
		now = time.Now()
	}
	d.asm.record(rec, now)
	if d.c.late.Load() != late {
		d.skip(SkipLate)
	}
	d.last[rec.node] = rec.serial
	if len(d.asm.pend) > 256 && !d.cfg.Follow {
		// A group without its last record (the log was cut, or a
		// record lost): emit it once its host's log is well past it.
		var old []*group
		for _, g := range d.asm.pend {
			if int32(d.last[g.node]-g.serial) > 128 {
				old = append(old, g)
			}
		}
		d.asm.completeInOrder(old)
	}
}

// interpretedStamp reports whether the line's audit( stamp is ausearch -i's
// date and time rather than the kernel's seconds.
func interpretedStamp(line []byte) bool {
	i := bytes.Index(line, []byte("msg=audit("))
	if i < 0 {
		return false
	}
	rest := line[i+len("msg=audit("):]
	return len(rest) > 4 && (rest[2] == '/' || rest[4] == '-')
}

// FlushOlder completes the groups that have waited longer than age for
// their last record (when following a growing log).
func (d *LogDecoder) FlushOlder(age time.Duration) {
	d.asm.flushOlder(time.Now().Add(-age))
}

// Flush completes every group still open: the end of the input. An event
// found incomplete then is placed at the input's last line.
func (d *LogDecoder) Flush() {
	d.asm.flushOlder(time.Unix(1<<40, 0))
}

// Stats is what was read so far.
func (d *LogDecoder) Stats() LogStats {
	d.st.Incomplete = d.c.lostIncomplete.Load()
	return d.st
}

// DecodeLog reads an audit log as auditd writes it (RAW or ENRICHED format,
// with or without "node=" prefixes) or as `ausearch -r` prints it, and
// calls h with one event per syscall. The event's hostName is the record's
// node, when the log has one. Interpreted output (ausearch -i) is not
// read: its values are no longer the kernel's.
func DecodeLog(r io.Reader, cfg LogConfig, h event.Handler) (LogStats, error) {
	d, err := NewLogDecoder(cfg, h)
	if err != nil {
		return LogStats{}, err
	}
	err = d.Read(r, "-")
	d.Flush()
	return d.Stats(), err
}

// logOut delivers a log's events through the filter; a log's loss is
// counted (LogStats), not put in the stream.
type logOut struct {
	filter filter.Spec
	h      event.Handler
	d      *LogDecoder
}

func (o *logOut) syscall(ev *event.Event, _ *syscallRecord) {
	if !o.filter.Match(ev) {
		return
	}
	o.d.st.Events++
	o.h(ev)
}

// lost is an event without its SYSCALL record, found when its group
// completed: placed at the line being read.
func (o *logOut) lost(n uint64, cause string) {
	for range n {
		o.d.skip(SkipIncomplete)
	}
}

func (o *logOut) malformed() { o.d.skip(SkipBadSyscall) }

// nodeOf returns the "node=NAME" prefix auditd writes with name_format.
func nodeOf(line []byte) []byte {
	if !bytes.HasPrefix(line, []byte("node=")) {
		return nil
	}
	v := line[len("node="):]
	if sp := bytes.IndexByte(v, ' '); sp >= 0 {
		return v[:sp]
	}
	return nil
}

// Sniff says what the start of an input is when it is not an audit log
// (binary data, a compressed file of a kind not read here, auperf's own
// JSON): "" for text that may be one. gzip is read (see Open).
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd-compressed: decompress it first (zstd -d)"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz-compressed: decompress it first (xz -d)"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2-compressed: decompress it first (bzip2 -d)"
	}
	t := bytes.TrimLeft(head, " \t\r\n")
	if bytes.HasPrefix(t, []byte("{")) && bytes.Contains(t, []byte(`"eventName"`)) {
		return "auperf's own JSON events, not an audit log"
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return "binary data, not an audit log"
	}
	if n := len(head); n > 0 && !utf8ish(head) {
		return "binary data, not an audit log"
	}
	return ""
}

// utf8ish reports whether b looks like text: mostly printable bytes.
func utf8ish(b []byte) bool {
	bad := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != 0x1d {
			bad++
		}
	}
	return bad*20 < len(b)
}
