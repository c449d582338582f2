package output

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/crash"
)

// Options are the defaults that specs' query parameters override, and the
// process-wide settings of a Fanout. Zero values take the documented
// defaults.
type Options struct {
	Stdout       io.Writer     // where json/text without a path go (os.Stdout)
	FileMode     os.FileMode   // mode of created files (0640)
	FlushDelay   time.Duration // longest wait of an event in a batch (200ms); <0: hand over every event at once
	BatchBytes   int           // a batch is handed over when it reaches this size (32 KiB)
	QueueBatches int           // batches queued per sink (64)
	RetryBuffer  int           // bytes a failing sink keeps for retry (4 MiB)
	DialTimeout  time.Duration // syslog connect and write timeout (5s)
	CloseTimeout time.Duration // how long Close waits for sinks to drain (5s)
	Hostname     string        // syslog HOSTNAME for events without one (os.Hostname)
	// Block makes every sink wait instead of dropping: Write blocks
	// while a sink's queue is full, a failing sink keeps what it holds
	// and retries without a bound, and Close waits until everything is
	// written (no CloseTimeout). For offline input (auperf decode), whose
	// source can wait; a live run keeps the bounded, counted queues.
	Block bool
	// OnFatal is told (once per sink, from the sink's goroutine) when a
	// sink cannot go on at all: stdout whose reader went away (EPIPE).
	// Its events from then on are counted as dropped.
	OnFatal func(error)
	// Notify is told (from the sink's goroutine) when a sink starts
	// failing and when it writes again: one line each, not one per
	// error.
	Notify func(string)
}

func (o *Options) setDefaults() {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.FileMode == 0 {
		o.FileMode = 0o640
	}
	if o.FlushDelay == 0 {
		o.FlushDelay = 200 * time.Millisecond
	} else if o.FlushDelay < 0 {
		o.FlushDelay = 0
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 32 << 10
	}
	if o.QueueBatches <= 0 {
		o.QueueBatches = 64
	}
	if o.RetryBuffer <= 0 {
		o.RetryBuffer = 4 << 20
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 5 * time.Second
	}
}

