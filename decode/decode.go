package decode

import "github.com/auperf/auperf/event"

// Raw is what a source knows of one syscall.
type Raw struct {
	Arch   Arch
	Nr     int32
	Args   [6]uint64 // raw words as the kernel reported them
	Known  uint8     // bit i set: Args[i] is known; an unknown arg is written "value": null
	Ret    int64     // raw kernel return (negative errno on failure)
	HasRet bool      // false: no return known (do not invent one)
}

// entry is what Decode needs for one (arch, number): the table name and,
// for the memory family, the arch's spec.
type entry struct {
	name string
	spec *SyscallSpec
}

// entries holds, per arch, an entry per syscall number, built once so that
// Decode is a slice index.
var entries = func() [archCount][]entry {
	var e [archCount][]entry
	for a := Arch(1); a < archCount; a++ {
		t := syscallNames(a)
		e[a] = make([]entry, len(t))
		for nr, name := range t {
			if name == "" {
				continue
			}
			e[a][nr] = entry{name: name, spec: archSpec(a, name)}
		}
	}
	return e
}()

// genericArgNames are the names of arguments nobody named.
var genericArgNames = [6]string{"arg0", "arg1", "arg2", "arg3", "arg4", "arg5"}

// genericArgType is the C type of an argument of a syscall without a spec:
// the raw register word.
const genericArgType = "unsigned long"

// Decode fills ev's syscall part from r: EventID (+HasEventID), EventName
// and Syscall (table name, "syscall_<nr>" if unknown), Arch, Args (names, C
// types, kinds, value truncated/sign-extended by C type, Decoder),
// ReturnValue, ReturnPointer (mmap/mremap/mmap2 success), Errno (+HasReturn
// if r.HasRet). It touches nothing else (process fields, timestamp, source
// are the caller's).
//
// names: argument names for a syscall that has no spec (perf passes the
// tracefs format's field names); nil => arg0..argN-1 where N is 1+the
// highest known arg bit (or len(names)). Decode does not allocate for
// syscalls with a spec.
func Decode(ev *event.Event, r *Raw, names []string) {
	ev.Known |= event.HasEventID
	ev.EventID = r.Nr
	ev.Arch = r.Arch.String()

	var e entry
	if r.Arch < archCount {
		if t := entries[r.Arch]; r.Nr >= 0 && int(r.Nr) < len(t) {
			e = t[r.Nr]
		}
	}
	if e.name == "" {
		e.name = unknownName(r.Nr)
	}
	ev.EventName = e.name
	ev.Syscall = e.name

	if e.spec != nil {
		decodeSpec(ev, r, e.spec)
	} else {
		decodeGeneric(ev, r, names)
	}

	ev.ReturnValue, ev.ReturnPointer, ev.Errno = 0, false, ""
	if !r.HasRet {
		ev.Known &^= event.HasReturn
		return
	}
	ev.Known |= event.HasReturn
	ret := r.Ret
	if r.Arch.wordBits() == 32 {
		// A 32-bit return may arrive zero- or sign-extended; errors are
		// the top 4095 values of the 32-bit word either way.
		if s := int64(int32(ret)); s < 0 && s >= -maxErrno {
			ret = s
		} else {
			ret = int64(uint32(ret))
		}
	}
	ev.ReturnValue = ret
	if ret < 0 && ret >= -maxErrno {
		ev.Errno = ErrnoName(int(-ret))
		return
	}
	ev.ReturnPointer = e.spec != nil && e.spec.RetPointer
}

func decodeSpec(ev *event.Event, r *Raw, s *SyscallSpec) {
	args := ev.SetArgs(len(s.Args))
	for i := range s.Args {
		as := &s.Args[i]
		a := &args[i]
		a.Name, a.Type, a.JSONHead = as.Name, as.Type, as.jsonHead
		if i >= len(r.Args) || r.Known&(1<<uint(i)) == 0 {
			a.Kind = event.ArgNull
			continue
		}
		a.Kind = as.Kind
		a.Decoder = as.Decoder
		if as.Kind == event.ArgInt {
			a.Value = signExtend(r.Args[i], as.Bits)
		} else {
			a.Value = truncate(r.Args[i], as.Bits)
		}
	}
}

func decodeGeneric(ev *event.Event, r *Raw, names []string) {
	n := len(names)
	if names == nil {
		for i := len(r.Args) - 1; i >= 0; i-- {
			if r.Known&(1<<uint(i)) != 0 {
				n = i + 1
				break
			}
		}
	}
	args := ev.SetArgs(n)
	bits := r.Arch.wordBits()
	for i := range args {
		a := &args[i]
		if names != nil {
			a.Name = names[i]
		} else {
			a.Name = genericArgNames[i]
		}
		a.Type = genericArgType
		if i >= len(r.Args) || r.Known&(1<<uint(i)) == 0 {
			a.Kind = event.ArgNull
			continue
		}
		a.Kind = event.ArgUint
		a.Value = truncate(r.Args[i], bits)
	}
}
