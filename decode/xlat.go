package decode

import "strconv"

// Flag is one named bit, or group of bits, of a flag set.
type Flag struct {
	Name  string
	Value uint64
}

// FlagSet renders a bit set as strace does: the names of the flags whose
// bits are all set, in table order, joined by "|", then the bits no flag
// claimed as one hex number ("PROT_READ|0x10"). Zero is written as Zero, or
// "0" when the set has no name for it.
type FlagSet struct {
	Flags []Flag
	Zero  string
	// Bits is the width of the C type the flags travel in (32 for int and
	// unsigned int; 0 means 64). Bits above it are not part of the value:
	// an int of -1 has 32 bits set, not 64.
	Bits int
}

// AppendDecoded implements event.Decoder.
func (f *FlagSet) AppendDecoded(dst []byte, v uint64) []byte {
	v = truncate(v, f.Bits)
	if v == 0 {
		if f.Zero != "" {
			return append(dst, f.Zero...)
		}
		return append(dst, '0')
	}
	dst, rest, wrote := f.appendNames(dst, v, false)
	if rest != 0 {
		if wrote {
			dst = append(dst, '|')
		}
		dst = appendHex(dst, rest)
	}
	return dst
}

// appendNames appends the names of the flags set in v, each preceded by "|"
// if sep (or an earlier name) asks for it, and returns the bits left over.
func (f *FlagSet) appendNames(dst []byte, v uint64, sep bool) ([]byte, uint64, bool) {
	wrote := false
	for _, fl := range f.Flags {
		if fl.Value == 0 || v&fl.Value != fl.Value {
			continue
		}
		if sep || wrote {
			dst = append(dst, '|')
		}
		dst = append(dst, fl.Name...)
		wrote = true
		v &^= fl.Value
	}
	return dst, v, wrote
}

// Value is one named value of an enumeration.
type Value struct {
	Name  string
	Value uint64
}

// ValueSet renders an enumeration: the name of the value, or the value in
// hex when it has none (strace's "0x..." fallback).
type ValueSet struct {
	Values []Value
	Bits   int // as FlagSet.Bits
}

// AppendDecoded implements event.Decoder.
func (s *ValueSet) AppendDecoded(dst []byte, v uint64) []byte {
	v = truncate(v, s.Bits)
	if name, ok := s.lookup(v); ok {
		return append(dst, name...)
	}
	return appendHex(dst, v)
}

func (s *ValueSet) lookup(v uint64) (string, bool) {
	for _, e := range s.Values {
		if e.Value == v {
			return e.Name, true
		}
	}
	return "", false
}

// appendHex writes v as C's "%#x" does: "0" for zero, else "0x..." in lower
// case.
func appendHex(dst []byte, v uint64) []byte {
	if v == 0 {
		return append(dst, '0')
	}
	dst = append(dst, "0x"...)
	return strconv.AppendUint(dst, v, 16)
}

// truncate keeps the low bits of v (bits 0 or 64: all of them).
func truncate(v uint64, bits int) uint64 {
	if bits <= 0 || bits >= 64 {
		return v
	}
	return v & (1<<uint(bits) - 1)
}

// signExtend keeps the low bits of v and extends its top bit.
func signExtend(v uint64, bits int) uint64 {
	if bits <= 0 || bits >= 64 {
		return v
	}
	shift := uint(64 - bits)
	return uint64(int64(v<<shift) >> shift)
}

func appendUint(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }
