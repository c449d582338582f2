package output

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/crash"
)

// writer is what a sink does with its batches, on the sink's own goroutine.
type writer interface {
	// write delivers b from pos on and returns how far it got. For a
	// byte sink (files, stdout) pos counts bytes and the batch is done at
	// len(b.buf); for a message sink (syslog) it counts messages and the
	// batch is done at len(b.ends). An error leaves the rest for a retry.
	write(b *batch, pos int) (int, error)
	// messages reports whether pos counts messages.
	messages() bool
	// skipped returns (and forgets) how many messages write passed over
	// because the transport can never take them; they count as dropped.
	skipped() int
	// maintain does periodic work (fsync) and returns when it wants to be
	// called again (zero: not needed).
	maintain(now time.Time) time.Time
	reopen() error
	close() error
}

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// sink is one output: its queue, its writer goroutine and its counters.
type sink struct {
	spec *sinkSpec
	name string // counter source: "output:" + spec without query
	w    writer
	pool *batchPool

	q        chan *batch
	block    bool // Options.Block: wait, never drop
	reopenCh chan struct{}
	abort    chan struct{} // closed when Close gives up waiting
	done     chan struct{}

	received, written, dropped, errors, truncated atomic.Uint64

	// Owned by the sink goroutine.
	pending      []*batch
	pendingBytes int
	pos          int // progress in pending[0]
	backoff      time.Duration
	retryAt      time.Time
	lastErr      atomic.Value // error, for Close's report
	onFatal      func(error)  // Options.OnFatal
	fatal        bool         // told onFatal: what comes is dropped
	notify       func(string) // Options.Notify
	sp           *spool       // the disk spool (?spool=DIR), or nil
	replaying    *batch       // the spool record being written (pending[0])
	headPooled   bool         // replaying is a pool batch made the spool's head (spill)
	failing      bool         // told notify that writes fail
	droppedAt    uint64       // dropped when failing began
}

