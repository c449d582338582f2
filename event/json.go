package event

import (
	"strconv"
	"unsafe"
)

// maxErrno is the largest errno a syscall returns as -errno; a return value
// in [-maxErrno, -1] is a failure even for a syscall that returns addresses.
const maxErrno = 4095

// IsError reports whether ev is a syscall that returned a negative errno.
func (e *Event) IsError() bool {
	return e.Known&HasReturn != 0 && e.ReturnValue < 0 && e.ReturnValue >= -maxErrno
}

// Layout is how AppendJSONLayout writes the arguments.
type Layout uint8

const (
	// ArgsArray: "args":[{"name","type","value"[,"decoded"]}...], Tracee's.
	ArgsArray Layout = iota
	// ArgsObject: "args":{NAME: value...} and "argsDecoded":{NAME: text...}:
	// one index field per argument name, of one type across every event.
	ArgsObject
)

// ParseLayout parses "array" or "object" (the args= output option).
func ParseLayout(s string) (Layout, bool) {
	switch s {
	case "", "array":
		return ArgsArray, true
	case "object":
		return ArgsObject, true
	}
	return 0, false
}

// AppendJSON appends ev to dst as one JSON object followed by '\n' and
// returns the extended buffer: AppendJSONLayout with ArgsArray.
func AppendJSON(dst []byte, ev *Event) []byte {
	return AppendJSONLayout(dst, ev, ArgsArray)
}

