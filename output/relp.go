// RELP, rsyslog's Reliable Event Logging Protocol, as a client: every
// syslog message is a frame the collector acknowledges; a message counts
// as written only once acknowledged, and what was sent but not
// acknowledged when a connection broke is sent again on the next one
// (at least once; the resent frames are counted).
//
// A frame is "TXNR SP COMMAND SP DATALEN [SP DATA] LF": the transaction
// number counts from 1 per connection (the "open" frame) up to
// 999,999,999 and wraps to 1; the collector answers each with "TXNR rsp
// DATALEN 200 OK..." (500 for a refusal). Up to relpWindow frames are in
// flight; the collector answers in order.

package output

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// relpWindow is how many frames may wait for their acknowledgement
// (rsyslog's own omrelp default is 128).
const relpWindow = 128

// relpOffers is the data of our "open" frame.
const relpOffers = "relp_version=0\nrelp_software=auperf\ncommands=syslog"

// relpState is a RELP connection's client state.
type relpState struct {
	r      *bufio.Reader
	txnr   int // the last transaction number used
	resend int // frames sent but not acknowledged when the last connection broke
	carry  int // resend for the next batch (its frames in flight went to the spool)
	last   *batch
	resent atomic.Uint64 // frames sent again after a reconnect (read by counters)
	refuse int           // messages the collector refused (500) since skipped()
	rbuf   []byte        // an answer's data, reused
}

// dialRELP connects (TCP, or TLS for relps) and opens the RELP session.
func (w *syslogWriter) dialRELP(d net.Dialer) error {
	var conn net.Conn
	var raw net.Conn
	if w.s.network == netRELPS {
		tc, c, err := w.dialTLS(d)
		if err != nil {
			return err
		}
		conn, raw = tc, c
	} else {
		c, err := d.Dial("tcp", w.s.addr)
		if err != nil {
			return err
		}
		conn, raw = c, c
	}
	w.conn, w.raw, w.frame = conn, raw.(syscall.Conn), frameRELP
	w.relp.r = bufio.NewReaderSize(conn, 4096)
	w.relp.txnr = 0
	conn.SetDeadline(time.Now().Add(w.s.timeout))
	defer conn.SetDeadline(time.Time{})
	w.wbuf = appendRELPFrame(w.wbuf[:0], w.relp.nextTxnr(), "open", []byte(relpOffers))
	if _, err := conn.Write(w.wbuf); err != nil {
		w.close()
		return fmt.Errorf("RELP open with %s: %w", w.s.addr, err)
	}
	txnr, code, data, err := w.readRsp()
	if err == nil && (txnr != w.relp.txnr || code != 200) {
		err = fmt.Errorf("answer %d %d %q", txnr, code, data)
	}
	if err != nil {
		w.close()
		return fmt.Errorf("RELP open with %s: %w", w.s.addr, err)
	}
	return nil
}

// nextTxnr is the next transaction number: 1..999,999,999, then 1.
func (s *relpState) nextTxnr() int {
	s.txnr++
	if s.txnr > 999999999 {
		s.txnr = 1
	}
	return s.txnr
}

func appendRELPFrame(dst []byte, txnr int, cmd string, data []byte) []byte {
	dst = strconv.AppendInt(dst, int64(txnr), 10)
	dst = append(dst, ' ')
	dst = append(dst, cmd...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	if len(data) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, data...)
	}
	return append(dst, '\n')
}

