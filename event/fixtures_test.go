package event

// Test events built by hand, so that these tests do not depend on package
// decode (written concurrently). flagDecoder stands in for its flag sets.

// flagDecoder: names joined by '|', unknown bits as |0x..., zero as zero.
type flagDecoder struct {
	zero  string
	names []string // names[i] is bit i; "" for none
}

func (d *flagDecoder) AppendDecoded(dst []byte, v uint64) []byte {
	if v == 0 {
		return append(dst, d.zero...)
	}
	first := true
	for i, n := range d.names {
		if n != "" && v&(1<<i) != 0 {
			if !first {
				dst = append(dst, '|')
			}
			dst = append(dst, n...)
			first = false
			v &^= 1 << i
		}
	}
	if v != 0 {
		if !first {
			dst = append(dst, '|')
		}
		dst = appendHex(dst, v)
	}
	return dst
}

// rawDecoder returns whatever it holds: a decoder that misbehaves.
type rawDecoder string

func (d rawDecoder) AppendDecoded(dst []byte, _ uint64) []byte { return append(dst, d...) }

var (
	protDec     = &flagDecoder{zero: "PROT_NONE", names: []string{"PROT_READ", "PROT_WRITE", "PROT_EXEC"}}
	mmapDec     = &flagDecoder{zero: "0", names: []string{"MAP_SHARED", "MAP_PRIVATE", "", "", "MAP_FIXED", "MAP_ANONYMOUS"}}
	msyncDec    = &flagDecoder{zero: "0", names: []string{"MS_ASYNC", "MS_INVALIDATE", "MS_SYNC"}}
	remapDec    = &flagDecoder{zero: "0", names: []string{"", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "MAP_NONBLOCK"}}
	badDecoder  = rawDecoder("A\"B\\C\nD\x00E\xffF\u2028G")
	perfKnown   = HasProcessor | HasProcess | HasThread | HasParent | HasUser | HasEventID | HasReturn | HasDuration
	auditKnown  = HasProcess | HasParent | HasUser | HasGroup | HasLoginUser | HasSession | HasEventID | HasReturn
	fixtureTime = int64(1795689548283123456) // 2026-11-26T10:39:08.283123456Z
)

func perfBase(ev *Event, nr int32, name string) {
	ev.Reset()
	ev.Known = perfKnown
	ev.Timestamp = fixtureTime
	ev.ProcessorID = 1
	ev.ProcessID = 6188
	ev.ThreadID = 6190
	ev.ParentProcessID = 6181
	ev.UserID = 1000
	ev.ProcessName = "python3"
	ev.ExecutablePath = "/usr/bin/python3.11"
	ev.HostName = "web01"
	ev.EventID = nr
	ev.EventName = name
	ev.Syscall = name
	ev.Arch = "x86_64"
	ev.Source = SourcePerf
	ev.DurationNs = 5120
}

func auditBase(ev *Event, nr int32, name string) {
	ev.Reset()
	ev.Known = auditKnown
	ev.Timestamp = 1795689548283000000 // audit has milliseconds
	ev.ProcessID = 7001
	ev.ParentProcessID = 6999
	ev.UserID = 0
	ev.GroupID = 0
	ev.LoginUserID = 1000
	ev.SessionID = 4294967295
	ev.ProcessName = "dbwriter"
	ev.ExecutablePath = "/opt/db/bin/dbwriter"
	ev.HostName = "db02"
	ev.EventID = nr
	ev.EventName = name
	ev.Syscall = name
	ev.Arch = "x86_64"
	ev.Source = SourceAudit
}

