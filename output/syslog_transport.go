// Syslog transport: the local socket (datagram, else stream), UDP, TCP
// with RFC 6587 octet counting and TLS (RFC 5425); dialing, reconnecting,
// and the probation of a new connection that catches a server refusing us
// right after it accepted.

package output

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type framing uint8

const (
	frameNone  framing = iota // one message per datagram
	frameOctet                // RFC 6587 octet counting: "LEN SP MSG"
	frameLF                   // local stream socket: MSG LF (a message holds no LF)
	frameRELP                 // RELP: "TXNR syslog LEN MSG LF", acknowledged (relp.go)
)

// syslogWriter sends message batches over one connection, reconnecting on
// failure.
type syslogWriter struct {
	s       *sinkSpec
	tlsConf *tls.Config
	skip    int // datagrams refused as too large since the last skipped()

	conn      net.Conn
	raw       syscall.Conn // the TCP connection under TLS, to detect a closed peer
	frame     framing
	wbuf      []byte
	frameEnds []int
	relp      relpState
	flight    flight // tcp and tls: frames the peer has not acknowledged
}

// flight tracks, for a tcp or tls connection, the frames its collector
// may not have: the kernel's count of bytes the peer's TCP has not
// acknowledged (SIOCOUTQ) against the bytes written on this connection.
// When the connection breaks, those frames are counted possibly lost.
// A peer that closed cleanly (FIN) had read everything it acknowledged: a
// TCP stack resets instead when its program closes with data unread. So
// after a reset, frames acknowledged but maybe unread count too: those in
// the last twice the peer's largest receive window (Linux keeps about
// half its receive buffer out of the window), or 6 MiB (Linux's largest
// default receive buffer) where the kernel does not tell the window
// (before 5.4).
type flight struct {
	sent   int64   // bytes written on this connection (plain text under TLS)
	ends   []int64 // cumulative ends of the frames not known read
	maxWnd int64   // the peer's largest receive window seen
	lost   atomic.Uint64
	stamp  time.Time // of the last pruning
}

// unreadAllowance is how many acknowledged bytes a peer that reset may
// have held unread.
func (f *flight) unreadAllowance() int64 {
	if f.maxWnd == 0 {
		return 6 << 20
	}
	return 2 * f.maxWnd
}

func newSyslogWriter(s *sinkSpec) (*syslogWriter, error) {
	w := &syslogWriter{s: s}
	if s.overTLS() {
		conf := &tls.Config{ServerName: s.serverName, MinVersion: tls.VersionTLS12}
		if s.ca != "" {
			pem, err := os.ReadFile(s.ca)
			if err != nil {
				return nil, fmt.Errorf("read CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no certificate in CA file %s", s.ca)
			}
			conf.RootCAs = pool
		}
		if s.cert != "" {
			cert, err := tls.LoadX509KeyPair(s.cert, s.key)
			if err != nil {
				return nil, fmt.Errorf("load client certificate: %w", err)
			}
			conf.Certificates = []tls.Certificate{cert}
		}
		w.tlsConf = conf
	}
	return w, nil
}

func (w *syslogWriter) messages() bool { return true }
func (w *syslogWriter) skipped() int {
	n := w.skip + w.relp.refuse
	w.skip, w.relp.refuse = 0, 0
	return n
}
func (w *syslogWriter) maintain(time.Time) time.Time { return time.Time{} }
func (w *syslogWriter) reopen() error                { return nil }

