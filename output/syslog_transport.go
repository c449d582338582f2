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

func (w *syslogWriter) close() error {
	if w.conn == nil {
		return nil
	}
	if w.frame == frameRELP {
		w.closeRELP()
	}
	err := w.conn.Close()
	w.conn, w.raw = nil, nil
	return err
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

// peerClosed reports whether the stream peer has closed or reset the
// connection, by peeking without consuming (the peer never sends
// anything we read). A write into such a connection would still succeed
// once, into the kernel's buffer, and be lost.
func (w *syslogWriter) peerClosed() bool {
	if w.raw == nil {
		return false
	}
	rc, err := w.raw.SyscallConn()
	if err != nil {
		return false
	}
	closed, unread := false, false
	var buf [1]byte
	rc.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || (err != nil && err != unix.EAGAIN && err != unix.EINTR)
		unread = n > 0 && err == nil
		return true
	})
	if tc, ok := w.conn.(*tls.Conn); ok && unread {
		// A TLS 1.3 server sends session tickets after the handshake
		// (and close_notify when it stops): bytes we never read, in
		// front of the end of the stream. Let TLS take them.
		return tlsPeerClosed(tc)
	}
	return closed
}

// tlsPeerClosed reads what the TLS peer sent (post-handshake messages,
// an alert, application data, all discarded) until nothing more arrives
// for a moment, and reports whether the stream ended. A read timeout
// leaves the connection usable.
func tlsPeerClosed(tc *tls.Conn) bool {
	tc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	defer tc.SetReadDeadline(time.Time{})
	var buf [512]byte
	for {
		_, err := tc.Read(buf[:])
		if err == nil {
			continue
		}
		var ne net.Error
		return !errors.As(err, &ne) || !ne.Timeout()
	}
}

func (w *syslogWriter) write(b *batch, pos int) (int, error) {
	if w.conn != nil && w.frame != frameNone && w.frame != frameRELP && w.peerClosed() {
		w.close()
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
				w.close()
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
	if err == nil {
		return len(b.ends), nil
	}
	// Frames wholly written count as sent; the peer drops a partial one
	// when the connection closes, so it is sent again.
	done := 0
	for done < len(w.frameEnds) && w.frameEnds[done] <= n {
		done++
	}
	w.close()
	return pos + done, err
}
