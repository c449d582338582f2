// Tests of `auperf events`: the catalog as JSON and text.

package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runEventsApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"auperf"}, args...))
	return out.String(), err
}

// The 12 default events with the argument names and C types of their
// manual pages.
var wantEventArgs = []struct {
	name string
	args []string // "type name"
}{
	{"msync", []string{"void* addr", "size_t length", "int flags"}},
	{"mmap", []string{"void* addr", "size_t length", "int prot", "int flags", "int fd", "off_t off"}},
	{"munmap", []string{"void* addr", "size_t length"}},
	{"mprotect", []string{"void* addr", "size_t len", "int prot"}},
	{"mremap", []string{"void* old_address", "size_t old_size", "size_t new_size", "int flags", "void* new_address"}},
	{"mlock", []string{"void* addr", "size_t len"}},
	{"mlock2", []string{"void* addr", "size_t len", "int flags"}},
	{"mlockall", []string{"int flags"}},
	{"munlock", []string{"void* addr", "size_t len"}},
	{"munlockall", nil},
	{"remap_file_pages", []string{"void* addr", "size_t size", "int prot", "size_t pgoff", "int flags"}},
	{"madvise", []string{"void* addr", "size_t length", "int advice"}},
}

func TestEventsJSON(t *testing.T) {
	out, err := runEventsApp(t, "events", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var doc eventsDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json does not parse: %v\n%s", err, out)
	}
	if len(doc.Events) != len(wantEventArgs) {
		t.Fatalf("%d events, want %d", len(doc.Events), len(wantEventArgs))
	}
	for i, w := range wantEventArgs {
		e := doc.Events[i]
		if e.Name != w.name {
			t.Errorf("event %d is %s, want %s", i, e.Name, w.name)
			continue
		}
		var got []string
		for _, a := range e.Args {
			got = append(got, a.Type+" "+a.Name)
		}
		if strings.Join(got, ", ") != strings.Join(w.args, ", ") {
			t.Errorf("%s args %q, want %q", e.Name, got, w.args)
		}
		if e.Description == "" || e.Generic {
			t.Errorf("%s: description %q generic %v", e.Name, e.Description, e.Generic)
		}
		wantTP := []string{"syscalls:sys_enter_" + w.name, "syscalls:sys_exit_" + w.name}
		if strings.Join(e.Tracepoints, " ") != strings.Join(wantTP, " ") {
			t.Errorf("%s tracepoints %q", e.Name, e.Tracepoints)
		}
		b32 := w.name
		if w.name == "mmap" {
			b32 = "mmap,mmap2"
		}
		wantRules := []string{
			"-a always,exit -F arch=b64 -S " + w.name + " -k auperf",
			"-a always,exit -F arch=b32 -S " + b32 + " -k auperf",
		}
		if strings.Join(e.AuditRules, "\n") != strings.Join(wantRules, "\n") {
			t.Errorf("%s audit rules %q, want %q", e.Name, e.AuditRules, wantRules)
		}
	}
	// decoders of the flag arguments
	dec := map[string]string{}
	for _, e := range doc.Events {
		for _, a := range e.Args {
			if a.Decoder != "" {
				dec[e.Name+"."+a.Name] = a.Decoder
			}
		}
	}
	for k, v := range map[string]string{
		"msync.flags": "msync_flags", "mmap.prot": "prot", "mmap.flags": "mmap_flags",
		"mprotect.prot": "prot", "mremap.flags": "mremap_flags", "mlock2.flags": "mlock_flags",
		"mlockall.flags": "mlockall_flags", "remap_file_pages.prot": "prot", "remap_file_pages.flags": "mmap_flags",
		"madvise.advice": "madvise_advice",
	} {
		if dec[k] != v {
			t.Errorf("%s decoder %q, want %q", k, dec[k], v)
		}
		delete(dec, k)
	}
	if len(dec) != 0 {
		t.Errorf("unexpected decoders %v", dec)
	}
	if n := doc.Events[0].Numbers; n["x86_64"] != 26 || n["i386"] != 144 || n["aarch64"] != 227 {
		t.Errorf("msync numbers %v", n)
	}
}

func TestEventsText(t *testing.T) {
	out, err := runEventsApp(t, "events")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wantEventArgs {
		if !strings.Contains(out, "\n"+w.name+": ") && !strings.HasPrefix(out, w.name+": ") {
			t.Errorf("text lacks %s", w.name)
		}
	}
	for _, s := range []string{
		"int    flags  (decoded: msync_flags)",
		"-a always,exit -F arch=b32 -S mmap,mmap2 -k auperf",
		"syscalls:sys_enter_remap_file_pages syscalls:sys_exit_remap_file_pages",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("text lacks %q", s)
		}
	}
}

func TestEventsNamed(t *testing.T) {
	out, err := runEventsApp(t, "events", "--json", "--events", "mincore", "read", "stat", "mmap2", "uretprobe")
	if err != nil {
		t.Fatal(err)
	}
	var doc eventsDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]eventDoc{}
	var order []string
	for _, e := range doc.Events {
		got[e.Name] = e
		order = append(order, e.Name)
	}
	if strings.Join(order, ",") != "mincore,read,stat,mmap2,uretprobe" {
		t.Fatalf("events %v", order)
	}
	if e := got["mincore"]; len(e.Args) != 3 || e.Args[2].Type != "unsigned char*" || e.Args[2].Name != "vec" {
		t.Errorf("mincore args %+v", e.Args)
	}
	if e := got["read"]; !e.Generic || len(e.Args) != 0 || len(e.AuditRules) != 2 {
		t.Errorf("read %+v", e)
	}
	if e := got["stat"]; strings.Join(e.Tracepoints, " ") != "syscalls:sys_enter_newstat syscalls:sys_exit_newstat" {
		t.Errorf("stat tracepoints %v", e.Tracepoints)
	}
	if e := got["mmap2"]; len(e.Tracepoints) != 0 || len(e.AuditRules) != 1 || !strings.Contains(e.AuditRules[0], "arch=b32 -S mmap2 ") {
		t.Errorf("mmap2 %+v", e)
	}
	if e := got["uretprobe"]; len(e.I386Names) != 0 || len(e.AuditRules) != 1 || len(e.Notes) == 0 {
		t.Errorf("uretprobe %+v", e)
	}
}

func TestEventsUnknownName(t *testing.T) {
	for _, args := range [][]string{{"events", "nosuch"}, {"events", "--events", "msync,nosuch"}} {
		out, err := runEventsApp(t, args...)
		if err == nil || !isUsage(err) {
			t.Fatalf("%v: err %v, want a usage error", args, err)
		}
		if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `"nosuch"`) {
			t.Errorf("error %q: want one line naming the event", err)
		}
		if out != "" {
			t.Errorf("printed %q before failing", out)
		}
	}
}

func TestEventsUnknownNameExitStatus(t *testing.T) {
	if st := runMain([]string{"auperf", "events", "nosuch"}); st != 2 {
		t.Errorf("exit status %d, want 2", st)
	}
}