func newSink(spec *sinkSpec, w writer, pool *batchPool) *sink {
	return &sink{
		spec:     spec,
		name:     "output:" + spec.name,
		w:        w,
		pool:     pool,
		q:        make(chan *batch, spec.queue),
		reopenCh: make(chan struct{}, 1),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// offer hands b to the sink without ever blocking; the caller holds a
// reference for it. A full queue drops the batch, counted.
func (s *sink) offer(b *batch) {
	if s.block {
		s.q <- b
		return
	}
	select {
	case s.q <- b:
	default:
		s.dropped.Add(uint64(b.n))
		s.pool.release(b)
	}
}

func (s *sink) counters() []event.Counter {
	c := []event.Counter{
		{Source: s.name, Name: "received", Value: s.received.Load()},
		{Source: s.name, Name: "written", Value: s.written.Load()},
		{Source: s.name, Name: "dropped", Value: s.dropped.Load()},
		{Source: s.name, Name: "errors", Value: s.errors.Load()},
	}
	if s.spec.kind == kindSyslog {
		c = append(c, event.Counter{Source: s.name, Name: "truncated", Value: s.truncated.Load()})
	}
	if w, ok := s.w.(*syslogWriter); ok && (s.spec.network == netRELP || s.spec.network == netRELPS) {
		// written is what the collector acknowledged; resent, frames
		// sent again after a reconnect (at least once: the collector
		// may hold them twice).
		c = append(c, event.Counter{Source: s.name, Name: "resent", Value: w.relp.resent.Load()})
	}
	if w, ok := s.w.(*syslogWriter); ok && (s.spec.network == netTCP || s.spec.network == netTLS) {
		// Frames written whose connection broke before the peer's TCP
		// acknowledged them: possibly lost, not dropped (some may have
		// arrived).
		c = append(c, event.Counter{Source: s.name, Name: "possibly_lost", Value: w.flight.lost.Load()})
	}
	if sp := s.sp; sp != nil {
		c = append(c,
			event.Counter{Source: s.name, Name: "spooled", Value: sp.spooled.Load()},
			event.Counter{Source: s.name, Name: "replayed", Value: sp.replayed.Load()},
			event.Counter{Source: s.name, Name: "spool_bytes", Value: uint64(max(0, sp.bytes.Load()))},
			event.Counter{Source: s.name, Name: "spool_torn", Value: sp.torn.Load()})
	}
	return c
}

// run is the sink goroutine: it takes batches off the queue, writes them,
// and on failure keeps them (up to spec.buffer bytes) for a retry with
// backoff, so that a full disk or a dead peer costs the oldest events,
// counted, and never blocks the pipeline or another sink.
func (s *sink) run() {
	defer close(s.done)
	defer func() {
		if s.sp != nil {
			s.sp.close()
		}
	}()
	defer crash.Recover() // runs first: a panic is handled before the others go on
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	q := s.q
	for {
		now := time.Now()
		if s.work() && !now.Before(s.retryAt) {
			s.drain(now, q)
		}
		if q == nil && (!s.work() || s.sp != nil && s.failing) {
			// Closed, and everything written (the spool too), or the
			// peer is failing and what is left is spooled for the
			// next start.
			s.spill(0)
			break
		}
		wake := s.w.maintain(now)
		if s.work() && (wake.IsZero() || s.retryAt.Before(wake)) {
			wake = s.retryAt
		}
		if !wake.IsZero() {
			d := time.Until(wake)
			if d < time.Millisecond {
				d = time.Millisecond
			}
			timer.Reset(d)
		} else {
			timer.Reset(time.Hour)
		}
		take := q
		if s.block && s.pendingBytes >= s.spec.buffer {
			// Full: take nothing more, so that the writer waits.
			take = nil
		}
		select {
		case b, ok := <-take:
			if !ok {
				q = nil
				continue
			}
			crash.Inject("sink")
			s.push(b)
		case <-s.reopenCh:
			if err := s.w.reopen(); err != nil {
				s.fail(err, time.Now())
			}
		case <-timer.C:
		case <-s.abort:
			s.spill(0)
			for _, b := range s.pending {
				if b != s.replaying { // (still in the spool)
					s.dropLeft(b)
				}
			}
			s.pending = nil
			if q != nil {
				for b := range q {
					if s.sp != nil {
						s.toSpool(b, 0)
						continue
					}
					s.dropped.Add(uint64(b.n))
					s.pool.release(b)
				}
			}
			return
		}
	}
}

// dropLeft counts what of b (possibly pending[0], partly written) was not
// delivered, and releases it.
func (s *sink) dropLeft(b *batch) {
	left := b.n
	if s.w.messages() && len(s.pending) > 0 && b == s.pending[0] {
		left -= s.pos
	}
	s.dropped.Add(uint64(left))
	s.pool.release(b)
}

func (s *sink) push(b *batch) {
	if s.fatal {
		// Nobody will ever read it (also in Block mode: never wait).
		s.dropped.Add(uint64(b.n))
		s.pool.release(b)
		return
	}
	if s.sp != nil && !s.sp.empty() {
		// Older events wait in the spool: this batch goes after them.
		s.toSpool(b, 0)
		return
	}
	s.pending = append(s.pending, b)
	s.pendingBytes += len(b.buf)
	if s.sp != nil && s.pendingBytes > s.spec.buffer {
		// Over the memory bound: everything not being written goes
		// to disk, in order, and what comes next follows it there.
		s.spill(1)
		return
	}
	// Over the bound: drop the oldest batch that nothing was written of
	// (dropping a half-written one would leave half a line in a file).
	for !s.block && s.pendingBytes > s.spec.buffer && len(s.pending) > 1 {
		i := 0
		if s.pos > 0 {
			i = 1
		}
		old := s.pending[i]
		s.pendingBytes -= len(old.buf)
		s.dropped.Add(uint64(old.n))
		s.pool.release(old)
		copy(s.pending[i:], s.pending[i+1:])
		s.pending[len(s.pending)-1] = nil
		s.pending = s.pending[:len(s.pending)-1]
	}
}

// work reports whether the sink has something to write: pending batches,
// or spooled ones.
func (s *sink) work() bool {
	return len(s.pending) > 0 || s.sp != nil && !s.sp.empty()
}

// toSpool appends the messages of b from message from on to the spool
// (counted dropped when the spool refuses them) and releases b.
func (s *sink) toSpool(b *batch, from int) {
	if err := s.sp.put(b, from); err != nil {
		s.dropped.Add(uint64(len(b.ends) - from))
		s.errors.Add(1)
		s.lastErr.Store(errBox{err})
	}
	if b != s.replaying {
		s.pool.release(b)
	}
}

// spill moves the pending batches to the spool, in order, keeping the
// first keep ones (a batch being written stays: the spool holds only what
// comes after it). The spool's own record in flight is not spooled again.
func (s *sink) spill(keep int) {
	if s.sp == nil {
		return
	}
	if keep == 0 && len(s.pending) > 0 && s.pending[0] == s.replaying {
		keep = 1 // still in the spool, replay resumes there
	}
	if keep == 1 && s.pending[0] != s.replaying && s.sp.empty() {
		// The batch being written goes to disk too, whole, as the
		// spool's first record, which it then is being replayed as
		// (its progress kept with the spool's): a crash while the
		// collector is down or slow loses none of it, and replay after
		// a restart resumes where it got.
		b := s.pending[0]
		if err := s.sp.put(b, 0); err == nil {
			s.replaying, s.headPooled = b, true
			s.sp.progress(s.pos, true)
		}
	}
	if keep == 0 && s.pos > 0 && len(s.pending) > 0 {
		// Half written: its rest goes to the spool, before the others.
		s.toSpool(s.pending[0], s.pos)
		s.pendingBytes -= len(s.pending[0].buf)
		s.pending, s.pos = s.pending[1:], 0
	}
	keep = min(keep, len(s.pending))
	for _, b := range s.pending[keep:] {
		s.pendingBytes -= len(b.buf)
		s.toSpool(b, 0)
	}
	clear(s.pending[keep:])
	s.pending = s.pending[:keep]
}

// loadSpool puts the next spooled record in front, when nothing else is
// pending; it reports whether there is something to write.
func (s *sink) loadSpool() bool {
	if len(s.pending) > 0 {
		return true
	}
	if s.sp == nil {
		return false
	}
	b := s.sp.next()
	if b == nil {
		return false
	}
	s.replaying = b
	s.pending = append(s.pending, b)
	s.pendingBytes += len(b.buf)
	// After a restart: resume inside the record, and what a write under
	// way when the last process died may have sent goes out again,
	// counted as resent.
	from, maybeSent := s.sp.resume(len(b.ends))
	s.pos = from
	if w, ok := s.w.(*syslogWriter); ok && maybeSent > 0 {
		w.carryResend(maybeSent)
	}
	return true
}

// drain writes what is pending until it is all written or a write fails
// (q: the queue, nil once closed).
func (s *sink) drain(now time.Time, q chan *batch) {
	for s.loadSpool() {
		select {
		case <-s.abort:
			return // Close gave up waiting: no more writes
		default:
		}
		b := s.pending[0]
		if b == s.replaying {
			s.sp.progress(s.pos, true)
		}
		pos, err := s.writeTaking(b, q)
		if b == s.replaying && pos < len(b.ends) {
			s.sp.progress(pos, false)
		}
		if s.w.messages() {
			skip := s.w.skipped()
			s.written.Add(uint64(pos - s.pos - skip))
			if skip > 0 {
				s.dropped.Add(uint64(skip))
				s.errors.Add(uint64(skip))
			}
		}
		s.pos = pos
		end := len(b.buf)
		if s.w.messages() {
			end = len(b.ends)
		}
		if pos >= end {
			if !s.w.messages() {
				s.written.Add(uint64(b.n))
			}
			s.pendingBytes -= len(b.buf)
			copy(s.pending, s.pending[1:])
			s.pending[len(s.pending)-1] = nil
			s.pending = s.pending[:len(s.pending)-1]
			s.pos = 0
			if b == s.replaying {
				s.sp.done(b)
				s.replaying = nil
				if s.headPooled {
					s.headPooled = false
					s.pool.release(b)
				}
			} else {
				s.pool.release(b)
			}
			s.backoff = 0
			if s.failing {
				s.failing = false
				s.tell(fmt.Sprintf("output %s: writing again (%d events dropped while it failed)", s.spec.name, s.dropped.Load()-s.droppedAt))
			}
			continue
		}
		if err == nil {
			continue // short write without error: go on
		}
		s.fail(err, now)
		return
	}
}

// writeTaking writes b from s.pos on. With a spool, the write runs on its
// own goroutine while this one takes the batches queued meanwhile (q, nil
// once closed): a collector slower than the event rate fills the memory
// buffer and then the spool, not the queue, whose overflow is dropped.
// Only b and the writer are touched by the write; pushing keeps
// pending[0] (b) where it is.
func (s *sink) writeTaking(b *batch, q chan *batch) (int, error) {
	if s.sp == nil || q == nil {
		return s.w.write(b, s.pos)
	}
	type result struct {
		pos int
		err error
	}
	done := make(chan result, 1)
	from := s.pos
	go func() {
		defer crash.Recover()
		pos, err := s.w.write(b, from)
		done <- result{pos, err}
	}()
	for {
		select {
		case r := <-done:
			return r.pos, r.err
		case nb, ok := <-q:
			if !ok {
				q = nil // the run loop sees it closed too
				continue
			}
			s.push(nb)
		}
	}
}

func (s *sink) tell(line string) {
	if s.notify != nil {
		s.notify(line)
	}
}

func (s *sink) fail(err error, now time.Time) {
	s.errors.Add(1)
	s.lastErr.Store(errBox{err})
	if s.spec.kind == kindStdout && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EIO)) && !s.fatal {
		// Nobody reads stdout any more (a closed pipe; a terminal
		// that went away gives EIO): no retry can help.
		s.fatal = true
		if s.onFatal != nil {
			s.onFatal(fmt.Errorf("stdout: its reader went away (%v)", errors.Unwrap(err)))
		}
	}
	if !s.failing && !s.fatal {
		s.failing, s.droppedAt = true, s.dropped.Load()
		s.tell(fmt.Sprintf("output %s: %v: retrying; events past its buffer are dropped and counted", s.spec.name, err))
	}
	if s.fatal {
		for _, b := range s.pending {
			s.dropLeft(b)
		}
		s.pending, s.pendingBytes, s.pos = nil, 0, 0
		return
	}
	if s.sp != nil && s.sp.empty() {
		// Everything not written goes to disk now, also the batch
		// being written (from where it got): a crash while the peer
		// is down loses nothing the spool could hold. Its frames in
		// flight are counted as resent when it is replayed. (With
		// newer events in the spool already, the batch being written
		// is older than all of them and stays in memory: the spool
		// only appends.)
		if w, ok := s.w.(*syslogWriter); ok && len(s.pending) > 0 {
			w.carryResend(w.relp.resend)
		}
		s.spill(0)
	}
	if s.backoff == 0 {
		s.backoff = minBackoff
	} else if s.backoff *= 2; s.backoff > maxBackoff {
		s.backoff = maxBackoff
	}
	s.retryAt = now.Add(s.backoff)
}

type errBox struct{ error }