// readRsp reads one frame from the collector: a "rsp" (its status code
// and text) or a "serverclose", which is an error (the collector ends the
// session).
func (w *syslogWriter) readRsp() (txnr, code int, data []byte, err error) {
	r := w.relp.r
	field := func() (string, error) {
		s, err := r.ReadString(' ')
		if err != nil {
			return "", err
		}
		return s[:len(s)-1], nil
	}
	t, err := field()
	if err != nil {
		return 0, 0, nil, err
	}
	if txnr, err = strconv.Atoi(t); err != nil {
		return 0, 0, nil, fmt.Errorf("bad RELP transaction number %q", t)
	}
	cmd, err := field()
	if err != nil {
		return 0, 0, nil, err
	}
	// DATALEN ends with SP (data follows) or LF (no data).
	var n []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, 0, nil, err
		}
		if c == ' ' || c == '\n' {
			if c == '\n' {
				r.UnreadByte()
			}
			break
		}
		n = append(n, c)
		if len(n) > 9 {
			return 0, 0, nil, errors.New("bad RELP data length")
		}
	}
	size, err := strconv.Atoi(string(n))
	if err != nil || size < 0 || size > 1<<20 {
		return 0, 0, nil, fmt.Errorf("bad RELP data length %q", n)
	}
	if cap(w.relp.rbuf) < size+1 {
		w.relp.rbuf = make([]byte, size+1)
	}
	data = w.relp.rbuf[:size+1]
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, 0, nil, err
	}
	if data[size] != '\n' {
		return 0, 0, nil, errors.New("RELP frame without its trailer")
	}
	data = data[:size]
	if cmd == "serverclose" {
		return txnr, 0, nil, errors.New("the collector closed the RELP session")
	}
	if cmd != "rsp" {
		return 0, 0, nil, fmt.Errorf("unexpected RELP command %q", cmd)
	}
	head, _, _ := bytes.Cut(data, []byte("\n"))
	codeStr, _, _ := bytes.Cut(head, []byte(" "))
	if code, err = strconv.Atoi(string(codeStr)); err != nil {
		return 0, 0, nil, fmt.Errorf("bad RELP answer %q", head)
	}
	return txnr, code, data, nil
}

// writeRELP sends the messages of b from pos, up to relpWindow frames in
// flight, and returns the position after the last one acknowledged. A
// broken connection is closed; the next call, on a new one, sends the
// unacknowledged frames again.
func (w *syslogWriter) writeRELP(b *batch, pos int) (int, error) {
	st := &w.relp
	if b != st.last {
		st.last, st.resend, st.carry = b, st.carry, 0
	}
	type inflight struct{ txnr, msg int }
	var win []inflight
	next := pos // next message to send
	acked := pos
	fail := func(err error) (int, error) {
		st.resend = max(st.resend, next-acked)
		w.close()
		return acked, err
	}
	deadline := time.Now().Add(w.s.timeout)
	w.conn.SetDeadline(deadline)
	defer func() {
		if w.conn != nil {
			w.conn.SetDeadline(time.Time{})
		}
	}()
	for acked < len(b.ends) {
		// Fill the window, in one write.
		w.wbuf = w.wbuf[:0]
		for next < len(b.ends) && len(win) < relpWindow {
			t := st.nextTxnr()
			w.wbuf = appendRELPFrame(w.wbuf, t, "syslog", b.message(next))
			win = append(win, inflight{t, next})
			if st.resend > 0 {
				st.resend--
				st.resent.Add(1)
			}
			next++
		}
		if len(w.wbuf) > 0 {
			if _, err := w.conn.Write(w.wbuf); err != nil {
				return fail(err)
			}
		}
		// Take one answer (the oldest frame's); a frame answered, the
		// deadline moves on.
		txnr, code, _, err := w.readRsp()
		if err != nil {
			return fail(err)
		}
		if len(win) == 0 || txnr != win[0].txnr {
			return fail(fmt.Errorf("RELP answer for transaction %d, want %d", txnr, win[0].txnr))
		}
		if code != 200 {
			// Refused (too large, say): it never will be taken.
			st.refuse++
		}
		win = win[1:]
		acked++
		w.conn.SetDeadline(time.Now().Add(w.s.timeout))
	}
	return acked, nil
}

// carryResend makes the first n frames of the next batch written count as
// resent: the batch in flight went to the spool (or a restart found a
// write under way), and its replay starts with them.
func (w *syslogWriter) carryResend(n int) {
	if w.s.network == netRELP || w.s.network == netRELPS {
		w.relp.carry, w.relp.last = n, nil
	}
}

// closeRELP ends the session politely: "close", and its answer for a
// moment (the collector then closes).
func (w *syslogWriter) closeRELP() {
	if w.relp.r == nil {
		return
	}
	w.conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := w.conn.Write(appendRELPFrame(nil, w.relp.nextTxnr(), "close", nil)); err == nil {
		w.readRsp()
	}
	w.relp.r = nil
}
