package decode

import (
	"fmt"
	"strings"
	"testing"

	"github.com/auperf/auperf/event"
)

// wantArg is an argument as a consumer sees it: name, C type, kind, value
// and the decoded string ("" when there is no decoder).
type wantArg struct {
	name, ctype string
	kind        event.ArgKind
	value       uint64
	decoded     string
}

func (w wantArg) String() string {
	return fmt.Sprintf("%s %s kind=%d value=%#x decoded=%q", w.ctype, w.name, w.kind, w.value, w.decoded)
}

func gotArgs(ev *event.Event) []wantArg {
	out := make([]wantArg, len(ev.Args))
	for i, a := range ev.Args {
		out[i] = wantArg{name: a.Name, ctype: a.Type, kind: a.Kind, value: a.Value}
		if a.Decoder != nil {
			out[i].decoded = string(a.Decoder.AppendDecoded(nil, a.Value))
		}
	}
	return out
}

func ptr(name, ctype string, v uint64) wantArg { return wantArg{name, ctype, event.ArgPointer, v, ""} }
func uns(name, ctype string, v uint64) wantArg { return wantArg{name, ctype, event.ArgUint, v, ""} }
func sint(name string, v int64) wantArg        { return wantArg{name, "int", event.ArgInt, uint64(v), ""} }
func flg(name string, v int64, dec string) wantArg {
	return wantArg{name, "int", event.ArgInt, uint64(v), dec}
}
func null(name, ctype string) wantArg { return wantArg{name, ctype, event.ArgNull, 0, ""} }

const all6 = 0x3f