// DefaultSpec is the output when none is given: text for a person at a
// terminal, JSON lines for a program or a file.
func DefaultSpec(stdoutIsTerminal bool) string {
	if stdoutIsTerminal {
		return "text"
	}
	return "json"
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// group is a set of sinks fed the same encoded bytes: all JSON sinks with
// one flush delay share one encoding; a syslog sink is a group of its own.
type group struct {
	format formatKind
	layout event.Layout // json: the args layout
	color  bool
	flush  time.Duration
	sys    *syslogFormat
	sinks  []*sink

	cur     *batch
	started time.Time // when cur got its first event
}

// Fanout writes each event to every output. See the package documentation.
type Fanout struct {
	mu     sync.Mutex
	groups []*group
	// Per args layout: the group JSON is encoded into (others copy it),
	// whether some group needs that JSON, and where it is encoded when
	// no JSON group of that layout takes it.
	jsonGroup [2]*group
	needJSON  [2]bool
	scratch   [2][]byte
	closed    bool

	sinks        []*sink
	pool         *batchPool
	batchBytes   int
	closeWait    time.Duration
	block        bool          // Options.Block: Close waits for every sink
	writeTimeout time.Duration // the longest connect or write timeout of a sink

	stopFlusher chan struct{}
	flusherDone chan struct{}
	onFatal     func(error)
}

// OnFatal is the Options.OnFatal f was opened with.
func (f *Fanout) OnFatal() func(error) { return f.onFatal }

// Open parses specs, creates the files and connects the sockets, and starts
// one goroutine per sink. A bad spec, an unknown option, or an output that
// cannot be created or reached now is an error naming the spec
// (*SpecError), and nothing is left open.
func Open(specs []string, opts Options) (*Fanout, error) {
	opts.setDefaults()
	if len(specs) == 0 {
		return nil, errors.New("no output")
	}
	parsed := make([]*sinkSpec, 0, len(specs))
	for _, raw := range specs {
		s, err := parseSpec(raw, &opts)
		if err != nil {
			return nil, &SpecError{Spec: raw, Err: err}
		}
		if s.kind == kindFile {
			for _, o := range parsed {
				if o.kind == kindFile && filepath.Clean(o.path) == filepath.Clean(s.path) {
					return nil, &SpecError{Spec: raw, Err: fmt.Errorf("%s is named twice (also by %q): each file takes one output", s.path, o.raw)}
				}
			}
		}
		parsed = append(parsed, s)
	}
	f := &Fanout{
		onFatal:     opts.OnFatal,
		batchBytes:  opts.BatchBytes,
		closeWait:   opts.CloseTimeout,
		block:       opts.Block,
		stopFlusher: make(chan struct{}),
		flusherDone: make(chan struct{}),
	}
	free := 8
	for _, s := range parsed {
		// Room for every batch a sink can hold (queue and retry
		// buffer), so that none is dropped to the collector and
		// allocated again.
		free += s.queue + s.buffer/opts.BatchBytes + 2
	}
	f.pool = newBatchPool(opts.BatchBytes, free)

	var writers []writer
	var spools []*spool
	fail := func(s *sinkSpec, err error) (*Fanout, error) {
		for _, w := range writers {
			w.close()
		}
		for _, sp := range spools {
			sp.close()
		}
		return nil, &SpecError{Spec: s.raw, Err: err}
	}
	stdoutTerm := false
	if o, ok := opts.Stdout.(*os.File); ok {
		stdoutTerm = IsTerminal(o)
	}
	for _, s := range parsed {
		var w writer
		switch s.kind {
		case kindStdout:
			w = &streamWriter{w: opts.Stdout}
		case kindFile:
			fw := newFileWriter(s)
			if err := fw.open(); err != nil {
				return fail(s, err)
			}
			// The same file under two names (a link, a linked
			// directory): two writers would interleave.
			for _, o := range writers {
				if ofw, ok := o.(*fileWriter); ok && sameFile(ofw.f, fw.f) {
					fw.close()
					return fail(s, fmt.Errorf("%s is the file %s names too: each file takes one output", s.path, ofw.path))
				}
			}
			w = fw
		case kindSyslog:
			sw, err := newSyslogWriter(s)
			if err != nil {
				return fail(s, err)
			}
			if err := sw.dial(); err != nil {
				if s.spool == "" {
					return fail(s, err)
				}
				// With a spool the user asked for store and
				// forward: start, and keep the events on disk
				// until the collector takes them.
				if opts.Notify != nil {
					opts.Notify(fmt.Sprintf("output %s: %v: spooling to %s until it is reachable", s.name, err, s.spool))
				}
			}
			w = sw
		}
		writers = append(writers, w)
		if s.kind == kindSyslog {
			f.writeTimeout = max(f.writeTimeout, s.timeout)
		}
		sk := newSink(s, w, f.pool)
		if s.spool != "" {
			sp, err := openSpool(s.spool, s.spoolMax)
			if err != nil {
				return fail(s, err)
			}
			spools = append(spools, sp)
			sk.sp = sp
		}
		sk.block = opts.Block
		sk.onFatal, sk.notify = opts.OnFatal, opts.Notify
		f.sinks = append(f.sinks, sk)
		color := s.format == formatText && (s.color == "always" ||
			s.color == "auto" && s.kind == kindStdout && stdoutTerm && os.Getenv("NO_COLOR") == "")
		f.addToGroup(sk, color)
	}
	for _, sk := range f.sinks {
		go sk.run()
	}
	go f.flusher()
	return f, nil
}

func (f *Fanout) addToGroup(sk *sink, color bool) {
	s := sk.spec
	if s.format == formatSyslog {
		f.groups = append(f.groups, &group{format: formatSyslog, layout: s.args, flush: s.flush, sys: newSyslogFormat(s), sinks: []*sink{sk}})
		f.needJSON[s.args] = true
		return
	}
	for _, g := range f.groups {
		if g.format == s.format && g.color == color && g.flush == s.flush && g.layout == s.args {
			g.sinks = append(g.sinks, sk)
			return
		}
	}
	g := &group{format: s.format, layout: s.args, color: color, flush: s.flush, sinks: []*sink{sk}}
	if s.format == formatJSON {
		f.needJSON[s.args] = true
		if f.jsonGroup[s.args] == nil {
			f.jsonGroup[s.args] = g
			// Encode into it first, so that the others can copy.
			f.groups = append([]*group{g}, f.groups...)
			return
		}
	}
	f.groups = append(f.groups, g)
}

// Write encodes ev once per format into the current batches and hands full
// batches to the sinks. It never blocks on a sink (a sink whose queue is
// full loses the batch, counted) and does not keep ev.
func (f *Fanout) Write(ev *event.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	var js [2][]byte
	for l := range js {
		if f.needJSON[l] && f.jsonGroup[l] == nil {
			f.scratch[l] = event.AppendJSONLayout(f.scratch[l][:0], ev, event.Layout(l))
			js[l] = f.scratch[l]
		}
	}
	for _, g := range f.groups {
		if g.cur == nil {
			g.cur = f.pool.get()
		}
		b := g.cur
		if b.n == 0 && g.flush > 0 {
			g.started = time.Now()
		}
		for _, sk := range g.sinks {
			sk.received.Add(1)
		}
		switch g.format {
		case formatJSON:
			start := len(b.buf)
			if g == f.jsonGroup[g.layout] {
				b.buf = event.AppendJSONLayout(b.buf, ev, g.layout)
				js[g.layout] = b.buf[start:]
			} else {
				b.buf = append(b.buf, js[g.layout]...)
			}
		case formatText:
			b.buf = event.AppendText(b.buf, ev, g.color)
		case formatSyslog:
			var ok, trunc bool
			b.buf, ok, trunc = g.sys.appendMessage(b.buf, ev, js[g.layout])
			sk := g.sinks[0]
			if !ok {
				sk.dropped.Add(1)
				continue
			}
			if trunc {
				sk.truncated.Add(1)
			}
			b.ends = append(b.ends, int32(len(b.buf)))
		}
		b.n++
	}
	// Hand over only now: js may point into the JSON group's batch, which
	// a sink could finish and recycle as soon as it has it.
	for _, g := range f.groups {
		if b := g.cur; b != nil && (g.flush == 0 || len(b.buf) >= f.batchBytes) {
			f.dispatch(g)
		}
	}
}

// dispatch hands g's current batch to its sinks. f.mu is held.
func (f *Fanout) dispatch(g *group) {
	b := g.cur
	if b == nil || b.n == 0 {
		return
	}
	g.cur = nil
	b.refs.Store(int32(len(g.sinks)))
	for _, sk := range g.sinks {
		sk.offer(b)
	}
}

// flusher hands over batches that have waited their group's flush delay.
func (f *Fanout) flusher() {
	defer close(f.flusherDone)
	defer crash.Recover() // runs first: a panic is handled before the others go on
	period := time.Duration(0)
	for _, g := range f.groups {
		if g.flush > 0 && (period == 0 || g.flush/4 < period) {
			period = g.flush / 4
		}
	}
	if period == 0 {
		<-f.stopFlusher
		return
	}
	period = max(period, time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-f.stopFlusher:
			return
		case now := <-t.C:
			f.mu.Lock()
			for _, g := range f.groups {
				if g.cur != nil && g.cur.n > 0 && now.Sub(g.started) >= g.flush {
					f.dispatch(g)
				}
			}
			f.mu.Unlock()
		}
	}
}

