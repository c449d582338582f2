// Tests of format parsing against recorded format files of several kernels,
// finding tracefs on fixture roots, and New on an old kernel's formats.

package perfsrc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auperf/auperf/internal/host"
)

func readFixture(t testing.TB, kernel, name string) *Format {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "format", kernel, name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFormat(data)
	if err != nil {
		t.Fatalf("%s/%s: %v", kernel, name, err)
	}
	return f
}

func TestParseFormatGenerations(t *testing.T) {
	type want struct {
		id      uint64
		nr      Field
		args    []string
		offsets []int
		common  int
	}
	tests := []struct {
		kernel, name string
		want         want
	}{
		{"linux-2.6.32", "sys_enter_msync", want{404, Field{Name: "nr", Type: "int", Offset: 12, Size: 4, Signed: true}, []string{"start", "len", "flags"}, []int{16, 24, 32}, 5}},
		{"linux-2.6.32", "sys_exit_msync", want{403, Field{Name: "nr", Type: "int", Offset: 12, Size: 4, Signed: true}, []string{"ret"}, []int{16}, 5}},
		{"linux-3.10", "sys_enter_mmap", want{585, Field{Name: "nr", Type: "int", Offset: 8, Size: 4, Signed: true}, []string{"addr", "len", "prot", "flags", "fd", "off"}, []int{16, 24, 32, 40, 48, 56}, 4}},
		{"linux-4.15", "sys_enter_mlock2", want{630, Field{Name: "__syscall_nr", Type: "int", Offset: 8, Size: 4, Signed: true}, []string{"start", "len", "flags"}, []int{16, 24, 32}, 4}},
		{"linux-6.18", "sys_enter_mmap", want{174, Field{Name: "__syscall_nr", Type: "int", Offset: 8, Size: 4, Signed: true}, []string{"addr", "len", "prot", "flags", "fd", "off"}, []int{16, 24, 32, 40, 48, 56}, 4}},
		{"linux-6.18", "sys_exit_mmap", want{173, Field{Name: "__syscall_nr", Type: "int", Offset: 8, Size: 4, Signed: true}, []string{"ret"}, []int{16}, 4}},
		{"linux-6.18", "sys_enter_munlockall", want{681, Field{Name: "__syscall_nr", Type: "int", Offset: 8, Size: 4, Signed: true}, nil, nil, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.kernel+"/"+tt.name, func(t *testing.T) {
			f := readFixture(t, tt.kernel, tt.name)
			if f.Name != tt.name || f.ID != tt.want.id {
				t.Errorf("name/id = %s/%d, want %s/%d", f.Name, f.ID, tt.name, tt.want.id)
			}
			nr := f.SyscallNr()
			if nr == nil {
				t.Fatal("no syscall nr field")
			}
			if diff := cmp.Diff(tt.want.nr, *nr); diff != "" {
				t.Errorf("nr field (-want +got):\n%s", diff)
			}
			var names []string
			var offs []int
			for _, a := range f.Args() {
				names = append(names, a.Name)
				offs = append(offs, a.Offset)
				if a.Size != 8 {
					t.Errorf("arg %s size %d, want 8", a.Name, a.Size)
				}
			}
			if diff := cmp.Diff(tt.want.args, names); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want.offsets, offs); diff != "" {
				t.Errorf("offsets (-want +got):\n%s", diff)
			}
			n := 0
			for _, fl := range f.Fields {
				if fl.Common {
					n++
				}
			}
			if n != tt.want.common {
				t.Errorf("%d common fields, want %d", n, tt.want.common)
			}
			if ct := f.Field("common_type"); ct == nil || ct.Offset != 0 || ct.Size != 2 {
				t.Errorf("common_type = %+v", ct)
			}
		})
	}
}

func TestParseFormatTolerates(t *testing.T) {
	f := readFixture(t, "other", "sched_process_exec")
	fn := f.Field("filename")
	if fn == nil || fn.Type != "__data_loc char[]" || fn.Offset != 8 || fn.Size != 4 {
		t.Errorf("filename = %+v", fn)
	}
	f = readFixture(t, "other", "sched_switch")
	pc := f.Field("prev_comm")
	if pc == nil || pc.Type != "char[16]" || pc.Offset != 8 || pc.Size != 16 {
		t.Errorf("prev_comm = %+v", pc)
	}
	if f.SyscallNr() != nil {
		t.Error("sched_switch has a syscall nr?")
	}
}

func TestParseFormatErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"name: x\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n", // no ID
		"name: x\nID: 3\nformat:\n",                                         // no fields
		"name: x\nID: zz\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\n",    // bad ID
		"name: x\nID: 3\nformat:\n\tfield:int a;\toffset:q;\tsize:4;\n",     // bad offset
		"name: x\nID: 3\nformat:\n\tfield:int a;\tsize:4;\n",                // no offset
	} {
		if _, err := ParseFormat([]byte(in)); err == nil {
			t.Errorf("ParseFormat(%q) = nil error", in)
		}
	}
}