func TestDecodeSpecs(t *testing.T) {
	const addr = 0x7f6b0f98e000
	for _, c := range []struct {
		what   string
		raw    Raw
		name   string
		args   []wantArg
		ret    int64
		retPtr bool
		errno  string
		noRet  bool
	}{
		{
			what: "msync x86_64",
			raw:  Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{addr, 4096, 4}, Known: all6, HasRet: true},
			name: "msync",
			args: []wantArg{ptr("addr", "void*", addr), uns("length", "size_t", 4096), flg("flags", 4, "MS_SYNC")},
		},
		{
			what: "msync flags -1 (0xffffffff sign-extended), ENOMEM",
			raw:  Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{addr, 4096, 0xffffffff}, Known: 7, Ret: -12, HasRet: true},
			name: "msync",
			args: []wantArg{ptr("addr", "void*", addr), uns("length", "size_t", 4096),
				flg("flags", -1, "MS_SYNC|MS_ASYNC|MS_INVALIDATE|0xfffffff8")},
			ret: -12, errno: "ENOMEM",
		},
		{
			what: "mmap anonymous, address returned",
			raw: Raw{Arch: ArchX86_64, Nr: 9, Args: [6]uint64{0, 8192, 3, 0x22, 0xffffffff, 0},
				Known: all6, Ret: 0x7f6b0f98e000, HasRet: true},
			name: "mmap",
			args: []wantArg{ptr("addr", "void*", 0), uns("length", "size_t", 8192),
				flg("prot", 3, "PROT_READ|PROT_WRITE"), flg("flags", 0x22, "MAP_PRIVATE|MAP_ANONYMOUS"),
				sint("fd", -1), wantArg{"off", "off_t", event.ArgInt, 0, ""}},
			ret: 0x7f6b0f98e000, retPtr: true,
		},
		{
			what: "mmap failing with EBADF, audit-like (a0..a3 only)",
			raw: Raw{Arch: ArchX86_64, Nr: 9, Args: [6]uint64{addr, 4096, 1, 1, 99, 4096},
				Known: 0x0f, Ret: -9, HasRet: true},
			name: "mmap",
			args: []wantArg{ptr("addr", "void*", addr), uns("length", "size_t", 4096),
				flg("prot", 1, "PROT_READ"), flg("flags", 1, "MAP_SHARED"), null("fd", "int"), null("off", "off_t")},
			ret: -9, errno: "EBADF",
		},
		{
			what: "mmap negative off_t",
			raw:  Raw{Arch: ArchX86_64, Nr: 9, Args: [6]uint64{0, 1, 0, 2, 3, 1<<64 - 4096}, Known: all6, Ret: -22, HasRet: true},
			name: "mmap",
			args: []wantArg{ptr("addr", "void*", 0), uns("length", "size_t", 1), flg("prot", 0, "PROT_NONE"),
				flg("flags", 2, "MAP_PRIVATE"), sint("fd", 3), wantArg{"off", "off_t", event.ArgInt, uint64(1<<64 - 4096), ""}},
			ret: -22, errno: "EINVAL",
		},
		{
			what: "munmap",
			raw:  Raw{Arch: ArchX86_64, Nr: 11, Args: [6]uint64{addr, 4096}, Known: all6, HasRet: true},
			name: "munmap",
			args: []wantArg{ptr("addr", "void*", addr), uns("length", "size_t", 4096)},
		},
		{
			what: "mprotect",
			raw:  Raw{Arch: ArchX86_64, Nr: 10, Args: [6]uint64{addr, 4096, 5}, Known: all6, HasRet: true},
			name: "mprotect",
			args: []wantArg{ptr("addr", "void*", addr), uns("len", "size_t", 4096), flg("prot", 5, "PROT_READ|PROT_EXEC")},
		},
		{
			what: "pkey_mprotect",
			raw:  Raw{Arch: ArchX86_64, Nr: 329, Args: [6]uint64{addr, 4096, 1, 0xffffffff}, Known: all6, Ret: -22, HasRet: true},
			name: "pkey_mprotect",
			args: []wantArg{ptr("addr", "void*", addr), uns("len", "size_t", 4096), flg("prot", 1, "PROT_READ"), sint("pkey", -1)},
			ret:  -22, errno: "EINVAL",
		},
		{
			what: "mremap moving",
			raw: Raw{Arch: ArchX86_64, Nr: 25, Args: [6]uint64{addr, 4096, 8192, 3, 0x7f0000000000},
				Known: all6, Ret: 0x7f0000000000, HasRet: true},
			name: "mremap",
			args: []wantArg{ptr("old_address", "void*", addr), uns("old_size", "size_t", 4096), uns("new_size", "size_t", 8192),
				flg("flags", 3, "MREMAP_MAYMOVE|MREMAP_FIXED"), ptr("new_address", "void*", 0x7f0000000000)},
			ret: 0x7f0000000000, retPtr: true,
		},
		{
			what: "mlock",
			raw:  Raw{Arch: ArchX86_64, Nr: 149, Args: [6]uint64{addr, 4096}, Known: all6, Ret: -1, HasRet: true},
			name: "mlock",
			args: []wantArg{ptr("addr", "void*", addr), uns("len", "size_t", 4096)},
			ret:  -1, errno: "EPERM",
		},
		{
			what: "mlock2",
			raw:  Raw{Arch: ArchX86_64, Nr: 325, Args: [6]uint64{addr, 4096, 1}, Known: all6, HasRet: true},
			name: "mlock2",
			args: []wantArg{ptr("addr", "void*", addr), uns("len", "size_t", 4096), flg("flags", 1, "MLOCK_ONFAULT")},
		},
		{
			what: "mlock2 flags 0",
			raw:  Raw{Arch: ArchX86_64, Nr: 325, Args: [6]uint64{addr, 4096, 0}, Known: all6, HasRet: true},
			name: "mlock2",
			args: []wantArg{ptr("addr", "void*", addr), uns("len", "size_t", 4096), flg("flags", 0, "0")},
		},
		{
			what: "mlockall",
			raw:  Raw{Arch: ArchX86_64, Nr: 151, Args: [6]uint64{3}, Known: all6, HasRet: true},
			name: "mlockall",
			args: []wantArg{flg("flags", 3, "MCL_CURRENT|MCL_FUTURE")},
		},
		{
			what: "munlock",
			raw:  Raw{Arch: ArchX86_64, Nr: 150, Args: [6]uint64{addr, 4096}, Known: all6, HasRet: true},
			name: "munlock",
			args: []wantArg{ptr("addr", "void*", addr), uns("len", "size_t", 4096)},
		},
		{
			what: "munlockall",
			raw:  Raw{Arch: ArchX86_64, Nr: 152, Known: all6, HasRet: true},
			name: "munlockall",
			args: []wantArg{},
		},
		{
			what: "remap_file_pages, audit-like",
			raw:  Raw{Arch: ArchX86_64, Nr: 216, Args: [6]uint64{addr, 8192, 0, 1, 0}, Known: 0x0f, HasRet: true},
			name: "remap_file_pages",
			args: []wantArg{ptr("addr", "void*", addr), uns("size", "size_t", 8192), flg("prot", 0, "PROT_NONE"),
				uns("pgoff", "size_t", 1), null("flags", "int")},
		},
		{
			what: "remap_file_pages, flags decoded as strace does (mmap flags)",
			raw:  Raw{Arch: ArchX86_64, Nr: 216, Args: [6]uint64{addr, 8192, 0, 1, 0x10000}, Known: all6, Ret: -22, HasRet: true},
			name: "remap_file_pages",
			args: []wantArg{ptr("addr", "void*", addr), uns("size", "size_t", 8192), flg("prot", 0, "PROT_NONE"),
				uns("pgoff", "size_t", 1), flg("flags", 0x10000, "0|MAP_NONBLOCK")},
			ret: -22, errno: "EINVAL",
		},
		{
			what: "madvise",
			raw:  Raw{Arch: ArchX86_64, Nr: 28, Args: [6]uint64{addr, 4096, 4}, Known: all6, HasRet: true},
			name: "madvise",
			args: []wantArg{ptr("addr", "void*", addr), uns("length", "size_t", 4096), flg("advice", 4, "MADV_DONTNEED")},
		},
		{
			what: "mincore",
			raw:  Raw{Arch: ArchX86_64, Nr: 27, Args: [6]uint64{addr, 4096, 0xc000010000}, Known: all6, Ret: -14, HasRet: true},
			name: "mincore",
			args: []wantArg{ptr("addr", "void*", addr), uns("length", "size_t", 4096), ptr("vec", "unsigned char*", 0xc000010000)},
			ret:  -14, errno: "EFAULT",
		},
		{
			what:  "msync enter only (no return known)",
			raw:   Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{addr, 4096, 1}, Known: all6},
			name:  "msync",
			args:  []wantArg{ptr("addr", "void*", addr), uns("length", "size_t", 4096), flg("flags", 1, "MS_ASYNC")},
			noRet: true,
		},
		// i386: words are 32 bits
		{
			what: "i386 mmap2",
			raw: Raw{Arch: ArchI386, Nr: 192, Args: [6]uint64{0, 4096, 3, 0x22, 0xffffffff, 0},
				Known: all6, Ret: 0xf7f00000, HasRet: true},
			name: "mmap2",
			args: []wantArg{ptr("addr", "void*", 0), uns("length", "size_t", 4096),
				flg("prot", 3, "PROT_READ|PROT_WRITE"), flg("flags", 0x22, "MAP_PRIVATE|MAP_ANONYMOUS"),
				sint("fd", -1), uns("pgoffset", "unsigned long", 0)},
			ret: 0xf7f00000, retPtr: true,
		},
		{
			what: "i386 mmap2 return sign-extended by the source, still an address",
			raw:  Raw{Arch: ArchI386, Nr: 192, Args: [6]uint64{0, 4096, 3, 0x22, 0xffffffff, 0}, Known: all6, Ret: int64(int32(-134217728)), HasRet: true},
			name: "mmap2",
			args: []wantArg{ptr("addr", "void*", 0), uns("length", "size_t", 4096),
				flg("prot", 3, "PROT_READ|PROT_WRITE"), flg("flags", 0x22, "MAP_PRIVATE|MAP_ANONYMOUS"),
				sint("fd", -1), uns("pgoffset", "unsigned long", 0)},
			ret: 0xf8000000, retPtr: true,
		},
		{
			what: "i386 msync, upper bits dropped, error as a 32-bit word",
			raw:  Raw{Arch: ArchI386, Nr: 144, Args: [6]uint64{0xdeadbeef_f7f00000, 0x1_00001000, 0xffffffff}, Known: all6, Ret: 0xfffffff4, HasRet: true},
			name: "msync",
			args: []wantArg{ptr("addr", "void*", 0xf7f00000), uns("length", "size_t", 0x1000),
				flg("flags", -1, "MS_SYNC|MS_ASYNC|MS_INVALIDATE|0xfffffff8")},
			ret: -12, errno: "ENOMEM",
		},
		// arm EABI (arm64's compat processes): 32-bit words, mmap2 only
		{
			what: "arm mmap2 of a file, MAP_ flags of asm-generic",
			raw: Raw{Arch: ArchARM, Nr: 192, Args: [6]uint64{0, 0x100000, 3, 0x4001, 5, 2},
				Known: all6, Ret: 0xb6d00000, HasRet: true},
			name: "mmap2",
			args: []wantArg{ptr("addr", "void*", 0), uns("length", "size_t", 0x100000),
				flg("prot", 3, "PROT_READ|PROT_WRITE"), flg("flags", 0x4001, "MAP_SHARED|MAP_NORESERVE"),
				sint("fd", 5), uns("pgoffset", "unsigned long", 2)},
			ret: 0xb6d00000, retPtr: true,
		},
		{
			what: "arm mlock2 (390), error as a 32-bit word",
			raw:  Raw{Arch: ArchARM, Nr: 390, Args: [6]uint64{0x1_b6d00000, 0x1000, 1}, Known: all6, Ret: 0xffffffea, HasRet: true},
			name: "mlock2",
			args: []wantArg{ptr("addr", "void*", 0xb6d00000), uns("len", "size_t", 0x1000), flg("flags", 1, "MLOCK_ONFAULT")},
			ret:  -22, errno: "EINVAL",
		},
		{
			what: "i386 old mmap (90): one pointer",
			raw:  Raw{Arch: ArchI386, Nr: 90, Args: [6]uint64{0xffd0c000}, Known: all6, Ret: 0xf7f00000, HasRet: true},
			name: "mmap",
			args: []wantArg{ptr("arg", "struct mmap_arg_struct*", 0xffd0c000)},
			ret:  0xf7f00000, retPtr: true,
		},
		{
			what: "i386 mlock2",
			raw:  Raw{Arch: ArchI386, Nr: 376, Args: [6]uint64{0x8000000, 4096, 1}, Known: all6, HasRet: true},
			name: "mlock2",
			args: []wantArg{ptr("addr", "void*", 0x8000000), uns("len", "size_t", 4096), flg("flags", 1, "MLOCK_ONFAULT")},
		},
		{
			what: "i386 munmap, mprotect",
			raw:  Raw{Arch: ArchI386, Nr: 91, Args: [6]uint64{0x8000000, 4096}, Known: all6, HasRet: true},
			name: "munmap",
			args: []wantArg{ptr("addr", "void*", 0x8000000), uns("length", "size_t", 4096)},
		},
		// arm64 decoders differ for prot and mmap flags
		{
			what: "arm64 mmap",
			raw:  Raw{Arch: ArchARM64, Nr: 222, Args: [6]uint64{0, 4096, 0x11, 0x42, 0xffffffff, 0}, Known: all6, Ret: 0xffff80000000, HasRet: true},
			name: "mmap",
			args: []wantArg{ptr("addr", "void*", 0), uns("length", "size_t", 4096), flg("prot", 0x11, "PROT_READ|PROT_BTI"),
				flg("flags", 0x42, "MAP_PRIVATE|0x40"), sint("fd", -1), wantArg{"off", "off_t", event.ArgInt, 0, ""}},
			ret: 0xffff80000000, retPtr: true,
		},
	} {
		t.Run(c.what, func(t *testing.T) {
			var ev event.Event
			ev.ProcessID = 42
			ev.Known = event.HasProcess
			Decode(&ev, &c.raw, nil)
			if ev.EventName != c.name || ev.Syscall != c.name {
				t.Errorf("name %q/%q, want %q", ev.EventName, ev.Syscall, c.name)
			}
			if ev.EventID != c.raw.Nr || ev.Known&event.HasEventID == 0 {
				t.Errorf("eventId %d (known %v), want %d", ev.EventID, ev.Known&event.HasEventID != 0, c.raw.Nr)
			}
			if ev.Arch != c.raw.Arch.String() {
				t.Errorf("arch %q", ev.Arch)
			}
			if ev.ProcessID != 42 || ev.Known&event.HasProcess == 0 {
				t.Error("Decode touched process fields")
			}
			got := gotArgs(&ev)
			if len(got) != len(c.args) {
				t.Fatalf("args %v, want %v", got, c.args)
			}
			for i := range got {
				if got[i] != c.args[i] {
					t.Errorf("arg %d: %v, want %v", i, got[i], c.args[i])
				}
			}
			if c.noRet {
				if ev.Known&event.HasReturn != 0 || ev.ReturnValue != 0 || ev.Errno != "" || ev.ReturnPointer {
					t.Errorf("return invented: %d %q", ev.ReturnValue, ev.Errno)
				}
				return
			}
			if ev.Known&event.HasReturn == 0 || ev.ReturnValue != c.ret || ev.ReturnPointer != c.retPtr || ev.Errno != c.errno {
				t.Errorf("return %#x ptr=%v errno=%q, want %#x ptr=%v errno=%q",
					ev.ReturnValue, ev.ReturnPointer, ev.Errno, c.ret, c.retPtr, c.errno)
			}
		})
	}
}

