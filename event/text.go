package event

import "strconv"

// ANSI SGR sequences used when AppendText is asked for colour.
const (
	sgrDim   = "\x1b[2m"
	sgrRed   = "\x1b[31m"
	sgrBold  = "\x1b[1m"
	sgrReset = "\x1b[0m"
)

// AppendText appends ev to dst as one strace-like line ending in '\n':
//
//	10:39:08.283123 python3[6188/6190] mmap(addr=NULL, length=8192, prot=PROT_READ|PROT_WRITE, ...) = 0x7f6b0f98e000 <0.000005>
//
// The time is UTC (see the package documentation). With color, the time is
// dim and a failing call's result red; nothing else differs, so the line
// without colour is what a log file gets. It does not allocate when dst has
// room.
func AppendText(dst []byte, ev *Event, color bool) []byte {
	if color {
		dst = append(dst, sgrDim...)
	}
	dst = appendClock(dst, ev.Timestamp)
	if color {
		dst = append(dst, sgrReset...)
	}
	dst = append(dst, ' ')
	if ev.Source == SourceAuperf {
		return appendTextSpecial(dst, ev, color)
	}
	if ev.ProcessName != "" {
		dst = AppendEscaped(dst, ev.ProcessName)
	} else {
		dst = append(dst, '?')
	}
	dst = append(dst, '[')
	if ev.Known&HasProcess != 0 {
		dst = strconv.AppendInt(dst, int64(ev.ProcessID), 10)
	} else {
		dst = append(dst, '?')
	}
	if ev.Known&HasThread != 0 {
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(ev.ThreadID), 10)
	}
	dst = append(dst, "] "...)
	dst = AppendEscaped(dst, ev.EventName)
	dst = append(dst, '(')
	for i := range ev.Args {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		a := &ev.Args[i]
		dst = AppendEscaped(dst, a.Name)
		dst = append(dst, '=')
		dst = appendTextValue(dst, a)
	}
	dst = append(dst, ')')
	if ev.Syscall == "" && ev.Known&HasReturn == 0 {
		// A finding (package insight): no call, no result.
		return appendTextFile(dst, ev.File)
	}
	dst = append(dst, ' ')
	failed := ev.IsError()
	if failed && color {
		dst = append(dst, sgrRed...)
	}
	dst = append(dst, "= "...)
	switch {
	case ev.Known&HasReturn == 0:
		dst = append(dst, '?')
	case ev.ReturnPointer && !failed:
		dst = appendHex(dst, uint64(ev.ReturnValue))
	default:
		dst = strconv.AppendInt(dst, ev.ReturnValue, 10)
	}
	if ev.Errno != "" {
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, ev.Errno)
	}
	if failed && color {
		dst = append(dst, sgrReset...)
	}
	if ev.Known&HasDuration != 0 {
		dst = append(dst, " <"...)
		dst = appendSeconds(dst, ev.DurationNs)
		dst = append(dst, '>')
	}
	return appendTextFile(dst, ev.File)
}

// appendTextFile ends the line, with the mapped file when there is one:
// file=PATH, or file=? when it was gone.
func appendTextFile(dst []byte, f *File) []byte {
	if f != nil {
		dst = append(dst, " file="...)
		if f.From == "gone" {
			dst = append(dst, '?')
		} else {
			dst = AppendEscaped(dst, f.Path)
		}
	}
	return append(dst, '\n')
}

// appendTextValue writes an argument as strace would: decoded when a
// decoder exists, NULL for a null pointer, ? for what the source cannot know.
func appendTextValue(dst []byte, a *Arg) []byte {
	switch a.Kind {
	case ArgInt, ArgUint, ArgPointer:
		if a.Decoder != nil {
			return appendDecoded(dst, a.Decoder, a.Value, AppendEscaped)
		}
	}
	switch a.Kind {
	case ArgInt:
		return strconv.AppendInt(dst, int64(a.Value), 10)
	case ArgUint:
		return strconv.AppendUint(dst, a.Value, 10)
	case ArgPointer:
		if a.Value == 0 {
			return append(dst, "NULL"...)
		}
		return appendHex(dst, a.Value)
	case ArgString:
		dst = append(dst, '"')
		dst = AppendEscaped(dst, a.Str)
		return append(dst, '"')
	}
	return append(dst, '?')
}