// Flush hands every pending batch to its sinks now (it does not wait for
// them to be written).
func (f *Fanout) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.groups {
		f.dispatch(g)
	}
}

// Stats returns received, written, dropped and errors per sink (and
// truncated for syslog), with Source "output:<spec without options>".
func (f *Fanout) Stats() []event.Counter {
	var c []event.Counter
	for _, sk := range f.sinks {
		c = append(c, sk.counters()...)
	}
	return c
}

// Reopen makes every file sink close and reopen its path (SIGHUP after
// logrotate renamed the files). It does not wait.
func (f *Fanout) Reopen() {
	for _, sk := range f.sinks {
		if sk.spec.kind != kindFile {
			continue
		}
		select {
		case sk.reopenCh <- struct{}{}:
		default: // one is already pending
		}
	}
}

// Close hands over what is batched, waits up to Options.CloseTimeout for
// the sinks to write it, and closes them. What could not be written by
// then is counted as dropped; the error says which sinks lost events or
// failed to close. A sink still blocked in a write CloseTimeout (and two
// syslog timeouts) later, in a write that has no timeout (stdout into a
// pipe nobody reads, a file on a hung NFS mount), is left behind and
// named in the error: Close never hangs.
func (f *Fanout) Close() error {
	if !f.stopIntake() {
		return nil
	}
	stuck := f.waitSinks()
	return f.closeWriters(stuck)
}

