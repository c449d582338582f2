// The live reader: netlink messages from the kernel turned into records
// for the assembler, with what only a live source knows: serial gaps
// (events the kernel numbered and never sent), the boundary where our lean
// exclusions ended, and the kernel's lost counter turned into events.

package auditsrc

import (
	"bytes"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reader turns netlink messages into events.
type reader struct {
	*assembler
	eoeTimeout time.Duration

	gap          gapTracker
	gapOn        bool         // checking serials for gaps
	gapAny       bool         // start with any record (no rule of ours will be added)
	addRuleMark  []byte       // what our rules' CONFIG_CHANGE records say
	unicast      bool         // we are the daemon: kernel loss becomes events
	kernelTotal  uint64       // records the kernel lost since we started
	samples      []lostSample // kernelTotal over time
	reportedLost uint64       // events reported lost from kernelTotal
	replacedBy   []uint32     // pids that asked to become the daemon (AUDIT_REPLACE), not told yet
}

// readerConfig is how a reader starts.
type readerConfig struct {
	Key        string        // our rules' key: gap checks start at their CONFIG_CHANGE
	GapAny     bool          // check gaps from the first record (no rule of ours will be added)
	Unicast    bool          // we are the audit daemon
	Lean       bool          // our lean exclusions are loaded
	EOETimeout time.Duration // how long a group waits for its EOE
}

func newReader(a *assembler, cfg readerConfig) *reader {
	a.lean = cfg.Lean
	return &reader{assembler: a, eoeTimeout: cfg.EOETimeout, gapAny: cfg.GapAny, unicast: cfg.Unicast,
		addRuleMark: []byte(`op=add_rule key="` + cfg.Key + `"`)}
}

// leanEndMark is in the CONFIG_CHANGE of a deleted rule (list=5: the
// exclude list); older kernels wrote op="remove rule".
var leanEndMark, leanEndMarkOld = []byte("op=remove_rule"), []byte(`op="remove rule"`)

// message handles one netlink message from the kernel.
func (r *reader) message(b []byte, now time.Time) {
	h := (*syscall.NlMsghdr)(unsafe.Pointer(&b[0]))
	typ := h.Type
	// 1000-1099 are commands and replies, except AUDIT_LOGIN, a record
	// with a serial of its own; AUDIT_REPLACE is a ping to the daemon,
	// not a record: the kernel sends it when another process asks to
	// become the daemon, with that process's pid.
	if typ == typeReplace {
		if p := b[unix.NLMSG_HDRLEN:]; len(p) >= 4 {
			r.replacedBy = append(r.replacedBy, *(*uint32)(unsafe.Pointer(&p[0])))
		}
		return
	}
	if typ < 1100 && typ != typeLogin {
		return
	}
	body := b[unix.NLMSG_HDRLEN:]
	for len(body) > 0 && (body[len(body)-1] == 0 || body[len(body)-1] == '\n') {
		body = body[:len(body)-1]
	}
	ts, serial, rest, err := splitStamp(body)
	if err != nil {
		return
	}
	r.c.records.Add(1)
	if !r.gapOn && (typ == typeConfigChange && bytes.Contains(rest, r.addRuleMark) || r.gapAny) {
		// Serials are checked for gaps from our first rule's
		// CONFIG_CHANGE on: older records (the kernel's hold queue,
		// events in flight) may have gaps that are nobody's loss of
		// ours. (Not from a time: audit's clock is coarse.)
		r.gapOn = true
	}
	if typ == typeConfigChange && r.awaitLeanEnd && bytes.Contains(rest, []byte("list=5")) &&
		(bytes.Contains(rest, leanEndMark) || bytes.Contains(rest, leanEndMarkOld)) {
		// Our exclusions are gone: events after this one are full.
		r.awaitLeanEnd, r.leanEndSet, r.leanEnd, r.leanEndAt = false, true, serial, now
	}
	if !r.gapOn || r.gap.started && serial == r.gap.last {
		// The next record of the same event (most records): its
		// serial is accounted for.
	} else if d, late := r.gap.add(serial); d > 0 {
		r.c.lostGap.Add(d)
		r.out.lost(d, "sequence_gap")
	} else if late {
		r.c.late.Add(1)
	}
	r.record(record{typ: typ, ts: ts, serial: serial, body: rest}, now)
}

// kernelLost takes d more records the kernel counted lost. In multicast
// mode they are reported as they are (records: an upper bound of the
// events lost, the socket may also have dropped some). As the daemon,
// the kernel's loss is exact and is turned into events: when a SYSCALL
// record cannot be queued the kernel drops the whole event
// (audit_log_exit returns), so an event lost is one record lost, and
// every other lost record is an MMAP, PROCTITLE or EOE missing from an
// event that did arrive. Those are known once their group completes, so
// the count is settled EOETimeout later.
func (r *reader) kernelLost(d uint64, now time.Time) {
	r.c.lostKernel.Add(d)
	if !r.unicast {
		if d > 0 {
			r.out.lost(d, "kernel_records")
		}
		return
	}
	r.kernelTotal += d
	r.samples = append(r.samples, lostSample{now, r.kernelTotal})
	r.settle(now.Add(-r.eoeTimeout - 500*time.Millisecond))
}

type lostSample struct {
	at    time.Time
	total uint64
}

// settle reports the events lost up to the newest sample taken before t.
func (r *reader) settle(t time.Time) {
	i := -1
	for j, s := range r.samples {
		if s.at.Before(t) {
			i = j
		}
	}
	if i < 0 {
		return
	}
	total := r.samples[i].total
	r.samples = r.samples[i:]
	if n := int64(total) - int64(r.auxMissing) - int64(r.reportedLost); n > 0 {
		r.reportedLost += uint64(n)
		r.c.lostBacklog.Add(uint64(n))
		r.out.lost(uint64(n), "backlog")
	}
}

// finish completes every group, accounts for the last serials and settles
// the kernel's loss: the end of a run.
func (r *reader) finish() {
	r.flushOlder(time.Now().Add(time.Hour))
	if d := r.gap.finish(); d > 0 {
		r.c.lostGap.Add(d)
		r.out.lost(d, "sequence_gap")
	}
	if r.unicast {
		r.samples = append(r.samples, lostSample{time.Time{}, r.kernelTotal})
		r.settle(time.Unix(1<<40, 0))
	}
}