// close ends the connection at the end of a run: a tcp or tls peer gets
// up to the sink's timeout to acknowledge what was written, and what it
// has not is counted possibly lost.
func (w *syslogWriter) close() error {
	if w.conn != nil && w.frame == frameOctet {
		for end := time.Now().Add(w.s.timeout); w.unacked() > 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return w.drop(false)
}

// drop ends the connection now: it broke (reset: the peer reset it, or
// a write failed), or it is ending. It counts the tcp or tls frames the
// collector may not have as possibly lost (see flight).
func (w *syslogWriter) drop(reset bool) error {
	if w.conn == nil {
		return nil
	}
	if w.frame == frameRELP {
		w.closeRELP()
	}
	if f := &w.flight; w.frame == frameOctet {
		read := f.sent - int64(w.unacked())
		if reset {
			read -= f.unreadAllowance()
		}
		n := 0
		for _, e := range f.ends {
			if e > read {
				n++
			}
		}
		f.lost.Add(uint64(n))
		f.sent, f.ends, f.maxWnd = 0, f.ends[:0], 0
	}
	err := w.conn.Close()
	w.conn, w.raw = nil, nil
	return err
}

// unacked is how many bytes written on the connection its peer has not
// acknowledged (for TLS, of the encrypted stream: a little more than the
// plain text, so the frames counted possibly lost are never too few). A
// connection whose count cannot be read counts as wholly unacknowledged.
func (w *syslogWriter) unacked() int {
	if w.raw == nil {
		return 0
	}
	rc, err := w.raw.SyscallConn()
	if err != nil {
		return int(w.flight.sent)
	}
	n, ierr := -1, error(nil)
	rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
	if ierr != nil || n < 0 {
		return int(w.flight.sent)
	}
	return n
}

// sentFrames records the frames of one write (ends within wbuf) and
// forgets those the collector has surely read, at most every few
// milliseconds (two system calls) or when many are held.
func (w *syslogWriter) sentFrames(ends []int) {
	f := &w.flight
	for _, e := range ends {
		f.ends = append(f.ends, f.sent+int64(e))
	}
	if len(ends) > 0 {
		f.sent += int64(ends[len(ends)-1])
	}
	now := time.Now()
	if now.Sub(f.stamp) < 5*time.Millisecond && len(f.ends) < 1<<16 {
		return
	}
	f.stamp = now
	if rc, err := w.raw.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				f.maxWnd = max(f.maxWnd, int64(ti.Snd_wnd))
			}
		})
	}
	read := f.sent - int64(w.unacked()) - f.unreadAllowance()
	i := 0
	for i < len(f.ends) && f.ends[i] <= read {
		i++
	}
	f.ends = f.ends[:copy(f.ends, f.ends[i:])]
}

// dial connects. The local socket is tried as a datagram socket first (what
// journald and rsyslog's imuxsock offer), then as a stream socket.
func (w *syslogWriter) dial() error {
	d := net.Dialer{Timeout: w.s.timeout}
	switch w.s.network {
	case netUnix:
		c, err := d.Dial("unixgram", w.s.addr)
		if err == nil {
			w.conn, w.frame = c, frameNone
			return nil
		}
		c, err2 := d.Dial("unix", w.s.addr)
		if err2 != nil {
			return fmt.Errorf("connect to %s: %w", w.s.addr, err)
		}
		w.conn, w.frame = c, frameLF
	case netUDP:
		c, err := d.Dial("udp", w.s.addr)
		if err != nil {
			return err
		}
		w.conn, w.frame = c, frameNone
	case netTCP:
		c, err := d.Dial("tcp", w.s.addr)
		if err != nil {
			return err
		}
		if err := probation(c, min(w.s.timeout, tcpProbation)); err != nil {
			c.Close()
			return fmt.Errorf("connect to %s: %w (is this host allowed to send there?)", w.s.addr, err)
		}
		w.conn, w.raw, w.frame = c, c.(syscall.Conn), frameOctet
	case netTLS:
		tc, c, err := w.dialTLS(d)
		if err != nil {
			return err
		}
		w.conn, w.raw, w.frame = tc, c.(syscall.Conn), frameOctet
	case netRELP, netRELPS:
		return w.dialRELP(d)
	}
	return nil
}

// dialTLS connects over TLS and watches the new connection (probation);
// it returns the TLS connection and the TCP one under it.
func (w *syslogWriter) dialTLS(d net.Dialer) (*tls.Conn, net.Conn, error) {
	c, err := d.Dial("tcp", w.s.addr)
	if err != nil {
		return nil, nil, err
	}
	conf := w.tlsConf.Clone()
	asked := false // set during Handshake, on this goroutine
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked = true
		if len(w.tlsConf.Certificates) > 0 {
			return &w.tlsConf.Certificates[0], nil
		}
		return &tls.Certificate{}, nil // none: the server decides
	}
	tc := tls.Client(c, conf)
	tc.SetDeadline(time.Now().Add(w.s.timeout))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("TLS handshake with %s: %w", w.s.addr, err)
	}
	tc.SetDeadline(time.Time{})
	// A server checks a client certificate it asked for after its
	// handshake (TLS 1.3 always, rsyslog's x509/name in any
	// version), and says no by closing: give it time to.
	wait := tcpProbation
	if asked {
		wait = clientAuthWait
	}
	if err := probation(tc, min(w.s.timeout, wait)); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("TLS with %s: %w (does it accept this client or its certificate?)", w.s.addr, err)
	}
	return tc, c, nil
}

// tcpProbation is how long a new TCP or TLS connection is watched before
// its first write; clientAuthWait, when the TLS server asked for a client
// certificate.
const (
	tcpProbation   = 100 * time.Millisecond
	clientAuthWait = 500 * time.Millisecond
)

