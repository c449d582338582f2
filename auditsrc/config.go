// The audit source's configuration: its settings, their defaults, and
// the parsers of the choices a user makes (backpressure, lean, mode).

package auditsrc

import (
	"fmt"
	"time"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/host"
)

// DefaultKey tags every rule auperf adds; only rules with it are deleted.
// It is the catalog's key (decode.AuditKey): one key, one definition.
const DefaultKey = decode.AuditKey

// DefaultStateDir holds the state file of a running source (see
// Config.StateDir).
const DefaultStateDir = "/run/auperf"

// Backpressure is what the kernel does when auperf reads too slowly and
// the audit backlog is full. It applies while auperf is the audit daemon;
// next to another daemon (multicast) the backlog is that daemon's and
// auperf leaves backlog_limit and backlog_wait_time alone.
type Backpressure uint8

const (
	// BackpressureWait keeps (or sets) backlog_wait_time: an audited
	// process waits for room in the backlog, up to that bound. Nothing
	// is lost unless the bound is hit; the host slows down instead.
	BackpressureWait Backpressure = iota
	// BackpressureDrop sets backlog_wait_time to 0: nobody waits, the
	// kernel drops records and counts them in "lost", which auperf reports.
	BackpressureDrop
)

// ParseBackpressure parses "wait" or "drop" (the --audit-backpressure flag).
func ParseBackpressure(s string) (Backpressure, error) {
	switch s {
	case "", "wait":
		return BackpressureWait, nil
	case "drop":
		return BackpressureDrop, nil
	}
	return 0, fmt.Errorf("bad audit backpressure %q: want wait or drop", s)
}

func (b Backpressure) String() string {
	if b == BackpressureDrop {
		return "drop"
	}
	return "wait"
}

// Lean says whether the source may exclude PROCTITLE and EOE records
// (see Config.Lean).
type Lean uint8

const (
	// LeanAuto excludes them while auperf is the audit daemon and no
	// other process reads audit (no multicast listener).
	LeanAuto Lean = iota
	// LeanOff never adds exclusions: the only rules auperf loads are
	// its keyed syscall rules.
	LeanOff
)

// ParseLean parses "auto" or "off" (the --audit-lean flag).
func ParseLean(s string) (Lean, error) {
	switch s {
	case "", "auto":
		return LeanAuto, nil
	case "off":
		return LeanOff, nil
	}
	return 0, fmt.Errorf("bad audit lean mode %q: want auto or off", s)
}

func (l Lean) String() string {
	if l == LeanOff {
		return "off"
	}
	return "auto"
}

// Mode says how the source reads records.
type Mode uint8

const (
	ModeAuto      Mode = iota // unicast if nobody owns the audit pid, else multicast
	ModeUnicast               // become the audit daemon; fail if one runs
	ModeMulticast             // read-only group next to the audit daemon
)

// Defaults.
const (
	// DefaultBacklogLimit is set while auperf is the audit daemon (when
	// the kernel's is lower): the kernel default, 64, overflows at once.
	DefaultBacklogLimit = 8192
	// DefaultBacklogWaitTime (jiffies) is set in wait mode when the
	// kernel's is 0; the kernel's own default is 60*HZ.
	DefaultBacklogWaitTime = 15000
	// DefaultRcvBuf is the netlink receive buffer asked for.
	DefaultRcvBuf = 16 << 20
)

