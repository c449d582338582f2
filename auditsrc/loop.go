// The read loop: recvmmsg batches from the audit socket into the reader,
// the EOE timeout, the kernel's lost counter polled, lean mode ended when
// another reader appears, and at the end the drain of what the kernel
// still holds after our rules are gone.

package auditsrc

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
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
	// latency only, never records. 5 ms rather than 2: fewer wakeups
	// (each a context switch on a busy host) cut auperf's CPU per event
	// by about a tenth in make bench (0.71 -> 0.64 CPU s per 300,000
	// events, the bare reader 0.38-0.41) at no cost to the traced rate.
	drainPause = 5 * time.Millisecond
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
	pollLost := func() error {
		ss.ctlMu.Lock()
		st, err := getStatus(ss.ctl)
		ss.ctlMu.Unlock()
		if err != nil {
			return nil
		}
		if err := ss.pidTaken(st.PID); err != nil {
			return err
		}
		d := st.Lost - ss.lostBase // the kernel's counter is 32 bits and wraps
		ss.lostBase = st.Lost
		if d >= 1<<31 {
			d = 0 // reset by someone (AUDIT_STATUS_LOST): not a loss of ours
		}
		r.kernelLost(uint64(d), time.Now())
		return nil
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
			for _, pid := range r.replacedBy {
				ss.daemonRefused(pid)
			}
			r.replacedBy = r.replacedBy[:0]
			if err := pollLost(); err != nil {
				return err
			}
			lastStatus = now
			if (ss.lean || s.c.taskFilter.Load() == 1) && !noOtherReader(s.cfg.Paths) {
				// Someone else reads audit now: give them full
				// events, and new processes audit contexts.
				if ss.lean {
					if err := ss.endLean(r); err != nil {
						return err
					}
				}
				if err := ss.endTaskFilter(); err != nil {
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
	err = pollLost()
	r.finish()
	return err
}

// pidTaken is the error of a source that was the audit daemon and is no
// longer: on kernels that let a new daemon replace a live one (newer ones
// refuse, see daemonRefused), the records now go to that process, and
// the source would trace nothing without knowing it.
func (ss *session) pidTaken(pid uint32) error {
	if !ss.ownPID || pid == uint32(os.Getpid()) {
		return nil
	}
	ss.ownPID, ss.pidLost = false, true // not ours to hand back, nor the status fields
	return fmt.Errorf("the audit pid was taken by %s: audit records now go to it and auperf receives none (run auperf again: next to a daemon it reads by multicast)", describePID(pid))
}

// daemonRefused tells the user, once per process, that pid asked to
// become the audit daemon while this source is it: the kernel refused it
// (an auditd starting now fails with "Unable to set audit pid").
func (ss *session) daemonRefused(pid uint32) {
	if pid == uint32(os.Getpid()) || slices.Contains(ss.refused, pid) {
		return
	}
	ss.refused = append(ss.refused, pid)
	ss.s.runtimeWarn(fmt.Sprintf("%s asked to become the audit daemon; the kernel refused it because auperf is the daemon now: start it again after auperf stops, or stop auperf first (auperf reads by multicast next to a daemon)", describePID(pid)))
}

// describePID names a process for a message: "process 812 (auditd)", or
// "process 812" when it is gone.
func describePID(pid uint32) string {
	if pid == 0 {
		return "no process"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Sprintf("process %d", pid)
	}
	return fmt.Sprintf("process %d (%s)", pid, strings.TrimSpace(string(b)))
}
