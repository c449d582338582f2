// Audit records' framing: the record types, the audit(SEC.MSEC:SERIAL)
// stamp, log lines (node=, type=, ENRICHED suffixes), and the field
// scanner with its number parsers. Pure, allocation-free.

package auditsrc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
)

// Record types auperf reads (include/uapi/linux/audit.h).
const (
	typeSyscall      = 1300 // AUDIT_SYSCALL
	typeConfigChange = 1305 // AUDIT_CONFIG_CHANGE
	typeReplace      = 1329 // AUDIT_REPLACE: another process asks to be the daemon (newer kernels)
	typeLogin        = 1006 // AUDIT_LOGIN: a loginuid write (StartCommand's own)
	typeEOE          = 1320 // AUDIT_EOE: end of a multi-record event
	typeMmap         = 1323 // AUDIT_MMAP: fd and flags of a file mmap
	typeProctitle    = 1327 // AUDIT_PROCTITLE
	typeOther        = 1    // any other record: only its serial matters
)

// typeNames are the names auditd writes in "type=" for the types above.
var typeNames = map[string]uint16{
	"SYSCALL":   typeSyscall,
	"EOE":       typeEOE,
	"MMAP":      typeMmap,
	"PROCTITLE": typeProctitle,
}

// record is one audit record: "audit(SEC.MSEC:SERIAL): key=value ...".
type record struct {
	typ    uint16
	node   uint32 // the host of a log line with node= (an id, see assembler.nodes); 0: none
	ts     int64  // nanoseconds since the epoch (audit has milliseconds)
	serial uint32 // the event's serial; the kernel's counter is 32 bits and wraps
	body   []byte // the key=value part, without any ENRICHED suffix
}

var errNoStamp = errors.New("no audit(SEC.MSEC:SERIAL) stamp")

// parseStamp parses a record's "audit(1700000000.123:456): " prefix and
// returns the rest, without an ENRICHED suffix. Anything before "audit("
// is skipped.
func parseStamp(b []byte) (ts int64, serial uint32, body []byte, err error) {
	ts, serial, body, err = splitStamp(b)
	return ts, serial, trimEnriched(body), err
}

// splitStamp is parseStamp for the kernel's records, which have no
// ENRICHED suffix to look for (that search read every byte of a record).
func splitStamp(b []byte) (ts int64, serial uint32, body []byte, err error) {
	// A kernel record starts with its stamp; a log line has "type=...
	// msg=" (and maybe "node=") first.
	if !bytes.HasPrefix(b, auditStamp) {
		i := bytes.Index(b, auditStamp)
		if i < 0 {
			return 0, 0, nil, errNoStamp
		}
		b = b[i:]
	}
	b = b[len(auditStamp):]
	// One pass for the first ')' and the first '.' and ':' before it.
	dot, colon, end := -1, -1, -1
scan:
	for j, c := range b {
		switch c {
		case '.':
			if dot < 0 {
				dot = j
			}
		case ':':
			if colon < 0 {
				colon = j
			}
		case ')':
			end = j
			break scan
		}
	}
	if end < 0 || dot < 0 || colon < dot {
		return 0, 0, nil, errNoStamp
	}
	sec, ok1 := parseUint(b[:dot], 10)
	msec, ok2 := parseUint(b[dot+1:colon], 10)
	ser, ok3 := parseUint(b[colon+1:end], 10)
	if !ok1 || !ok2 || !ok3 || msec > 999 || ser > 0xffffffff || sec > 1<<33 {
		return 0, 0, nil, errNoStamp
	}
	body = b[end+1:]
	if len(body) > 0 && body[0] == ':' {
		body = body[1:]
	}
	return int64(sec)*1e9 + int64(msec)*1e6, uint32(ser), body, nil
}

var auditStamp = []byte("audit(")

// trimEnriched cuts auditd's ENRICHED suffix: the interpreted fields follow
// a 0x1d (group separator) byte and are not part of the kernel's record.
func trimEnriched(b []byte) []byte {
	if i := bytes.IndexByte(b, 0x1d); i >= 0 {
		return b[:i]
	}
	return b
}

