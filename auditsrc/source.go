// The audit source as the rest of auperf sees it: its constructor, which
// refuses what cannot work before anything is touched, and the source
// contract (Attach, Run, Close, Stats, Warnings; see internal/source).
// The work is done in session.go (taking and restoring audit), loop.go
// (the read loop), reader.go and reassembly.go (records to events),
// rules.go, lean.go and tree.go.

package auditsrc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/decode"
	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/filter"
	"github.com/auperf/auperf/internal/crash"
	"github.com/auperf/auperf/internal/source"
)

var _ source.Source = (*Source)(nil)

// ErrLocked is returned when audit is locked (enabled=2) and auperf's
// rules are not already loaded: nothing can be added until a reboot.
var ErrLocked = errors.New("audit is locked (enabled=2, auditctl -e 2) and auperf's rules are not loaded: rules cannot be added until reboot; load them before locking (see `auperf events` for the rules)")

// Source reads syscall events from the kernel audit subsystem.
type Source struct {
	cfg   Config
	rules *ruleSet
	self  int32

	warnings []string
	ready    chan struct{}

	mu      sync.Mutex
	state   source.State
	sess    *session      // set by Attach, nil again after Close
	session atomic.Uint32 // the command's audit session (StartCommand)
	// userFilter, once SetFilter was called, is the whole user filter,
	// matched in user space instead of rules.rest.
	userFilter atomic.Pointer[filter.Spec]
	always     [][]byte // the always rules loaded, once SetFilter changed them

	c counters
}

// counters are the source's counts (see Stats).
type counters struct {
	records, emitted, filtered, self, notOurs, lostTotal, lostKernel, lostBacklog, lostGap, lostIncomplete,
	enobufs, late, lean, leanEnded, malformed atomic.Uint64
	taskFilter atomic.Uint64 // 1 while the task filter is loaded
}

// New validates cfg and reads the kernel's audit state (without changing
// it) so that a source that cannot work is refused before anything is
// attached: unknown syscalls, no permission, audit locked without our rules.
func New(cfg Config) (*Source, error) {
	cfg.fill()
	s := &Source{cfg: cfg, self: int32(os.Getpid()), ready: make(chan struct{})}
	native := decode.NativeArch()
	for _, ev := range slices.Concat(cfg.Events, cfg.B32Events) {
		if _, ok := decode.SyscallNumber(native, ev); !ok {
			return nil, fmt.Errorf("unknown syscall %q for %s", ev, native)
		}
	}
	rs, err := buildRules(ruleConfig{Events: cfg.Events, B32Events: cfg.B32Events, Archs: cfg.Archs, Filter: cfg.Filter,
		Session: cfg.Session, RuleFields: cfg.RuleFields, Key: cfg.Key, Self: s.self})
	if err != nil {
		return nil, err
	}
	s.rules = rs

	st, err := ReadState()
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("audit source needs root (CAP_AUDIT_CONTROL): %w", err)
		}
		return nil, err
	}
	if st.Enabled == 2 && !rs.loaded(st.Rules) {
		return nil, ErrLocked
	}
	s.warnings = stateWarnings(st, cfg)
	return s, nil
}

// stateWarnings says what a user must know about the audit state found.
func stateWarnings(st State, cfg Config) []string {
	var w []string
	if st.Enabled == 0 && !cfg.Filter.Tree {
		// (A traced command is forked after we enable audit: it is seen.)
		w = append(w, "audit was disabled: processes started before audit was first enabled on this boot are never audited, so the audit source cannot see them; boot with audit=1 on the kernel command line to see every process")
	}
	if st.RateLimit != 0 {
		w = append(w, fmt.Sprintf("audit rate_limit is %d records/s: the kernel drops records beyond it (reported as lost)", st.RateLimit))
	}
	if st.PID != 0 && processAlive(int(st.PID)) && cfg.Mode != ModeUnicast {
		w = append(w, fmt.Sprintf("audit daemon pid %d owns audit: reading by multicast alongside it (its log will also hold auperf's events)", st.PID))
		if cfg.Backpressure == BackpressureDrop || cfg.BacklogLimit != 0 {
			w = append(w, fmt.Sprintf("audit backlog_limit (%d) and backlog_wait_time (%d) left as they are: they govern the queue of audit daemon pid %d, not auperf's", st.BacklogLimit, st.BacklogWaitTime, st.PID))
		}
	}
	if st.Enabled == 2 {
		w = append(w, "audit is locked (enabled=2): using the auperf rules already loaded, with their filters")
	}
	return w
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// Warnings are things the user should know about this host's audit state
// (audit off at boot, rate limit, another daemon, lean records, the
// command's session); `run` prints them.
func (s *Source) Warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.warnings)
}

