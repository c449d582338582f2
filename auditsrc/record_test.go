// Tests of record and rule parsing, rule building, state warnings, and the
// fuzz targets of the parsers.

package auditsrc

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
)

func TestParseStamp(t *testing.T) {
	for _, c := range []struct {
		in     string
		ts     int64
		serial uint32
		body   string
		bad    bool
	}{
		{in: "audit(1700000000.123:456): arch=c000003e", ts: 1700000000123000000, serial: 456, body: " arch=c000003e"},
		{in: "msg=audit(1.000:4294967295): x=1\x1dARCH=x86_64", ts: 1e9, serial: 4294967295, body: " x=1"},
		{in: "audit(1.000:4294967296): x", bad: true},
		{in: "audit(1.1000:1): x", bad: true},
		{in: "audit(1:1): x", bad: true},
		{in: "audit(1.000:1", bad: true},
		{in: "nothing", bad: true},
	} {
		ts, serial, body, err := parseStamp([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		if err != nil || ts != c.ts || serial != c.serial || string(body) != c.body {
			t.Errorf("%q: %d %d %q %v, want %d %d %q", c.in, ts, serial, body, err, c.ts, c.serial, c.body)
		}
	}
}

func TestParseLogLine(t *testing.T) {
	for _, c := range []struct {
		in  string
		typ uint16
		ok  bool
	}{
		{"type=SYSCALL msg=audit(1.001:2): arch=c000003e", typeSyscall, true},
		{"node=web01 type=MMAP msg=audit(1.001:2): fd=3 flags=0x1", typeMmap, true},
		{"type=UNKNOWN[1327] msg=audit(1.001:2): proctitle=6C73", typeProctitle, true},
		{"type=CONFIG_CHANGE msg=audit(1.001:2): op=add_rule", typeOther, true},
		{"----", 0, false},
		{"", 0, false},
		{"type=EOE", 0, false},
	} {
		r, ok := parseLogLine([]byte(c.in))
		if ok != c.ok || (ok && r.typ != c.typ) {
			t.Errorf("%q: type %d ok %v, want %d %v", c.in, r.typ, ok, c.typ, c.ok)
		}
	}
	if n := nodeOf([]byte("node=web01 type=EOE msg=audit(1.001:2): ")); string(n) != "web01" {
		t.Errorf("node %q", n)
	}
}

func TestParseSyscall(t *testing.T) {
	var s syscallRecord
	parseSyscall(&s, []byte(` arch=40000003 syscall=144 success=no exit=-12 a0=5000 a1=3000 a2=1 a3=0 items=0 ppid=7 pid=8 auid=4294967295 uid=1000 gid=100 euid=0 ses=4294967295 comm=6120220A62 exe="/bin/x y" subj=unconfined key="auperf"`))
	if s.arch != 0x40000003 || s.nr != 144 || !s.hasNr || s.exit != -12 || !s.hasExit ||
		s.args != [4]uint64{0x5000, 0x3000, 1, 0} || s.known != 0xf ||
		s.ppid != 7 || s.pid != 8 || s.uid != 1000 || s.gid != 100 || s.auid != 4294967295 || s.ses != 4294967295 {
		t.Errorf("parsed %+v", s)
	}
	if string(s.comm) != "a \"\nb" || string(s.exe) != "/bin/x y" || string(s.key) != "auperf" {
		t.Errorf("comm %q exe %q key %q", s.comm, s.exe, s.key)
	}
	// Reuse: a record without comm leaves none behind.
	parseSyscall(&s, []byte(`arch=c000003e syscall=26 exit=0 a0=zz comm=(null) exe=(null)`))
	if s.has&(hasComm|hasExe|hasPid) != 0 || s.known != 0 {
		t.Errorf("stale fields: %+v", s)
	}
	// exit_group, logged at the task's end: no success= and no exit=
	// (the kernel has no result to write): well formed, no result.
	parseSyscall(&s, []byte(` arch=c000003e syscall=231 a0=0 a1=3c a2=0 a3=0 items=0 ppid=7 pid=8 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=3 comm="true" exe="/usr/bin/true" key="auperf"`))
	if !s.wellFormed() || s.hasExit || s.nr != 231 {
		t.Errorf("exit_group record: well formed %v, %+v", s.wellFormed(), s)
	}
	// A record that has success= but lost its exit= is garbled.
	parseSyscall(&s, []byte(` arch=c000003e syscall=26 success=yes a0=0 a1=0 a2=0 a3=0 pid=8`))
	if s.wellFormed() {
		t.Errorf("a record without its exit= taken as well formed: %+v", s)
	}
	m := parseMmap([]byte("fd=-1 flags=0x22"))
	if !m.hasFd || m.fd != -1 || m.flags != 0x22 {
		t.Errorf("mmap %+v", m)
	}
}

func TestGapTracker(t *testing.T) {
	var g gapTracker
	total := uint64(0)
	add := func(s uint32) {
		d, _ := g.add(s)
		total += d
	}
	// Out of order within the window is not a gap.
	for _, s := range []uint32{10, 12, 11, 11, 13} {
		add(s)
	}
	if total != 0 || g.base != 14 {
		t.Fatalf("total %d base %d", total, g.base)
	}
	// 14..15 never come; a serial a window ahead accounts for them.
	add(16)
	add(16 + gapWindow)
	if total != 2 {
		t.Errorf("missing %d, want 2 (14 and 15)", total)
	}
	if d := g.finish(); d != gapWindow-1 {
		t.Errorf("finish: %d missing, want %d (17 .. 16+window-1)", d, gapWindow-1)
	}
	// Wrap-around of the kernel's 32-bit serial.
	var w gapTracker
	for _, s := range []uint32{0xfffffffe, 0xffffffff, 0, 2} {
		if d, late := w.add(s); d != 0 || late {
			t.Errorf("serial %#x: missing %d late %v", s, d, late)
		}
	}
	if d := w.finish(); d != 1 {
		t.Errorf("finish after wrap: %d missing, want 1 (serial 1)", d)
	}
	if _, late := w.add(0xfffffff0); !late {
		t.Error("an old serial is not late")
	}
}

func TestRuleWire(t *testing.T) {
	r, err := buildRule("-a always,exit -F arch=b64 -S 26,9 -F exe=/bin/true -F success=0 -k auperf", [2]uint32{fieldSessionID, 42})
	if err != nil {
		t.Fatal(err)
	}
	if keys := ruleKeys(r); len(keys) != 1 || keys[0] != "auperf" {
		t.Errorf("keys %q", keys)
	}
	if !hasKey(r, "auperf") || hasKey(r, "auperf-test") {
		t.Error("hasKey")
	}
	line := ruleString(r)
	for _, want := range []string{"arch=b64", "-S", "exe=/bin/true", "success=0", "key=auperf", "sessionid=42"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	two, err := buildRule("-a never,exit -F arch=b32 -S 144 -F pid=1 -k a -k auperf")
	if err != nil {
		t.Fatal(err)
	}
	if !hasKey(two, "auperf") || !hasKey(two, "a") {
		t.Errorf("keys %q", ruleKeys(two))
	}
	if _, err := buildRule("-a always,exit -F nosuchfield=1 -k x"); err == nil {
		t.Error("bad field accepted")
	}
}

func TestSourceRules(t *testing.T) {
	s, err := buildRules(ruleConfig{
		Events: []string{"msync", "mmap"},
		Archs:  []decode.Arch{decode.ArchX86_64, decode.ArchI386},
		Key:    "auperf",
		Filter: filterSpec([]int{10, 11}, []uint32{1000}, true, []string{"x"}),
		Self:   99,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-a never,exit -F arch=b64 -S 26,9 -F pid=99 -k auperf",
		"-a never,exit -F arch=b32 -S 144,90,192 -F pid=99 -k auperf",
		"-a always,exit -F arch=b64 -S 26,9 -F pid=10 -F uid=1000 -F success=0 -k auperf",
		"-a always,exit -F arch=b64 -S 26,9 -F pid=11 -F uid=1000 -F success=0 -k auperf",
		"-a always,exit -F arch=b32 -S 144,90,192 -F pid=10 -F uid=1000 -F success=0 -k auperf",
		"-a always,exit -F arch=b32 -S 144,90,192 -F pid=11 -F uid=1000 -F success=0 -k auperf",
	}
	if got := s.lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// What the rules say is not matched again; comm is.
	if len(s.rest.PIDs) != 0 || len(s.rest.UIDs) != 0 || s.rest.Failed || len(s.rest.Comms) != 1 || !s.needMatch {
		t.Errorf("rest %+v", s.rest)
	}
	if !s.wanted(decode.ArchI386, 192) || s.wanted(decode.ArchI386, 26) || !s.wanted(decode.ArchX86_64, 26) {
		t.Error("wanted")
	}
}

// readLogSeeds returns the lines of the recorded logs (fuzz seeds).
func readLogSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range []string{"raw.log", "enriched.log"} {
		f, err := os.Open(filepath.Join(logDir, name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
		f.Close()
	}
	return out
}

// FuzzDecodeLog: no input makes the record parser or the grouping panic,
// and what it emits is a valid syscall event.
func FuzzDecodeLog(f *testing.F) {
	seeds := readLogSeeds(f)
	for i := 0; i+4 <= len(seeds); i += 40 {
		f.Add(bytes.Join(seeds[i:i+4], []byte("\n")))
	}
	f.Add([]byte("type=SYSCALL msg=audit(1.001:2): arch=40000003 syscall=192 exit=-9 a0=0 a1=1000 a2=3 a3=1\ntype=MMAP msg=audit(1.001:2): fd=99999999999 flags=0x1\ntype=EOE msg=audit(1.001:2):"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := DecodeLog(bytes.NewReader(in), LogConfig{}, func(ev *event.Event) {
			if ev.Source != event.SourceAudit || ev.Known&event.HasEventID == 0 || len(ev.Args) > 6 {
				t.Fatalf("bad event %+v", ev)
			}
			_ = event.AppendJSON(nil, ev)
		})
		if err != nil && !strings.Contains(err.Error(), "token too long") {
			t.Fatal(err)
		}
	})
}

func filterSpec(pids []int, uids []uint32, failed bool, comms []string) (s filter.Spec) {
	s.PIDs, s.UIDs, s.Failed, s.Comms = pids, uids, failed, comms
	return s
}

func TestStateWarnings(t *testing.T) {
	w := stateWarnings(State{Status: Status{Enabled: 0}}, Config{})
	if len(w) != 1 || !strings.Contains(w[0], "audit=1") {
		t.Errorf("audit off: %q", w)
	}
	w = stateWarnings(State{Status: Status{Enabled: 1, RateLimit: 100}}, Config{})
	if len(w) != 1 || !strings.Contains(w[0], "rate_limit") {
		t.Errorf("rate limit: %q", w)
	}
	w = stateWarnings(State{Status: Status{Enabled: 2, PID: uint32(os.Getpid())}}, Config{})
	if len(w) != 2 || !strings.Contains(w[0], "multicast") || !strings.Contains(w[1], "locked") {
		t.Errorf("locked with a daemon: %q", w)
	}
	w = stateWarnings(State{Status: Status{Enabled: 1, PID: uint32(os.Getpid()), BacklogWaitTime: 60000}}, Config{Backpressure: BackpressureDrop})
	if len(w) != 2 || !strings.Contains(w[1], "backlog_wait_time (60000) left as") {
		t.Errorf("drop next to a daemon: %q", w)
	}
	s := &ruleSet{key: "auperf"}
	rule, _ := buildRule("-a always,exit -F arch=b64 -S 26 -k auperf")
	other, _ := buildRule("-a always,exit -F arch=b64 -S 26 -k mine")
	if !s.loaded([][]byte{other, rule}) || s.loaded([][]byte{other}) {
		t.Error("rulesLoaded")
	}
}

func TestNewRejectsUnknownEvent(t *testing.T) {
	if _, err := New(Config{Events: []string{"nosuchcall"}}); err == nil || !strings.Contains(err.Error(), "nosuchcall") {
		t.Errorf("err %v", err)
	}
}

func TestParseBackpressure(t *testing.T) {
	for in, want := range map[string]Backpressure{"": BackpressureWait, "wait": BackpressureWait, "drop": BackpressureDrop} {
		if got, err := ParseBackpressure(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseBackpressure("block"); err == nil {
		t.Error("block accepted")
	}
}

// The selector may give audit only the 32-bit side (perf sees 64-bit).
func TestSourceRulesI386Only(t *testing.T) {
	s, err := buildRules(ruleConfig{Events: []string{"msync", "mmap", "mprotect"}, Archs: []decode.Arch{decode.ArchI386}, Key: "auperf", Self: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := "-a never,exit -F arch=b32 -S 144,90,192,125 -F pid=7 -k auperf\n-a always,exit -F arch=b32 -S 144,90,192,125 -k auperf"
	if got := strings.Join(s.lines(), "\n"); got != want {
		t.Errorf("rules:\n%s\nwant:\n%s", got, want)
	}
	if s.wanted(decode.ArchX86_64, 26) {
		t.Error("x86_64 msync wanted")
	}
}

// Native rules for the events perf cannot trace, b32 rules for all.
func TestSourceRulesB32Events(t *testing.T) {
	s, err := buildRules(ruleConfig{Events: []string{"mprotect"}, B32Events: []string{"msync", "mprotect"},
		Archs: []decode.Arch{decode.ArchX86_64, decode.ArchI386}, Key: "auperf", Self: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := "-a never,exit -F arch=b64 -S 10 -F pid=7 -k auperf\n" +
		"-a never,exit -F arch=b32 -S 144,125 -F pid=7 -k auperf\n" +
		"-a always,exit -F arch=b64 -S 10 -k auperf\n" +
		"-a always,exit -F arch=b32 -S 144,125 -k auperf"
	if got := strings.Join(s.lines(), "\n"); got != want {
		t.Errorf("rules:\n%s\nwant:\n%s", got, want)
	}
	if s.wanted(decode.ArchX86_64, 26) || !s.wanted(decode.ArchI386, 144) {
		t.Error("wanted")
	}
}

// auditd's name_format puts "node=NAME" first: it becomes hostName.
func TestDecodeLogNode(t *testing.T) {
	log := `node=web01 type=SYSCALL msg=audit(1700000000.250:77): arch=c000003e syscall=26 success=no exit=-12 a0=5000 a1=3000 a2=1 a3=0 items=0 ppid=1 pid=42 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="x" exe="/usr/bin/x" key="auperf"
node=web01 type=PROCTITLE msg=audit(1700000000.250:77): proctitle=78
`
	var got []string
	st, err := DecodeLog(strings.NewReader(log), LogConfig{}, func(ev *event.Event) {
		got = append(got, string(event.AppendJSON(nil, ev)))
	})
	if err != nil || st.Events != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	want := `{"timestamp":1700000000250000000,"processId":42,"parentProcessId":1,"userId":1000,"groupId":1000,"loginUserId":1000,"sessionId":3,"processName":"x","executable":{"path":"/usr/bin/x"},"hostName":"web01","eventId":"26","eventName":"msync","syscall":"msync","arch":"x86_64","argsNum":3,"returnValue":-12,"errno":"ENOMEM","args":[{"name":"addr","type":"void*","value":20480,"decoded":"0x5000"},{"name":"length","type":"size_t","value":12288},{"name":"flags","type":"int","value":1,"decoded":"MS_ASYNC"}],"source":"audit"}` + "\n"
	if got[0] != want {
		t.Errorf("got  %s\nwant %s", got[0], want)
	}
}

// syscallBodies are the SYSCALL records of the logs recorded here with
// auditd from this kernel, and the bench loop's.
func syscallBodies(t testing.TB) (out [][]byte) {
	for _, line := range readLogSeeds(t) {
		if r, ok := parseLogLine(line); ok && r.typ == typeSyscall {
			out = append(out, trimEnriched(r.body))
		}
	}
	for _, c := range benchLoop {
		out = append(out, []byte(syscallBody(c.nr, c.args, c.exit)))
	}
	return out
}

// TestParseSyscallHeadTaken: the one-pass head parser takes every SYSCALL
// record this kernel writes (else it would only cost a failed attempt).
func TestParseSyscallHeadTaken(t *testing.T) {
	bodies := syscallBodies(t)
	if len(bodies) < 50 {
		t.Fatalf("only %d SYSCALL records in the recorded logs", len(bodies))
	}
	for _, b := range bodies {
		var s syscallRecord
		if _, ok := parseSyscallHead(&s, b); !ok {
			t.Errorf("head parser refused %q", b)
		}
	}
}

// FuzzParseSyscallHead: whenever the head parser takes a record, the
// result is the one of the general parser.
func FuzzParseSyscallHead(f *testing.F) {
	for _, b := range syscallBodies(f) {
		f.Add(b)
	}
	for _, b := range []string{
		`arch=c000003e syscall=9 success=yes exit=-9223372036854775808 a0=0 a1=1000 a2=3 a3=1 items=0 ppid=1 pid=2 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="x" exe="/y" key=(null)`,
		`arch=c000003e syscall=9 success=yes exit=9223372036854775808 a0=ffffffffffffffff a1=1000 a2=3 a3=1 items=0 ppid=1 pid=2 auid=4294967296 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=41 pid=zz`,
		`arch=40000003 syscall=192 per=800000 success=no exit=-12 a0=0 a1=1000 a2=3 a3=1 items=0 ppid=1 pid=2 auid=1 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x"`,
		`arch=c000003e syscall=9 success=yes exit=0 a0=0x10 a1=1000 a2=3 a3=1 items=0 ppid=1 pid=2 auid=1 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty="a b" ses=1 comm="x"`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var head, all syscallRecord
		rest, ok := parseSyscallHead(&head, b)
		if !ok {
			return
		}
		parseSyscallFields(&head, rest)
		parseSyscallFields(&all, b)
		if !reflect.DeepEqual(normal(head), normal(all)) {
			t.Fatalf("%q:\nhead path %+v\ngeneral   %+v", b, head, all)
		}
	})
}

// normal makes empty and nil buffers compare equal.
func normal(s syscallRecord) syscallRecord {
	for _, p := range []*[]byte{&s.comm, &s.exe, &s.key} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return s
}