// parseLogLine parses one line of an audit log as auditd writes it (RAW or
// ENRICHED, optionally with "node=NAME " first) or as ausearch -r prints it.
// ok is false for lines that are not records ("----" separators, blanks).
func parseLogLine(line []byte) (r record, ok bool) {
	line = bytes.TrimRight(line, "\r\n")
	i := bytes.Index(line, []byte("type="))
	if i < 0 {
		return r, false
	}
	rest := line[i+len("type="):]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return r, false
	}
	name := rest[:sp]
	r.typ = typeOther
	if t, found := typeNames[string(name)]; found {
		r.typ = t
	} else if bytes.HasPrefix(name, []byte("UNKNOWN[")) && bytes.HasSuffix(name, []byte("]")) {
		if n, ok := parseUint(name[len("UNKNOWN["):len(name)-1], 10); ok {
			switch n {
			case typeSyscall, typeEOE, typeMmap, typeProctitle:
				r.typ = uint16(n)
			}
		}
	}
	var err error
	r.ts, r.serial, r.body, err = parseStamp(rest[sp:])
	if err != nil {
		return r, false
	}
	return r, true
}

// nextField returns the first key=value pair of b and what follows it. A
// value is either "quoted" (audit never puts a quote inside one), 'quoted'
// (user-space messages), or runs to the next space. A bare word without
// '=' is skipped.
func nextField(b []byte) (key, val, rest []byte, quoted, ok bool) {
	i := 0
	for {
		for i < len(b) && b[i] == ' ' {
			i++
		}
		start := i
		i = scan(b, i, ' ', '=')
		if i == len(b) || i == start {
			return nil, nil, nil, false, false
		}
		if b[i] == '=' {
			key = b[start:i]
			break
		}
	}
	i++
	if i < len(b) && (b[i] == '"' || b[i] == '\'') {
		q := b[i]
		j := scan(b, i+1, q, q)
		if j == len(b) {
			return key, b[i+1:], nil, true, true
		}
		return key, b[i+1 : j], b[j+1:], true, true
	}
	j := scan(b, i, ' ', ' ')
	if j == len(b) {
		return key, b[i:], nil, false, true
	}
	return key, b[i:j], b[j:], false, true
}

// scan returns the index of the first c1 or c2 in b from i on, or
// len(b). Eight bytes at a time (SWAR): keys and values are a few bytes
// long, too short for bytes.IndexByte's vector loop to pay for its setup,
// and a byte loop costs a compare and a branch per byte.
func scan(b []byte, i int, c1, c2 byte) int {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	m1, m2 := uint64(c1)*lsb, uint64(c2)*lsb
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		// The lowest byte flagged by "has a zero byte" is exact (only
		// bytes above a zero can be flagged falsely).
		y1, y2 := x^m1, x^m2
		if m := ((y1-lsb)&^y1 | (y2-lsb)&^y2) & msb; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for i < len(b) && b[i] != c1 && b[i] != c2 {
		i++
	}
	return i
}

// appendUntrusted appends the value of a string field the kernel logged
// with audit_log_untrustedstring: quoted as is, or hex when it holds a
// quote, a space or a control byte. "(null)" and "(none)" append nothing
// and report false.
func appendUntrusted(dst, val []byte, quoted bool) ([]byte, bool) {
	if quoted {
		return append(dst, val...), true
	}
	if len(val) == 0 || val[0] == '(' || len(val)%2 != 0 {
		return dst, false
	}
	start := len(dst)
	for i := 0; i < len(val); i += 2 {
		hi, ok1 := unhex(val[i])
		lo, ok2 := unhex(val[i+1])
		if !ok1 || !ok2 {
			return dst[:start], false
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseUint parses b without allocating.
func parseUint(b []byte, base uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if base == 16 && len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		b = b[2:]
	}
	// Up to 19 decimal or 16 hex digits cannot overflow: no check per
	// digit (a division) on the hot path.
	if (base == 10 && len(b) <= 19) || (base == 16 && len(b) <= 16) {
		var v uint64
		for _, c := range b {
			d := digitVal[c]
			if uint64(d) >= base {
				return 0, false
			}
			v = v*base + uint64(d)
		}
		return v, true
	}
	var v uint64
	for _, c := range b {
		d := digitVal[c]
		if uint64(d) >= base {
			return 0, false
		}
		nv := v*base + uint64(d)
		if (nv-uint64(d))/base != v {
			return 0, false // overflow
		}
		v = nv
	}
	return v, true
}

// digitVal is a byte's hex digit value, 0xff for a non-digit.
var digitVal = func() (t [256]uint8) {
	for i := range t {
		d, ok := unhex(byte(i))
		t[i] = d
		if !ok {
			t[i] = 0xff
		}
	}
	return t
}()

func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseUint(b, 10)
	if !ok || u > 1<<63 || (!neg && u == 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}