// fixtures are the golden events, in the order of the golden files.
var fixtures = []struct {
	name string
	fill func(*Event)
}{
	{"perf_msync", func(ev *Event) {
		perfBase(ev, 26, "msync")
		a := ev.SetArgs(3)
		a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0x7f6b0f98e000}
		a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 4096}
		a[2] = Arg{Name: "flags", Type: "int", Kind: ArgInt, Value: 4, Decoder: msyncDec}
	}},
	{"perf_mmap_file", func(ev *Event) {
		perfBase(ev, 9, "mmap")
		a := ev.SetArgs(6)
		a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0}
		a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 8192}
		a[2] = Arg{Name: "prot", Type: "int", Kind: ArgInt, Value: 3, Decoder: protDec}
		a[3] = Arg{Name: "flags", Type: "int", Kind: ArgInt, Value: 1, Decoder: mmapDec}
		a[4] = Arg{Name: "fd", Type: "int", Kind: ArgInt, Value: 3}
		a[5] = Arg{Name: "off", Type: "off_t", Kind: ArgInt, Value: 4096}
		ev.ReturnValue = 0x7f6b0f98c000
		ev.ReturnPointer = true
		ev.File = &File{Path: "/var/lib/app/state.db", Dev: 0xfe00, Inode: 131074, From: "map"}
	}},
	{"perf_mmap_enomem", func(ev *Event) {
		perfBase(ev, 9, "mmap")
		ev.DurationNs = 1_250_000_123
		a := ev.SetArgs(6)
		a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0}
		a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 1 << 46}
		a[2] = Arg{Name: "prot", Type: "int", Kind: ArgInt, Value: 0, Decoder: protDec}
		a[3] = Arg{Name: "flags", Type: "int", Kind: ArgInt, Value: 0x22, Decoder: mmapDec}
		a[4] = Arg{Name: "fd", Type: "int", Kind: ArgInt, Value: 0xffffffffffffffff}
		a[5] = Arg{Name: "off", Type: "off_t", Kind: ArgInt, Value: 0}
		ev.ReturnValue = -12
		ev.ReturnPointer = true
		ev.Errno = "ENOMEM"
	}},
	{"perf_mprotect_unknown_bits", func(ev *Event) {
		perfBase(ev, 10, "mprotect")
		a := ev.SetArgs(3)
		a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0x7f6b0f98e000}
		a[1] = Arg{Name: "len", Type: "size_t", Kind: ArgUint, Value: 4096}
		a[2] = Arg{Name: "prot", Type: "int", Kind: ArgInt, Value: 0x10005, Decoder: protDec}
		ev.ReturnValue = -22
		ev.Errno = "EINVAL"
	}},
	{"audit_mmap", func(ev *Event) {
		auditBase(ev, 9, "mmap")
		a := ev.SetArgs(6)
		a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0}
		a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 4096}
		a[2] = Arg{Name: "prot", Type: "int", Kind: ArgInt, Value: 7, Decoder: protDec}
		a[3] = Arg{Name: "flags", Type: "int", Kind: ArgInt, Value: 2, Decoder: mmapDec}
		a[4] = Arg{Name: "fd", Type: "int"}
		a[5] = Arg{Name: "off", Type: "off_t"}
		ev.ReturnValue = 0x7fd2c4a1f000
		ev.ReturnPointer = true
		ev.Container = &Container{ID: "3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f", Runtime: "docker", PidNS: 4026532201, MntNS: 4026532199}
		ev.File = &File{From: "gone"}
	}},
	{"audit_remap_file_pages", func(ev *Event) {
		auditBase(ev, 216, "remap_file_pages")
		a := ev.SetArgs(5)
		a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0x7fd2c4a1f000}
		a[1] = Arg{Name: "size", Type: "size_t", Kind: ArgUint, Value: 8192}
		a[2] = Arg{Name: "prot", Type: "int", Kind: ArgInt, Value: 0, Decoder: protDec}
		a[3] = Arg{Name: "pgoff", Type: "size_t", Kind: ArgUint, Value: 1}
		a[4] = Arg{Name: "flags", Type: "int", Decoder: remapDec}
		ev.ReturnValue = 0
	}},
	{"audit_i386_unfinished", func(ev *Event) {
		auditBase(ev, 144, "msync")
		ev.Known &^= HasReturn | HasParent
		ev.Arch = "i386"
		ev.ExecutablePath = ""
		ev.HostName = ""
		a := ev.SetArgs(3)
		a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0xf7f00000}
		a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 4096}
		a[2] = Arg{Name: "flags", Type: "int", Kind: ArgInt, Value: 0xffffffffffffffff, Decoder: msyncDec}
	}},
	{"hostile_strings", func(ev *Event) {
		perfBase(ev, 26, "msync")
		ev.ProcessName = "x\n{\"eventName\":\"forged\"}"
		ev.ExecutablePath = "/tmp/a\r\nb]\"c\\d\x00\x1b[31m\x7f\u2028\u2029\u202e\xff\xc3(e\u00e9"
		a := ev.SetArgs(3)
		a[0] = Arg{Name: "path", Type: "const char*", Kind: ArgString, Str: "\"]}\n\t\u0085\xfe"}
		a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 4096}
		a[2] = Arg{Name: "flags", Type: "int", Kind: ArgInt, Value: 4, Decoder: badDecoder}
	}},
	{"finding_msync_missing", func(ev *Event) {
		perfBase(ev, 0, "")
		ev.Known &^= HasEventID | HasReturn | HasDuration
		ev.EventName, ev.Syscall = "msync_missing", ""
		a := ev.SetArgs(4)
		a[0] = Arg{Name: "addr", Type: "void*", Kind: ArgPointer, Value: 0x7f6b0f98c000}
		a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 8192}
		a[2] = Arg{Name: "evidence", Type: "string", Kind: ArgString, Str: "mmap(len=8192, prot=rw-, shared) = 0x7f6b0f98c000 at 1; munmap(0x7f6b0f98c000, 8192) at 2"}
		a[3] = Arg{Name: "explanation", Type: "string", Kind: ArgString, Str: "a shared writable file mapping went away with no msync"}
		ev.File = &File{Path: "/var/lib/app/state.db", Dev: 0xfe00, Inode: 131074, From: "map"}
	}},
	{"lost_perf", func(ev *Event) {
		NewLost(ev, fixtureTime, SourcePerf, 1, 42, "ring")
		ev.HostName = "web01"
	}},
	{"lost_audit", func(ev *Event) {
		NewLost(ev, fixtureTime, SourceAudit, -1, 1, "backlog")
	}},
	{"stats", func(ev *Event) {
		NewStats(ev, fixtureTime, []Counter{
			{Source: "perf", Name: "received", Value: 1200},
			{Source: "perf", Name: "emitted", Value: 1158},
			{Source: "perf", Name: "lost_ring", Value: 42},
			{Source: "output:json:/var/log/auperf.json", Name: "dropped", Value: 0},
		})
		ev.HostName = "web01"
	}},
}