// Config configures a Source.
type Config struct {
	// Events are syscall names (nil: decode.DefaultEvents). Names are
	// those of the native table; b32 rules use decode.I386Names.
	Events []string
	// Archs to add rules for (nil: the native arch, plus i386 on x86_64).
	Archs []decode.Arch
	// B32Events, when not nil, are the events whose i386 rules are added
	// instead of Events' (native names, as Events): the selector may plan
	// audit for a few native events and for the 32-bit side of all.
	B32Events []string
	// Filter is what the user asked to see. What audit rules can express
	// (--pid, --uid, --failed) is pushed into the rules, the rest is
	// matched in user space.
	Filter filter.Spec
	// Session, when not 0, narrows every rule to this audit session id
	// (-F sessionid=); StartCommand sets one up for `-- COMMAND`.
	Session uint32
	// StartsCommand says that, in Tree mode, the caller starts the traced
	// command with StartCommand: Attach then adds only the never rules
	// and StartCommand adds the rules narrowed to the command's audit
	// session (no host-wide rules at any time).
	StartsCommand bool
	// RuleFields are extra "-F field=value" conditions added to every
	// always rule (tests narrow rules to their workload with exe=).
	RuleFields []string
	// Key tags our rules ("" = DefaultKey).
	Key string

	Backpressure    Backpressure
	BacklogLimit    uint32 // 0: DefaultBacklogLimit as daemon, unchanged in multicast
	BacklogWaitTime uint32 // wait mode, when the kernel's is 0 (0: DefaultBacklogWaitTime)
	RcvBuf          int    // bytes (0: DefaultRcvBuf)
	Mode            Mode

	// Lean, in auto, lets the source exclude the PROCTITLE and EOE
	// records (-a never,exclude -F msgtype=...) while it is the audit
	// daemon and nobody else reads audit: the kernel then formats,
	// queues and sends one record per call instead of three, which
	// roughly halves the cost an audited call pays. Exclusions are
	// host-wide and cannot carry a key, so the state file records
	// them; they are deleted when another reader appears (a multicast
	// listener such as journald) and when the source stops. Only for
	// the memory family, whose record set is known without EOE.
	Lean Lean
	// TaskFilter, in auto, lets the source leave processes started
	// outside the command's audit session without an audit context
	// (-a never,task -F sessionid!=S) under the same conditions as Lean;
	// see taskfilter.go.
	TaskFilter Lean

	// StatusInterval is how often the kernel's lost counter is polled
	// (0: 1s). EOETimeout is how long a record group may wait for its
	// EOE before it is emitted without (0: 2s).
	StatusInterval time.Duration
	EOETimeout     time.Duration

	// Paths is where the host's procfs is, for the audit listeners of
	// /proc/net/netlink (lean records). The command's loginuid is written
	// through the real /proc/self: it is our own thread's.
	Paths host.Paths

	// StateDir holds the saved audit state of a running source, so that
	// a run after a crash restores what the crashed one found ("" =
	// /run/auperf).
	StateDir string

	// Warn, when set, is told what arises while the source runs and the
	// user should read at once (another process asking to become the
	// audit daemon). Without it such lines join Warnings.
	Warn func(string)
}

func (c *Config) fill() {
	if c.Events == nil {
		c.Events = decode.DefaultEvents
	}
	if c.Archs == nil {
		c.Archs = defaultArchs()
	}
	if c.Key == "" {
		c.Key = DefaultKey
	}
	if c.BacklogWaitTime == 0 {
		c.BacklogWaitTime = DefaultBacklogWaitTime
	}
	if c.RcvBuf == 0 {
		c.RcvBuf = DefaultRcvBuf
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = time.Second
	}
	if c.EOETimeout == 0 {
		c.EOETimeout = 2 * time.Second
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
}

// defaultArchs: the native arch and its 32-bit compat ABI (i386 on
// x86_64, arm on arm64; a b32 rule is harmless on a kernel without compat
// support: nothing matches it).
func defaultArchs() []decode.Arch {
	a := decode.NativeArch()
	if c, ok := decode.CompatArch(a); ok {
		return []decode.Arch{a, c}
	}
	return []decode.Arch{a}
}

// namesFor returns the syscall names of event in arch a's table.
func namesFor(a decode.Arch, event string) []string {
	if a.IsCompat() {
		return decode.CompatNames(a, event)
	}
	if _, ok := decode.SyscallNumber(a, event); ok {
		return []string{event}
	}
	return nil
}