func TestDecodeSignExtension(t *testing.T) {
	var ev event.Event
	// flags of 0xffffffff is -1; upper garbage in an int is dropped.
	for _, raw := range []uint64{0xffffffff, 0xffffffffffffffff, 0x12345678ffffffff} {
		Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{0, 0, raw}, Known: 7}, nil)
		if int64(ev.Args[2].Value) != -1 || ev.Args[2].Kind != event.ArgInt {
			t.Errorf("flags %#x decoded to %d", raw, int64(ev.Args[2].Value))
		}
	}
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{0, 0, 0x1_00000004}, Known: 7}, nil)
	if ev.Args[2].Value != 4 {
		t.Errorf("flags 0x100000004 -> %#x, want 4", ev.Args[2].Value)
	}
	// size_t is not sign-extended
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{0, 0xffffffff, 0}, Known: 7}, nil)
	if ev.Args[1].Value != 0xffffffff || ev.Args[1].Kind != event.ArgUint {
		t.Errorf("length 0xffffffff -> %#x", ev.Args[1].Value)
	}
}

func TestDecodeGeneric(t *testing.T) {
	var ev event.Event
	// read(2) has no spec: names from the tracefs format
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 0, Args: [6]uint64{3, 0xc000100000, 4096}, Known: 7, Ret: 4096, HasRet: true},
		[]string{"fd", "buf", "count"})
	if ev.EventName != "read" || len(ev.Args) != 3 || ev.Args[0].Name != "fd" || ev.Args[2].Name != "count" {
		t.Fatalf("read: %+v", ev.Args)
	}
	for _, a := range ev.Args {
		if a.Kind != event.ArgUint || a.Decoder != nil || a.Type != genericArgType {
			t.Errorf("generic arg %+v", a)
		}
	}
	if ev.ReturnValue != 4096 || ev.ReturnPointer || ev.Errno != "" {
		t.Errorf("read return %d %v %q", ev.ReturnValue, ev.ReturnPointer, ev.Errno)
	}

	// no names: arg0..argN-1, N = 1 + highest known bit
	ev.Reset()
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 257, Args: [6]uint64{0xffffff9c, 0x1000, 0, 0xdead}, Known: 0b1011, Ret: -2, HasRet: true}, nil)
	if ev.EventName != "openat" || len(ev.Args) != 4 {
		t.Fatalf("openat: %q %d args", ev.EventName, len(ev.Args))
	}
	want := []wantArg{
		uns("arg0", genericArgType, 0xffffff9c), uns("arg1", genericArgType, 0x1000),
		null("arg2", genericArgType), uns("arg3", genericArgType, 0xdead),
	}
	for i, g := range gotArgs(&ev) {
		if g != want[i] {
			t.Errorf("arg %d: %v, want %v", i, g, want[i])
		}
	}
	if ev.Errno != "ENOENT" || ev.ReturnValue != -2 {
		t.Errorf("openat return %d %q", ev.ReturnValue, ev.Errno)
	}

	// unknown number
	ev.Reset()
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 999, Known: 1, Args: [6]uint64{7}, Ret: -38, HasRet: true}, nil)
	if ev.EventName != "syscall_999" || ev.Syscall != "syscall_999" || ev.EventID != 999 || ev.Errno != "ENOSYS" || len(ev.Args) != 1 {
		t.Errorf("unknown: %q %q %d %q %d", ev.EventName, ev.Syscall, ev.EventID, ev.Errno, len(ev.Args))
	}
	ev.Reset()
	Decode(&ev, &Raw{Arch: ArchUnknown, Nr: 26}, nil)
	if ev.EventName != "syscall_26" || ev.Arch != "unknown" || len(ev.Args) != 0 {
		t.Errorf("unknown arch: %q %q", ev.EventName, ev.Arch)
	}
	// a generic i386 word is 32 bits
	ev.Reset()
	Decode(&ev, &Raw{Arch: ArchI386, Nr: 3, Args: [6]uint64{0xffffffff_00000003}, Known: 1}, nil)
	if ev.EventName != "read" || ev.Args[0].Value != 3 {
		t.Errorf("i386 read: %q %#x", ev.EventName, ev.Args[0].Value)
	}
	// a return beyond the errno range is a value, not an error
	ev.Reset()
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 8, Ret: -4096, HasRet: true}, nil)
	if ev.Errno != "" || ev.ReturnValue != -4096 {
		t.Errorf("lseek -4096: %q", ev.Errno)
	}
	// ERESTARTSYS is seen before the kernel restarts the call
	ev.Reset()
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 26, Known: 7, Ret: -512, HasRet: true}, nil)
	if ev.Errno != "ERESTARTSYS" {
		t.Errorf("-512: %q", ev.Errno)
	}
}