// appendTextSpecial writes auperf's own events:
//
//	10:39:08.283123 auperf_lost: 42 events lost (source=perf cpu=1 cause=ring)
//	10:39:08.283123 auperf_stats: perf.received=1200 perf.emitted=1198
func appendTextSpecial(dst []byte, ev *Event, color bool) []byte {
	lost := -1
	if ev.EventName == NameLost {
		for i := range ev.Args {
			if ev.Args[i].Name == "lost" && ev.Args[i].Kind == ArgUint {
				lost = i
				break
			}
		}
	}
	if color {
		dst = append(dst, sgrBold...)
	}
	dst = AppendEscaped(dst, ev.EventName)
	dst = append(dst, ':')
	if color {
		dst = append(dst, sgrReset...)
	}
	open := false
	if lost >= 0 {
		if color {
			dst = append(dst, sgrRed...)
		}
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, ev.Args[lost].Value, 10)
		if ev.Args[lost].Value == 1 {
			dst = append(dst, " event lost"...)
		} else {
			dst = append(dst, " events lost"...)
		}
		if color {
			dst = append(dst, sgrReset...)
		}
		if len(ev.Args) > 1 {
			dst = append(dst, " ("...)
			open = true
		}
	}
	first := true
	for i := range ev.Args {
		if i == lost {
			continue
		}
		a := &ev.Args[i]
		if !first || !open {
			dst = append(dst, ' ')
		}
		first = false
		dst = AppendEscaped(dst, a.Name)
		dst = append(dst, '=')
		if a.Kind == ArgString && plainWord(a.Str) {
			dst = append(dst, a.Str...)
		} else {
			dst = appendTextValue(dst, a)
		}
	}
	if open {
		dst = append(dst, ')')
	}
	return append(dst, '\n')
}

// plainWord reports whether s can be shown unquoted in a key=value list.
func plainWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == ':' || c == '/') {
			return false
		}
	}
	return true
}

// AppendClock appends the UTC time of day of ts (ns since the epoch) as
// text output writes it: HH:MM:SS.uuuuuu.
func AppendClock(dst []byte, ts int64) []byte { return appendClock(dst, ts) }

// appendClock writes the UTC time of day of ts (ns since the epoch) as
// HH:MM:SS.uuuuuu.
func appendClock(dst []byte, ts int64) []byte {
	sec := ts / 1e9
	ns := ts % 1e9
	if ns < 0 {
		ns += 1e9
		sec--
	}
	day := sec % 86400
	if day < 0 {
		day += 86400
	}
	dst = append2(dst, day/3600)
	dst = append(dst, ':')
	dst = append2(dst, day/60%60)
	dst = append(dst, ':')
	dst = append2(dst, day%60)
	dst = append(dst, '.')
	return appendFrac6(dst, ns/1000)
}

// appendSeconds writes a duration in ns as seconds with six decimals, as
// strace -T does.
func appendSeconds(dst []byte, ns int64) []byte {
	u := uint64(ns)
	if ns < 0 { // clocks of two CPUs disagree: show it, do not hide it
		dst = append(dst, '-')
		u = -u
	}
	dst = strconv.AppendUint(dst, u/1e9, 10)
	dst = append(dst, '.')
	return appendFrac6(dst, int64(u%1e9/1000))
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

func appendFrac6(dst []byte, us int64) []byte {
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = byte('0' + us%10)
		us /= 10
	}
	return append(dst, b[:]...)
}
