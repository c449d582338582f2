// The read loop: recvmmsg batches from the audit socket into the reader,
// the EOE timeout, the kernel's lost counter polled, lean mode ended when
// another reader appears, and at the end the drain of what the kernel
// still holds after our rules are gone.

package auditsrc

import (
	"context"
	"fmt"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// Reading in batches.
const (
	// recvBatchSize is how many messages one recvmmsg takes.
	recvBatchSize = 64
	// drainMax bounds the messages read in one go, so that the EOE
	// timeout and the lost-counter poll still run under a flood.
	drainMax = 8192
	// drainPause is how long the reader sleeps after reading: the socket
	// buffer (Config.RcvBuf, 16 MiB) holds several thousand records, that
	// is, tens of milliseconds at 600,000 records/s, so the pause costs
	// latency only, never records.
	drainPause = 2 * time.Millisecond
	// minPauseRcvBuf is the socket buffer the pause needs: without
	// SO_RCVBUFFORCE (CAP_NET_ADMIN) the kernel caps it at rmem_max,
	// a few hundred records, and the reader must not wait at all.
	minPauseRcvBuf = 4 << 20
)

// loop reads records until ctx is done, then drains.
func (ss *session) loop(ctx context.Context, out emitter) (err error) {
	s := ss.s
	r := newReader(newAssembler(s.rules.syscallSet, s.self, &s.c, out), readerConfig{Key: s.cfg.Key,
		GapAny: ss.locked, Unicast: ss.unicast, Lean: ss.lean, EOETimeout: s.cfg.EOETimeout})
	defer func() {
		if err != nil {
			// Deliver what was read, complete or not, and the gaps.
			r.finish()
		}
	}()
	batch := newMsgBatch(recvBatchSize, unix.NLMSG_HDRLEN+libaudit.AuditMessageMaxLength+64)
	lastStatus := time.Now()
	lastFlush := lastStatus

	// readAll drains the socket (up to a bound, so that timers run) and
	// reports whether it read anything.
	readAll := func() (bool, error) {
		now := time.Now() // one clock read per wakeup: arrival times only bound EOE waits
		read := false
		for i := 0; i < drainMax/recvBatchSize; i++ {
			n, err := ss.reader.recvBatch(batch)
			if err == unix.EAGAIN {
				return read, nil
			}
			if err == unix.ENOBUFS {
				// The socket overflowed: records are gone; the
				// serial gaps say how many events.
				s.c.enobufs.Add(1)
				continue
			}
			if err != nil {
				return read, fmt.Errorf("read audit socket: %w", err)
			}
			read = read || n > 0
			for j := range n {
				if m := batch.message(j); m != nil {
					r.message(m, now)
				}
			}
			if n < recvBatchSize {
				return read, nil // drained: no EAGAIN round trip
			}
		}
		return read, nil
	}
	pollLost := func() {
		ss.ctlMu.Lock()
		st, err := getStatus(ss.ctl)
		ss.ctlMu.Unlock()
		if err != nil {
			return
		}
		d := st.Lost - ss.lostBase // the kernel's counter is 32 bits and wraps
		ss.lostBase = st.Lost
		if d >= 1<<31 {
			d = 0 // reset by someone (AUDIT_STATUS_LOST): not a loss of ours
		}
		r.kernelLost(uint64(d), time.Now())
	}

	for ctx.Err() == nil {
		ready, err := ss.reader.wait(100)
		if err != nil {
			return err
		}
		if ready {
			read, err := readAll()
			if err != nil {
				return err
			}
			if read {
				// Let records pile up before the next read: one
				// wakeup per few hundred records instead of one per
				// record, which on a small host takes CPU from the
				// audited processes and kauditd.
				time.Sleep(ss.pause)
			}
		}
		now := time.Now()
		if now.Sub(lastFlush) >= 250*time.Millisecond {
			r.flushOlder(now.Add(-s.cfg.EOETimeout))
			lastFlush = now
		}
		if now.Sub(lastStatus) >= s.cfg.StatusInterval {
			pollLost()
			lastStatus = now
			if ss.lean && !noOtherReader(s.cfg.Paths) {
				// Someone else reads audit now: give them full events.
				if err := ss.endLean(r); err != nil {
					return err
				}
			}
		}
	}

	// Stop: no new events, then take what the kernel still holds.
	if err := ss.removeRules(); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ready, err := ss.reader.wait(300)
		if err != nil {
			return err
		}
		if !ready {
			ss.ctlMu.Lock()
			st, err := getStatus(ss.ctl)
			ss.ctlMu.Unlock()
			if err == nil && st.Backlog > 0 {
				continue
			}
			break
		}
		if _, err := readAll(); err != nil {
			return err
		}
	}
	pollLost()
	r.finish()
	return nil
}