func TestDecodeReusesEvent(t *testing.T) {
	var ev event.Event
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 9, Args: [6]uint64{0, 1, 3, 0x22, 0, 0}, Known: all6, Ret: 0x7f0000000000, HasRet: true}, nil)
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{0, 1, 4}, Known: 7, Ret: -12, HasRet: true}, nil)
	if ev.ReturnPointer || len(ev.Args) != 3 || ev.Errno != "ENOMEM" {
		t.Errorf("stale fields after reuse: %+v", ev)
	}
	Decode(&ev, &Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{0, 1, 4}, Known: 7}, nil)
	if ev.Known&event.HasReturn != 0 || ev.Errno != "" || ev.ReturnValue != 0 {
		t.Errorf("return kept from a previous event: %+v", ev)
	}
}

func TestDecodeNoAlloc(t *testing.T) {
	var ev event.Event
	var buf []byte
	for _, r := range []Raw{
		{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{0x7f0000001000, 4096, 4}, Known: 7, Ret: -12, HasRet: true},
		{Arch: ArchX86_64, Nr: 9, Args: [6]uint64{0, 4096, 3, 0x22 | 0x40000 | 21<<26, 0xffffffff, 0}, Known: all6, Ret: 0x7f0000001000, HasRet: true},
		{Arch: ArchI386, Nr: 192, Args: [6]uint64{0, 4096, 3, 0x22, 0xffffffff, 0}, Known: all6, Ret: 0xf7f00000, HasRet: true},
	} {
		r := r
		n := testing.AllocsPerRun(100, func() {
			Decode(&ev, &r, nil)
			buf = buf[:0]
			for _, a := range ev.Args {
				if a.Decoder != nil {
					buf = a.Decoder.AppendDecoded(buf, a.Value)
				}
			}
		})
		if n != 0 {
			t.Errorf("Decode of syscall %d allocates %.1f times", r.Nr, n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint8(ArchX86_64), int32(26), uint64(0x7f0000001000), uint64(4096), uint64(4), uint64(0), uint64(0), uint64(0), uint8(7), int64(-12), true)
	f.Add(uint8(ArchX86_64), int32(9), uint64(0), uint64(4096), uint64(3), uint64(0x22|21<<26), uint64(0xffffffff), uint64(0), uint8(0x3f), int64(0x7f0000001000), true)
	f.Add(uint8(ArchI386), int32(192), uint64(0), uint64(1), uint64(0xffffffff), uint64(0xffffffff), uint64(0), uint64(0), uint8(0xff), int64(-4095), true)
	f.Add(uint8(ArchARM64), int32(233), uint64(0), uint64(1), uint64(103), uint64(0), uint64(0), uint64(0), uint8(7), int64(0), false)
	f.Add(uint8(9), int32(-1), uint64(1), uint64(2), uint64(3), uint64(4), uint64(5), uint64(6), uint8(0x80), int64(-1<<63), true)
	f.Fuzz(func(t *testing.T, arch uint8, nr int32, a0, a1, a2, a3, a4, a5 uint64, known uint8, ret int64, hasRet bool) {
		r := Raw{Arch: Arch(arch), Nr: nr, Args: [6]uint64{a0, a1, a2, a3, a4, a5}, Known: known, Ret: ret, HasRet: hasRet}
		var ev event.Event
		Decode(&ev, &r, nil)
		if ev.EventName == "" || ev.EventName != ev.Syscall {
			t.Fatalf("name %q/%q", ev.EventName, ev.Syscall)
		}
		var buf []byte
		for i, a := range ev.Args {
			if a.Name == "" {
				t.Fatalf("arg %d has no name", i)
			}
			if a.Kind == event.ArgNull && a.Decoder != nil {
				t.Fatalf("null arg %d with a decoder", i)
			}
			if a.Decoder != nil {
				buf = a.Decoder.AppendDecoded(buf[:0], a.Value)
				if len(buf) == 0 || strings.ContainsAny(string(buf), " \n\"") {
					t.Fatalf("arg %d decoded to %q", i, buf)
				}
			}
		}
		if ev.Errno != "" && (ev.ReturnValue >= 0 || ev.ReturnValue < -maxErrno) {
			t.Fatalf("errno %q for return %d", ev.Errno, ev.ReturnValue)
		}
		if ev.ReturnPointer && ev.ReturnValue < 0 && ev.ReturnValue >= -maxErrno {
			t.Fatalf("error return %d written as a pointer", ev.ReturnValue)
		}
		// names given: as many args as names
		Decode(&ev, &r, []string{"a", "b"})
		if _, ok := Spec(ev.EventName); !ok && len(ev.Args) != 2 {
			t.Fatalf("%d args for 2 names", len(ev.Args))
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		raw  Raw
	}{
		{"msync", Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{0x7f0000001000, 4096, 4}, Known: 7, HasRet: true}},
		{"mmap", Raw{Arch: ArchX86_64, Nr: 9, Args: [6]uint64{0, 4096, 3, 0x22, 0xffffffff, 0}, Known: all6, Ret: 0x7f0000001000, HasRet: true}},
		{"generic", Raw{Arch: ArchX86_64, Nr: 0, Args: [6]uint64{3, 0xc000100000, 4096}, Known: 7, Ret: 4096, HasRet: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ev event.Event
			b.ReportAllocs()
			for b.Loop() {
				Decode(&ev, &c.raw, nil)
			}
		})
	}
	b.Run("mmap+decoders", func(b *testing.B) {
		var ev event.Event
		r := Raw{Arch: ArchX86_64, Nr: 9, Args: [6]uint64{0, 4096, 3, 0x22, 0xffffffff, 0}, Known: all6, Ret: 0x7f0000001000, HasRet: true}
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			Decode(&ev, &r, nil)
			buf = buf[:0]
			for _, a := range ev.Args {
				if a.Decoder != nil {
					buf = a.Decoder.AppendDecoded(buf, a.Value)
				}
			}
		}
	})
}

// TestJSONHead: an event decoded with a spec carries each argument's
// JSON head, made once, and encodes to the same bytes as with the heads
// cleared (the encoder escaping name and type itself), for every spec,
// i386's old mmap included.
func TestJSONHead(t *testing.T) {
	cases := []struct {
		arch Arch
		name string
	}{{ArchI386, "mmap"}}
	for _, n := range DefaultEvents {
		cases = append(cases, struct {
			arch Arch
			name string
		}{ArchX86_64, n})
	}
	checked := 0
	for _, c := range cases {
		nr, ok := SyscallNumber(c.arch, c.name)
		if !ok {
			t.Fatalf("%s: no %s", c.arch, c.name)
		}
		var ev event.Event
		Decode(&ev, &Raw{Arch: c.arch, Nr: int32(nr), Known: 0x3f, Args: [6]uint64{1, 2, 3, 4, 5, 6}, HasRet: true}, nil)
		if len(ev.Args) == 0 {
			continue // munlockall
		}
		checked++
		for i, a := range ev.Args {
			if a.JSONHead == "" {
				t.Errorf("%s %s arg %d: no JSON head", c.arch, c.name, i)
			}
		}
		with := string(event.AppendJSON(nil, &ev))
		for i := range ev.Args {
			ev.Args[i].JSONHead = ""
		}
		if without := string(event.AppendJSON(nil, &ev)); with != without {
			t.Errorf("%s %s: with heads\n%s\nwithout\n%s", c.arch, c.name, with, without)
		}
	}
	if checked < len(cases)-1 {
		t.Errorf("%d of %d syscalls had arguments to check", checked, len(cases))
	}
}

// TestARMCompat: the 32-bit arm ABI of arm64's compat processes: its audit
// arch, its table (EABI: no mmap, mmap2 instead) and its b32 rule names.
func TestARMCompat(t *testing.T) {
	if a := ArchFromAudit(0x40000028); a != ArchARM || a.String() != "arm" || a.AuditRuleArch() != "b32" || !a.IsCompat() {
		t.Errorf("AUDIT_ARCH_ARM: %v %q %q", a, a.String(), a.AuditRuleArch())
	}
	if c, ok := CompatArch(ArchARM64); !ok || c != ArchARM {
		t.Errorf("arm64's compat: %v %v", c, ok)
	}
	if c, ok := CompatArch(ArchX86_64); !ok || c != ArchI386 {
		t.Errorf("x86_64's compat: %v %v", c, ok)
	}
	for name, nr := range map[string]int{"msync": 144, "munmap": 91, "mprotect": 125, "mmap2": 192, "mremap": 163,
		"mlock": 150, "munlock": 151, "mlockall": 152, "munlockall": 153, "madvise": 220, "remap_file_pages": 253, "mlock2": 390} {
		if got, ok := SyscallNumber(ArchARM, name); !ok || got != nr {
			t.Errorf("arm %s: %d %v, want %d", name, got, ok, nr)
		}
	}
	if _, ok := SyscallNumber(ArchARM, "mmap"); ok {
		t.Error("arm EABI has an mmap (90 is OABI only)")
	}
	if got := CompatNames(ArchARM, "mmap"); len(got) != 1 || got[0] != "mmap2" {
		t.Errorf("arm names of mmap: %v", got)
	}
	if got := CompatNames(ArchI386, "mmap"); len(got) != 2 {
		t.Errorf("i386 names of mmap: %v", got)
	}
}