// probation watches a new connection for d: a server that accepts it and
// at once closes it (rsyslog with an AllowedSender list that does not hold
// us; a TLS server that refuses our client certificate, or the lack of
// one, after the handshake) is an error here. Otherwise the first batch
// would go into the kernel's buffer, count as written and be discarded
// with the connection, and the same would happen after every reconnect:
// all events lost and none counted. A syslog server sends nothing; a byte
// it does send is ignored.
func probation(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if errors.Is(err, io.EOF) {
		return errors.New("the server closed the connection right after accepting it")
	}
	return fmt.Errorf("the server dropped the connection right after accepting it: %w", err)
}

// peerClosed reports whether the stream peer has closed the connection
// (closed) and whether it reset it (reset) rather than closing it cleanly,
// by peeking without consuming (the peer never sends anything we read).
// A write into such a connection would still succeed once, into the
// kernel's buffer, and be lost.
func (w *syslogWriter) peerClosed() (closed, reset bool) {
	if w.raw == nil {
		return false, false
	}
	rc, err := w.raw.SyscallConn()
	if err != nil {
		return false, false
	}
	unread := false
	var buf [1]byte
	rc.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || (err != nil && err != unix.EAGAIN && err != unix.EINTR)
		reset = err != nil && err != unix.EAGAIN && err != unix.EINTR
		unread = n > 0 && err == nil
		return true
	})
	if tc, ok := w.conn.(*tls.Conn); ok && unread {
		// A TLS 1.3 server sends session tickets after the handshake
		// (and close_notify when it stops): bytes we never read, in
		// front of the end of the stream. Let TLS take them.
		return tlsPeerClosed(tc)
	}
	return closed, reset
}

// tlsPeerClosed reads what the TLS peer sent (post-handshake messages,
// an alert, application data, all discarded) until nothing more arrives
// for a moment, and reports whether the stream ended. A read timeout
// leaves the connection usable.
func tlsPeerClosed(tc *tls.Conn) (closed, reset bool) {
	tc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	defer tc.SetReadDeadline(time.Time{})
	var buf [512]byte
	for {
		_, err := tc.Read(buf[:])
		if err == nil {
			continue
		}
		if isTimeout(err) {
			return false, false
		}
		return true, !errors.Is(err, io.EOF)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (w *syslogWriter) write(b *batch, pos int) (int, error) {
	if w.conn != nil && w.frame != frameNone && w.frame != frameRELP {
		if closed, reset := w.peerClosed(); closed {
			w.drop(reset)
		}
	}
	if w.conn == nil {
		if err := w.dial(); err != nil {
			return pos, err
		}
	}
	if w.frame == frameRELP {
		return w.writeRELP(b, pos)
	}
	if w.frame == frameNone {
		// One deadline for the batch: it bounds a stuck peer, and
		// setting it per datagram cost about as much as the send.
		w.conn.SetWriteDeadline(time.Now().Add(w.s.timeout))
		for i := pos; i < len(b.ends); i++ {
			if _, err := w.conn.Write(b.message(i)); err != nil {
				if errors.Is(err, unix.EMSGSIZE) {
					// Larger than this socket takes: it never will.
					w.skip++
					continue
				}
				w.drop(true)
				return i, err
			}
		}
		return len(b.ends), nil
	}
	w.wbuf, w.frameEnds = w.wbuf[:0], w.frameEnds[:0]
	for i := pos; i < len(b.ends); i++ {
		m := b.message(i)
		if w.frame == frameOctet {
			w.wbuf = strconv.AppendInt(w.wbuf, int64(len(m)), 10)
			w.wbuf = append(w.wbuf, ' ')
			w.wbuf = append(w.wbuf, m...)
		} else {
			w.wbuf = append(w.wbuf, m...)
			w.wbuf = append(w.wbuf, '\n')
		}
		w.frameEnds = append(w.frameEnds, len(w.wbuf))
	}
	w.conn.SetWriteDeadline(time.Now().Add(w.s.timeout))
	n, err := w.conn.Write(w.wbuf)
	// Frames wholly written count as sent; the peer drops a partial one
	// when the connection closes, so it is sent again.
	done := 0
	for done < len(w.frameEnds) && w.frameEnds[done] <= n {
		done++
	}
	if w.frame == frameOctet {
		w.sentFrames(w.frameEnds[:done])
	}
	if err == nil {
		return len(b.ends), nil
	}
	w.drop(!isTimeout(err))
	return pos + done, err
}
