// Tests of the settings: every refusal, the defaults, command mode, the
// event-list parser, and the fuzz target.

package trace

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/auperf/auperf/auditsrc"
	"github.com/auperf/auperf/selector"
)

// Every bad setting is a usage error whose one line names the setting.
func TestOptionsRefused(t *testing.T) {
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{Events: "msync,notasyscall"}, `unknown event "notasyscall"`},
		{Settings{Events: " , "}, "--events is empty"},
		{Settings{Source: "ebpf"}, `--source: unknown source "ebpf"`},
		{Settings{RingPages: 3}, "--ring-pages 3: want a power of two"},
		{Settings{RingPagesSet: true}, "--ring-pages 0: want a power of two"},
		{Settings{PIDs: []int{-4}}, "--pid -4: want a positive process id"},
		{Settings{UIDs: []int{-1}}, "--uid -1: out of range"},
		{Settings{Comms: []string{"a-name-of-16-byt"}}, "want a process name of 1 to 15 bytes"},
		{Settings{Comms: []string{""}}, "want a process name of 1 to 15 bytes"},
		{Settings{PIDs: []int{1}, Command: []string{"true"}}, "--pid and -- COMMAND exclude each other"},
		{Settings{AuditBackpressure: "block"}, `--audit-backpressure: bad audit backpressure "block"`},
		{Settings{AuditLean: "sometimes"}, "--audit-lean"},
		{Settings{AuditBacklogLimit: -5}, "--audit-backlog-limit -5: out of range"},
		{Settings{SourceEvents: []string{"perf"}}, `--source-events "perf": want perf=LIST or audit=LIST`},
		{Settings{SourceEvents: []string{"audit=nosuchcall"}}, `unknown event "nosuchcall"`},
		{Settings{Source: "audit", SourceEvents: []string{"perf=msync"}}, "--source-events needs --source auto"},
		{Settings{Duration: -1}, "must not be negative"},
	} {
		_, err := c.s.Options(1)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want a one-line usage error with %q", c.s, err, c.want)
		}
	}
}

func TestOptionsDefaultsAndCommand(t *testing.T) {
	o, err := Settings{}.Options(1)
	if err != nil {
		t.Fatal(err)
	}
	if o.Source != selector.SourceAuto || o.Events != nil || !o.Filter.Empty() || o.AuditBackpressure != auditsrc.BackpressureWait || o.AuditLean != auditsrc.LeanAuto {
		t.Errorf("defaults %+v", o)
	}
	o, err = Settings{Events: "msync, mmap", Command: []string{"./client", "-x"}, SourceEvents: []string{"perf=msync", "audit=mmap"}}.Options(77)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Events, []string{"msync", "mmap"}) || !o.Filter.Tree || !slices.Equal(o.Filter.PIDs, []int{77}) || o.Filter.Procs == nil {
		t.Errorf("command mode %+v", o)
	}
	if !slices.Equal(o.Overrides[selector.SourcePerf], []string{"msync"}) || !slices.Equal(o.Overrides[selector.SourceAudit], []string{"mmap"}) {
		t.Errorf("overrides %v", o.Overrides)
	}
}

// One parser, two name sets: run's native names, decode's names of any arch.
func TestParseEvents(t *testing.T) {
	if got, err := ParseEvents("--events", "mmap2", AnyNames); err != nil || !slices.Equal(got, []string{"mmap2"}) {
		t.Errorf("any arch: %v %v", got, err)
	}
	_, err := ParseEvents("--events", "mmap2", NativeNames)
	if NativeNames.Known("mmap2") == (err != nil) {
		t.Errorf("native mmap2: %v", err)
	}
	if _, err := ParseEvents("--events", "nosuch", AnyNames); err == nil || !strings.Contains(err.Error(), "not a syscall of x86_64, i386 or arm64") {
		t.Errorf("any arch, unknown: %v", err)
	}
}

// FuzzSettings: whatever the event list and filter values, Options either
// refuses with a one-line usage error or gives options that keep the
// rules: known events, positive pids, comms of 1 to 15 bytes.
func FuzzSettings(f *testing.F) {
	f.Add("msync,mmap", "auperf-wl", 42, 1000, "perf=msync")
	f.Add(" , ", "", -1, -1, "audit")
	f.Add("mmap2,,madvise", "0123456789abcdef", 0, 4294967296, "audit=mmap")
	f.Fuzz(func(t *testing.T, events, comm string, pid, uid int, sourceEvents string) {
		s := Settings{Events: events, Comms: []string{comm}, PIDs: []int{pid}, UIDs: []int{uid}, SourceEvents: []string{sourceEvents}}
		o, err := s.Options(1)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) || strings.Contains(err.Error(), "\n") && !strings.ContainsAny(events+comm+sourceEvents, "\n") {
				t.Fatalf("%v: not a one-line usage error", err)
			}
			return
		}
		for _, e := range o.Events {
			if !NativeNames.Known(e) {
				t.Fatalf("unknown event %q accepted", e)
			}
		}
		for _, p := range o.Filter.PIDs {
			if p <= 0 {
				t.Fatalf("pid %d accepted", p)
			}
		}
		for _, c := range o.Filter.Comms {
			if len(c) == 0 || len(c) > 15 {
				t.Fatalf("comm %q accepted", c)
			}
		}
	})
}
