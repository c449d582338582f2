package event

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// safeJSON[b] is true for a byte that is written into a JSON string (or
// the text form) as is: printable ASCII but '"' and '\\'. Control bytes and
// DEL are escaped; bytes >= 0x80 go through the UTF-8 check.
var safeJSON = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != 0x7f
	}
	return t
}()

// suspectRune reports whether a valid non-ASCII rune is escaped although it
// is legal in JSON: C1 controls, the line and paragraph separators (which
// end a line for JavaScript and some log viewers) and the bidirectional
// overrides (which make a terminal or a web UI show text in another order
// than it is stored, "Trojan Source").
func suspectRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r == 0x2028 || r == 0x2029: // line/paragraph separator
		return true
	case r >= 0x202a && r <= 0x202e: // LRE RLE PDF LRO RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c: // LRM RLM ALM
		return true
	case r == 0xfeff: // BOM / zero width no-break space
		return true
	}
	return false
}

// AppendJSONString appends s to dst as a quoted JSON string that is valid
// UTF-8 and contains no byte below 0x20 nor DEL, so that it can never end
// a line or a frame, whatever s holds. See the package documentation for
// what is escaped and how invalid UTF-8 is replaced.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONBody(dst, s)
	return append(dst, '"')
}

// appendJSONBody is AppendJSONString without the quotes.
func appendJSONBody(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Skip eight plain bytes at a time: names and paths are mostly
		// printable ASCII.
		for i+8 <= len(s) && plain8(load8(s, i)) {
			i += 8
		}
		for i < len(s) && safeJSON[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if suspectRune(r) {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u',
				hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load8 reads s[i:i+8] as a little-endian word (the compiler merges the
// loads into one).
func load8(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plain8 reports whether none of the eight bytes of x needs a look: no
// byte >= 0x80, < 0x20, '"', '\\' or DEL. Each term is the classic
// "has a zero byte" test, which is exact for whether one exists.
func plain8(x uint64) bool {
	hasZero := func(v uint64) uint64 { return (v - lsb) &^ v & msb }
	bad := x & msb // non-ASCII
	bad |= (x - 0x20*lsb) &^ x & msb
	bad |= hasZero(x ^ '"'*lsb)
	bad |= hasZero(x ^ '\\'*lsb)
	bad |= hasZero(x ^ 0x7f*lsb)
	return bad == 0
}

// jsonSafeBytes reports whether b can be written inside a JSON string as
// is (what a Decoder should always produce: printable ASCII without quotes
// or backslashes).
func jsonSafeBytes(b []byte) bool {
	for _, c := range b {
		if !safeJSON[c] {
			return false
		}
	}
	return true
}

// AppendEscaped appends s to dst the way strace shows a string, without
// quotes: printable ASCII and valid printable UTF-8 as they are; '\\' and
// '"' with a backslash; \n \r \t \v \f \a \b by name; every other control
// byte, DEL, every byte of invalid UTF-8 and every byte of a suspect rune
// (C1 controls, U+2028, U+2029, bidirectional overrides, BOM) as \xNN.
// The result is valid UTF-8, holds no control byte, and keeps every byte
// of s recoverable (it is lossless, unlike the JSON form).
//
// It is meant for line- and frame-oriented text (the text output, syslog
// messages); a format with more special characters (RFC 5424 structured
// data's ']') escapes those on top of it.
func AppendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plain8(load8(s, i)) { // same plain set as JSON
			i += 8
		}
		for i < len(s) && safeJSON[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscapedByte(dst, b)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || suspectRune(r) {
			dst = append(dst, s[start:i]...)
			for j := i; j < i+size; j++ {
				dst = append(dst, '\\', 'x', hexDigits[s[j]>>4], hexDigits[s[j]&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

func appendEscapedByte(dst []byte, b byte) []byte {
	switch b {
	case '"', '\\':
		return append(dst, '\\', b)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\v':
		return append(dst, '\\', 'v')
	case '\f':
		return append(dst, '\\', 'f')
	case '\a':
		return append(dst, '\\', 'a')
	case '\b':
		return append(dst, '\\', 'b')
	}
	return append(dst, '\\', 'x', hexDigits[b>>4], hexDigits[b&0xf])
}

// appendHex appends v as 0x followed by lowercase hex digits, no padding.
func appendHex(dst []byte, v uint64) []byte {
	var buf [18]byte
	i := len(buf)
	for {
		i--
		buf[i] = hexDigits[v&0xf]
		v >>= 4
		if v == 0 {
			break
		}
	}
	i--
	buf[i] = 'x'
	i--
	buf[i] = '0'
	return append(dst, buf[i:]...)
}