// stopIntake dispatches the batches being filled, closes every sink's
// queue and stops the flusher. It reports false when f was closed already.
func (f *Fanout) stopIntake() bool {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return false
	}
	f.closed = true
	for _, g := range f.groups {
		f.dispatch(g)
	}
	for _, sk := range f.sinks {
		close(sk.q)
	}
	f.mu.Unlock()
	close(f.stopFlusher)
	<-f.flusherDone
	return true
}

// waitSinks waits for the sinks to write what they hold, for closeWait.
// Then every sink still writing is told to abort, and waited for another
// closeWait plus two write timeouts: a sink blocked in a socket write
// returns within its write timeout (one dial and one write at most). A
// sink still running after that is blocked in a write without a timeout
// (a pipe nobody reads, a hung NFS mount): it is given up, and returned.
func (f *Fanout) waitSinks() map[*sink]bool {
	if f.block {
		for _, sk := range f.sinks {
			<-sk.done
		}
		return nil
	}
	deadline := time.NewTimer(f.closeWait)
	defer deadline.Stop()
	if f.waitAll(deadline.C) {
		return nil
	}
	for _, sk := range f.running() {
		close(sk.abort)
	}
	deadline.Reset(f.closeWait + 2*f.writeTimeout)
	if f.waitAll(deadline.C) {
		return nil
	}
	stuck := map[*sink]bool{}
	for _, sk := range f.running() {
		stuck[sk] = true
	}
	return stuck
}

// waitAll waits until every sink is done, or expire fires (false).
func (f *Fanout) waitAll(expire <-chan time.Time) bool {
	for _, sk := range f.sinks {
		select {
		case <-sk.done:
		case <-expire:
			return false
		}
	}
	return true
}

// running lists the sinks whose goroutine has not ended.
func (f *Fanout) running() []*sink {
	var out []*sink
	for _, sk := range f.sinks {
		select {
		case <-sk.done:
		default:
			out = append(out, sk)
		}
	}
	return out
}

// closeWriters closes every sink's writer but those stuck (their
// goroutine still uses it) and says what each lost.
func (f *Fanout) closeWriters(stuck map[*sink]bool) error {
	var errs []error
	for _, sk := range f.sinks {
		if stuck[sk] {
			errs = append(errs, fmt.Errorf("output %s is stuck in a write: gave up on it, the events it held are lost uncounted", sk.spec.name))
			continue
		}
		if err := sk.w.close(); err != nil {
			errs = append(errs, fmt.Errorf("close output %s: %w", sk.spec.name, err))
		}
		if n := sk.dropped.Load(); n > 0 {
			err, _ := sk.lastErr.Load().(errBox)
			if err.error != nil {
				errs = append(errs, fmt.Errorf("output %s dropped %d events (last error: %v)", sk.spec.name, n, err.error))
			} else {
				errs = append(errs, fmt.Errorf("output %s dropped %d events", sk.spec.name, n))
			}
		}
	}
	return errors.Join(errs...)
}

// Queued is the batches waiting in each sink's queue, by the sink's
// counter source name ("output:<spec>"): a depth that stays near the
// queue option means the sink cannot keep up.
func (f *Fanout) Queued() map[string]int {
	m := make(map[string]int, len(f.sinks))
	for _, sk := range f.sinks {
		m[sk.name] += len(sk.q)
	}
	return m
}