// runtimeWarn tells a warning that arose while the source runs: to
// Config.Warn, or into Warnings.
func (s *Source) runtimeWarn(line string) {
	if s.cfg.Warn != nil {
		s.cfg.Warn(line)
		return
	}
	s.warn("%s", line)
}

func (s *Source) warn(format string, a ...any) {
	s.mu.Lock()
	s.warnings = append(s.warnings, fmt.Sprintf(format, a...))
	s.mu.Unlock()
}

// Rules are the auditctl-style rules the source adds, in order.
func (s *Source) Rules() []string { return s.rules.lines() }

// Ready is closed once the rules are in and records flow: what a process
// does from then on is seen.
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Name is "audit".
func (s *Source) Name() string { return event.SourceAudit }

// Stats returns the source's counters (see internal/source): received is
// audit records; lost is the events reported lost in-stream (in multicast
// mode the kernel's lost records count as they are, an upper bound).
// Details: lost_kernel_records counts records (the kernel's unit);
// lost_backlog (the events among them, as the daemon), lost_sequence_gap
// and lost_incomplete count events.
func (s *Source) Stats() []event.Counter { return s.c.stats() }

func (c *counters) stats() []event.Counter {
	src := event.SourceAudit
	return []event.Counter{
		source.Counter(src, source.Received, c.records.Load()),
		source.Counter(src, source.Emitted, c.emitted.Load()),
		source.Counter(src, source.Filtered, c.filtered.Load()),
		source.Counter(src, source.DroppedSelf, c.self.Load()),
		source.Counter(src, "other_syscalls", c.notOurs.Load()),
		source.Counter(src, source.LostPrefix+"kernel_records", c.lostKernel.Load()),
		source.Counter(src, source.LostPrefix+"backlog", c.lostBacklog.Load()),
		source.Counter(src, source.LostPrefix+"sequence_gap", c.lostGap.Load()),
		source.Counter(src, source.LostPrefix+"incomplete", c.lostIncomplete.Load()),
		source.Counter(src, source.Lost, c.lostTotal.Load()),
		source.Counter(src, "enobufs", c.enobufs.Load()),
		source.Counter(src, "late_records", c.late.Load()),
		source.Counter(src, "malformed_records", c.malformed.Load()),
		source.Counter(src, "lean_records", c.lean.Load()),
		source.Counter(src, "lean_ended_for_reader", c.leanEnded.Load()),
		source.Counter(src, "task_filter", c.taskFilter.Load()),
	}
}

// Attach takes audit (daemon pid or multicast), sets the status it needs
// and adds the rules, so that a command started afterwards is traced from
// its first call. It is idempotent (a second call returns the first's
// result); Run calls it when the caller did not. If Attach fails,
// whatever it changed is already undone.
func (s *Source) Attach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Attach(func() error {
		ss, err := s.attach()
		if err != nil {
			return err
		}
		s.sess = ss
		close(s.ready)
		return nil
	})
}

// Close undoes what Attach changed (rules, audit pid, status): for a
// source that will not Run (another source failed to attach, the command
// could not start), or after Run. It is idempotent; after it, Attach and
// Run return source.ErrClosed.
func (s *Source) Close() error {
	s.mu.Lock()
	ss := s.sess
	s.sess = nil
	s.state.Close()
	s.mu.Unlock()
	if ss == nil {
		return nil
	}
	return ss.close()
}

// Run attaches (unless Attach was called), delivers events to h until ctx
// is done, then deletes its rules, drains what the kernel still holds,
// restores the audit status it found and returns.
func (s *Source) Run(ctx context.Context, h event.Handler) (err error) {
	if err := s.Attach(); err != nil {
		return err
	}
	s.mu.Lock()
	ss := s.sess
	s.mu.Unlock()
	if ss == nil {
		return source.ErrClosed
	}
	defer func() {
		if cerr := ss.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	return ss.loop(ctx, &liveOut{s: s, h: h})
}

// liveOut is where the live source's events go: the command's process
// tree, the user-space part of the filter, then the handler.
type liveOut struct {
	s  *Source
	h  event.Handler
	ev event.Event
}

func (o *liveOut) syscall(ev *event.Event, sys *syscallRecord) {
	crash.Inject("audit")
	s := o.s
	s.feedTree(sys)
	if f := s.userFilter.Load(); f != nil {
		if !f.Match(ev) {
			s.c.filtered.Add(1)
			return
		}
	} else if s.rules.needMatch && !s.rules.rest.Match(ev) {
		s.c.filtered.Add(1)
		return
	}
	s.c.emitted.Add(1)
	o.h(ev)
}

func (o *liveOut) malformed() { o.s.c.malformed.Add(1) }

func (o *liveOut) lost(n uint64, cause string) {
	o.s.c.lostTotal.Add(n)
	event.NewLost(&o.ev, time.Now().UnixNano(), event.SourceAudit, -1, n, cause)
	o.h(&o.ev)
}