func FuzzParseFormat(f *testing.F) {
	for _, p := range []string{"linux-2.6.32/sys_enter_msync", "linux-3.10/sys_enter_mmap", "linux-6.18/sys_exit_mmap", "other/sched_switch"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "format", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fm, err := ParseFormat(data)
		if err != nil {
			return
		}
		for _, fl := range fm.Fields {
			if fl.Offset < 0 || fl.Size < 0 || fl.Name == "" {
				t.Fatalf("bad field accepted: %+v", fl)
			}
		}
		fm.Args()
	})
}

func TestFindTracefsFixture(t *testing.T) {
	root := t.TempDir()
	if _, _, err := FindTracefs(host.Paths{ProcFS: root, SysFS: root}, false); err == nil {
		t.Fatal("found tracefs in an empty root")
	}
	dbg := filepath.Join(root, "kernel/debug/tracing/events")
	if err := os.MkdirAll(dbg, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, mounted, err := FindTracefs(host.Paths{ProcFS: root, SysFS: root}, false)
	if err != nil || mounted || dir != filepath.Join(root, "kernel/debug/tracing") {
		t.Fatalf("FindTracefs = %q, %v, %v", dir, mounted, err)
	}
	// A tracefs elsewhere, found through the mounts file (with an escaped space).
	root2 := t.TempDir()
	other := filepath.Join(root2, "my trace")
	os.MkdirAll(filepath.Join(other, "events"), 0o755)
	os.WriteFile(filepath.Join(root2, "mounts"), []byte("nodev "+filepath.Join(root2, `my\040trace`)+" tracefs rw 0 0\n"), 0o644)
	dir, _, err = FindTracefs(host.Paths{ProcFS: root2, SysFS: root2}, false)
	if err != nil || dir != other {
		t.Fatalf("FindTracefs via mounts = %q, %v", dir, err)
	}
}

// fakeRoot is a sysfs with 2 CPUs and a tracefs holding the given kernel's
// fixture formats.
func fakeRoot(t *testing.T, kernel string) host.Paths {
	t.Helper()
	root := t.TempDir()
	sys := filepath.Join(root, "sys")
	os.MkdirAll(filepath.Join(sys, "devices/system/cpu"), 0o755)
	os.WriteFile(filepath.Join(sys, "devices/system/cpu/online"), []byte("0-1\n"), 0o644)
	tr := filepath.Join(root, "tracing")
	ents, err := os.ReadDir(filepath.Join("..", "testdata", "format", kernel))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join("..", "testdata", "format", kernel, e.Name()))
		d := filepath.Join(tr, "events", "syscalls", e.Name())
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "format"), data, 0o644)
	}
	return host.Paths{ProcFS: filepath.Join(root, "proc"), SysFS: sys, TraceFS: tr}
}

func TestNewOnOldKernel(t *testing.T) {
	p := fakeRoot(t, "linux-3.10")
	if _, err := New(Config{Events: []string{"mmap", "mlock2"}, Paths: p}); !errors.Is(err, ErrNoTracepoint) {
		t.Fatalf("mlock2 on 3.10: err = %v, want ErrNoTracepoint", err)
	}
	s, err := New(Config{Events: []string{"mmap", "mlock2"}, Paths: p, SkipMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Missing(); len(got) != 1 || got[0] != "mlock2" {
		t.Errorf("Missing = %v", got)
	}
	if got := s.Events(); len(got) != 1 || got[0] != "mmap" {
		t.Errorf("Events = %v", got)
	}
	core, err := s.newPairer(nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := core.tps[585]
	if tp == nil || !tp.enter || tp.nrOff != 8 || len(tp.args) != 6 || tp.names[5] != "off" {
		t.Errorf("3.10 enter tracepoint = %+v", tp)
	}
	if _, err := New(Config{Events: []string{"mlock2"}, Paths: p, SkipMissing: true}); !errors.Is(err, ErrNoTracepoint) {
		t.Errorf("nothing left: err = %v", err)
	}
	if _, err := New(Config{Events: []string{"mmap"}, Paths: p, RingPages: 48}); err == nil {
		t.Error("ring of 48 pages accepted")
	}
	if s, err := New(Config{Events: []string{"mmap", "mmap"}, Paths: p}); err != nil || len(s.Events()) != 1 {
		t.Errorf("duplicate events: %v, %v", s, err)
	}
	if _, err := New(Config{Events: []string{"nosuch"}, Paths: p}); err == nil {
		t.Error("unknown syscall accepted")
	}
}