// AppendJSONLayout appends ev to dst as one JSON object followed by '\n'
// and returns the extended buffer. The keys and their order are those of
// the package documentation. It does not allocate when dst has room.
func AppendJSONLayout(dst []byte, ev *Event, layout Layout) []byte {
	k := ev.Known
	dst = append(dst, `{"timestamp":`...)
	dst = strconv.AppendInt(dst, ev.Timestamp, 10)
	if k&HasProcessor != 0 {
		dst = append(dst, `,"processorId":`...)
		dst = strconv.AppendInt(dst, int64(ev.ProcessorID), 10)
	}
	if k&HasProcess != 0 {
		dst = append(dst, `,"processId":`...)
		dst = strconv.AppendInt(dst, int64(ev.ProcessID), 10)
	}
	if k&HasThread != 0 {
		dst = append(dst, `,"threadId":`...)
		dst = strconv.AppendInt(dst, int64(ev.ThreadID), 10)
	}
	if k&HasParent != 0 {
		dst = append(dst, `,"parentProcessId":`...)
		dst = strconv.AppendInt(dst, int64(ev.ParentProcessID), 10)
	}
	if k&HasUser != 0 {
		dst = append(dst, `,"userId":`...)
		dst = strconv.AppendUint(dst, uint64(ev.UserID), 10)
	}
	if k&HasGroup != 0 {
		dst = append(dst, `,"groupId":`...)
		dst = strconv.AppendUint(dst, uint64(ev.GroupID), 10)
	}
	if k&HasLoginUser != 0 {
		dst = append(dst, `,"loginUserId":`...)
		dst = strconv.AppendUint(dst, uint64(ev.LoginUserID), 10)
	}
	if k&HasSession != 0 {
		dst = append(dst, `,"sessionId":`...)
		dst = strconv.AppendUint(dst, uint64(ev.SessionID), 10)
	}
	if ev.ProcessName != "" {
		dst = append(dst, `,"processName":"`...)
		dst = appendJSONBody(dst, ev.ProcessName)
		dst = append(dst, '"')
	}
	if ev.ExecutablePath != "" {
		dst = append(dst, `,"executable":{"path":`...)
		dst = AppendJSONString(dst, ev.ExecutablePath)
		dst = append(dst, '}')
	}
	if ev.HostName != "" {
		dst = append(dst, `,"hostName":"`...)
		dst = appendJSONBody(dst, ev.HostName)
		dst = append(dst, '"')
	}
	if c := ev.Container; c != nil {
		dst = append(dst, `,"container":{"id":"`...)
		dst = appendJSONBody(dst, c.ID)
		dst = append(dst, `","runtime":"`...)
		dst = appendJSONBody(dst, c.Runtime)
		dst = append(dst, '"')
		if c.PidNS != 0 {
			dst = append(dst, `,"pidNs":`...)
			dst = strconv.AppendUint(dst, c.PidNS, 10)
		}
		if c.MntNS != 0 {
			dst = append(dst, `,"mntNs":`...)
			dst = strconv.AppendUint(dst, c.MntNS, 10)
		}
		dst = append(dst, '}')
	}
	if f := ev.File; f != nil {
		dst = appendJSONFile(dst, f)
	}
	if k&HasEventID != 0 {
		dst = append(dst, `,"eventId":"`...)
		dst = strconv.AppendInt(dst, int64(ev.EventID), 10)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"eventName":`...)
	dst = AppendJSONString(dst, ev.EventName)
	if ev.Syscall != "" {
		dst = append(dst, `,"syscall":"`...)
		dst = appendJSONBody(dst, ev.Syscall)
		dst = append(dst, '"')
	}
	if ev.Arch != "" {
		dst = append(dst, `,"arch":"`...)
		dst = appendJSONBody(dst, ev.Arch)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"argsNum":`...)
	dst = strconv.AppendInt(dst, int64(len(ev.Args)), 10)
	if k&HasReturn != 0 {
		dst = append(dst, `,"returnValue":`...)
		dst = strconv.AppendInt(dst, ev.ReturnValue, 10)
		if ev.ReturnPointer && !ev.IsError() {
			dst = append(dst, `,"returnAddress":"`...)
			dst = appendHex(dst, uint64(ev.ReturnValue))
			dst = append(dst, '"')
		}
	}
	if ev.Errno != "" {
		dst = append(dst, `,"errno":"`...)
		dst = appendJSONBody(dst, ev.Errno)
		dst = append(dst, '"')
	}
	if layout == ArgsObject {
		dst = appendJSONArgsObject(dst, ev.Args)
	} else {
		dst = append(dst, `,"args":[`...)
		for i := range ev.Args {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONArg(dst, &ev.Args[i])
		}
		dst = append(dst, ']')
	}
	if ev.Source != "" {
		dst = append(dst, `,"source":"`...)
		dst = appendJSONBody(dst, ev.Source)
		dst = append(dst, '"')
	}
	if k&HasDuration != 0 {
		dst = append(dst, `,"durationNs":`...)
		dst = strconv.AppendInt(dst, ev.DurationNs, 10)
	}
	return append(dst, '}', '\n')
}

// appendJSONFile appends the "file" block: path, device ("MAJOR:MINOR"),
// inode and from; only from when the file was gone.
func appendJSONFile(dst []byte, f *File) []byte {
	dst = append(dst, `,"file":{`...)
	if f.From != "gone" {
		dst = append(dst, `"path":`...)
		dst = AppendJSONString(dst, f.Path)
		dst = append(dst, `,"device":"`...)
		dst = strconv.AppendUint(dst, uint64(unixMajor(f.Dev)), 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(unixMinor(f.Dev)), 10)
		dst = append(dst, `","inode":`...)
		dst = strconv.AppendUint(dst, f.Inode, 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"from":"`...)
	dst = appendJSONBody(dst, f.From)
	return append(dst, `"}`...)
}

// unixMajor and unixMinor split a Linux dev_t (glibc's encoding).
func unixMajor(dev uint64) uint32 {
	return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff)
}

func unixMinor(dev uint64) uint32 {
	return uint32(dev&0xff) | uint32((dev>>12)&^0xff)
}

// ArgJSONHead is an argument's JSON up to its value:
// {"name":"NAME","type":"TYPE","value":
func ArgJSONHead(name, ctype string) string {
	return string(appendJSONHead(nil, name, ctype))
}

func appendJSONHead(dst []byte, name, ctype string) []byte {
	dst = append(dst, `{"name":"`...)
	dst = appendJSONBody(dst, name)
	dst = append(dst, `","type":"`...)
	dst = appendJSONBody(dst, ctype)
	return append(dst, `","value":`...)
}

func appendJSONArg(dst []byte, a *Arg) []byte {
	if a.JSONHead != "" {
		dst = append(dst, a.JSONHead...)
	} else {
		dst = appendJSONHead(dst, a.Name, a.Type)
	}
	dst = appendJSONValue(dst, a)
	if hasDecoded(a) {
		dst = append(dst, `,"decoded":"`...)
		dst = appendJSONDecoded(dst, a)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// appendJSONValue writes an argument's value: always a number that fits a
// signed 64-bit integer, or null. One JSON type per path is what indexes
// such as Elasticsearch need (they map a field by the first type they see
// and reject later documents of another), so a pointer is a number too
// (its "0x..." form is in decoded), an unsigned value of 2^63 or more is
// written as its two's complement (size_t -1 is -1; decoded keeps the
// exact form where there is one), and a string's text is in decoded with
// the value null.
func appendJSONValue(dst []byte, a *Arg) []byte {
	switch a.Kind {
	case ArgInt, ArgUint, ArgPointer:
		return strconv.AppendInt(dst, int64(a.Value), 10)
	}
	return append(dst, `null`...) // ArgNull, ArgString and anything unknown
}

// hasDecoded reports whether an argument has a text form: its decoder's,
// a pointer's hex, a string.
func hasDecoded(a *Arg) bool {
	switch a.Kind {
	case ArgString, ArgPointer:
		return true
	case ArgInt, ArgUint:
		return a.Decoder != nil
	}
	return false
}

// appendJSONDecoded writes an argument's text form, escaped, unquoted.
func appendJSONDecoded(dst []byte, a *Arg) []byte {
	switch {
	case a.Kind == ArgString:
		return appendJSONBody(dst, a.Str)
	case a.Decoder != nil:
		return appendDecoded(dst, a.Decoder, a.Value, appendJSONBody)
	}
	return appendHex(dst, a.Value) // a pointer
}

// appendJSONArgsObject writes the ArgsObject layout: "args" with every
// argument's value by name, then "argsDecoded" with the text forms, when
// any argument has one.
func appendJSONArgsObject(dst []byte, args []Arg) []byte {
	dst = append(dst, `,"args":{`...)
	decoded := false
	for i := range args {
		a := &args[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = appendJSONBody(dst, a.Name)
		dst = append(dst, '"', ':')
		dst = appendJSONValue(dst, a)
		decoded = decoded || hasDecoded(a)
	}
	dst = append(dst, '}')
	if !decoded {
		return dst
	}
	dst = append(dst, `,"argsDecoded":{`...)
	first := true
	for i := range args {
		a := &args[i]
		if !hasDecoded(a) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = appendJSONBody(dst, a.Name)
		dst = append(dst, `":"`...)
		dst = appendJSONDecoded(dst, a)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// appendDecoded lets d append in place (no copy) and, only in the
// unexpected case that its output is not plain printable ASCII, rewrites
// that output with escape (appendJSONBody or AppendEscaped).
func appendDecoded(dst []byte, d Decoder, v uint64, escape func([]byte, string) []byte) []byte {
	start := len(dst)
	out := d.AppendDecoded(dst, v)
	if len(out) < start {
		// A decoder that dropped bytes it did not own: keep ours.
		return dst
	}
	if jsonSafeBytes(out[start:]) {
		return out
	}
	n := len(out) - start
	// Escape the decoder's bytes after themselves, then move them down.
	// Reading them through an unsafe string is sound: escape only appends
	// past len(out), so it never writes over out[start:start+n], and if it
	// grows the buffer the old array stays alive and unchanged.
	out = escape(out, unsafe.String(&out[start], n))
	m := copy(out[start:], out[start+n:])
	return out[:start+m]
}
