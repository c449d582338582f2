package output

import (
	"bytes"
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
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/event"
)

// sdID is the SD-ID of auperf's structured data element. 32473 is the
// private enterprise number that RFC 5612 reserves for documentation and
// examples; auperf has no number of its own.
const sdID = "auperf@32473"

// syslogFormat turns events into syslog messages (without transport
// framing) for one sink.
type syslogFormat struct {
	rfc3164  bool
	cee      bool
	facility int
	severity int
	hostname string // used when the event has no HostName
	procid   string
	msgMax   int

	// The header's time to the second, as last formatted: events come
	// in time order, so most reuse it.
	stampSec int64
	stamp    []byte

	scratch []byte      // SD value escaping
	body    []byte      // re-encoding a long event
	args    []event.Arg // shortened copies of a long event's args
}

func newSyslogFormat(s *sinkSpec) *syslogFormat {
	host := s.hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	return &syslogFormat{
		rfc3164:  s.rfc3164,
		cee:      s.cee,
		facility: s.facility,
		severity: s.severity,
		hostname: host,
		procid:   strconv.Itoa(os.Getpid()),
		msgMax:   s.msgMax,
	}
}

// appendMessage appends ev's message to dst, the JSON line js (ending in
// '\n') as its body. ok is false when the event cannot be made to fit
// msgMax; trunc is true when it was shortened to fit.
func (f *syslogFormat) appendMessage(dst []byte, ev *event.Event, js []byte) (out []byte, ok, trunc bool) {
	start := len(dst)
	dst = f.appendHeader(dst, ev)
	dst = f.appendBody(dst, js)
	if f.msgMax <= 0 || len(dst)-start <= f.msgMax {
		return dst, true, false
	}
	return f.appendShortened(dst[:start], ev)
}

func (f *syslogFormat) appendBody(dst, js []byte) []byte {
	if f.cee {
		dst = append(dst, "@cee:"...)
	}
	return append(dst, bytes.TrimSuffix(js, []byte{'\n'})...)
}

// appendShortened re-encodes ev with its attacker-sized strings cut
// shorter and shorter, then without args, marking the JSON body with
// "truncated":true. Cutting the encoded JSON instead would break it for
// every consumer, and a truncated marker alone would lose the whole event.
func (f *syslogFormat) appendShortened(dst []byte, ev *event.Event) ([]byte, bool, bool) {
	start := len(dst)
	cp := *ev
	for _, limit := range []int{256, 64, 16, 0, -1} {
		cp.ProcessName = cutString(ev.ProcessName, limit)
		cp.ExecutablePath = cutString(ev.ExecutablePath, limit)
		if limit < 0 {
			cp.Args = nil
		} else {
			f.args = append(f.args[:0], ev.Args...)
			for i := range f.args {
				f.args[i].Str = cutString(f.args[i].Str, limit)
			}
			cp.Args = f.args
		}
		f.body = event.AppendJSON(f.body[:0], &cp)
		f.body = bytes.TrimSuffix(f.body, []byte{'\n'})
		if n := len(f.body); n > 0 && f.body[n-1] == '}' {
			f.body = append(f.body[:n-1], `,"truncated":true}`...)
		}
		dst = f.appendHeader(dst[:start], &cp)
		dst = f.appendBody(dst, f.body)
		if len(dst)-start <= f.msgMax {
			return dst, true, true
		}
	}
	return dst[:start], false, false
}

// cutString returns s cut to at most limit bytes at a rune boundary
// (limit < 0: unchanged).
func cutString(s string, limit int) string {
	if limit < 0 || len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && i > limit-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

func (f *syslogFormat) pri(ev *event.Event) int {
	sev := f.severity
	if ev.EventName == event.NameLost && sev > sevWarning {
		sev = sevWarning
	}
	return f.facility*8 + sev
}

// appendStamp appends RFC 5424's TIMESTAMP of ns, UTC with microseconds
// ("2006-01-02T15:04:05.000000Z"). Formatting a time is most of a header's
// cost, so the part down to the second is formatted once per second.
func (f *syslogFormat) appendStamp(dst []byte, ns int64) []byte {
	sec, rem := ns/1e9, ns%1e9
	if rem < 0 { // before 1970: floor, as time does
		sec, rem = sec-1, rem+1e9
	}
	us := rem / 1e3
	if f.stamp == nil || sec != f.stampSec {
		f.stamp = time.Unix(sec, 0).UTC().AppendFormat(f.stamp[:0], "2006-01-02T15:04:05.")
		f.stampSec = sec
	}
	dst = append(dst, f.stamp...)
	for d := int64(100000); d > 0; d /= 10 {
		dst = append(dst, byte('0'+us/d%10))
	}
	return append(dst, 'Z')
}

func (f *syslogFormat) appendHeader(dst []byte, ev *event.Event) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(f.pri(ev)), 10)
	dst = append(dst, '>')
	ns := ev.Timestamp
	if ns == 0 {
		ns = time.Now().UnixNano()
	}
	host := ev.HostName
	if host == "" {
		host = f.hostname
	}
	if f.rfc3164 {
		// RFC 3164: local time, no year, no structured data; the TAG is
		// APP-NAME[PID].
		dst = time.Unix(0, ns).AppendFormat(dst, time.Stamp)
		dst = append(dst, ' ')
		dst = appendPrintASCII(dst, host, 255)
		dst = append(dst, " auperf["...)
		dst = append(dst, f.procid...)
		return append(dst, "]: "...)
	}
	dst = append(dst, "1 "...)
	dst = f.appendStamp(dst, ns)
	dst = append(dst, ' ')
	dst = appendPrintASCII(dst, host, 255)
	dst = append(dst, " auperf "...)
	dst = append(dst, f.procid...)
	dst = append(dst, ' ')
	dst = appendPrintASCII(dst, ev.EventName, 32)
	dst = append(dst, ' ', '[')
	dst = append(dst, sdID...)
	if ev.Known&event.HasProcess != 0 {
		dst = append(dst, ` pid="`...)
		dst = strconv.AppendInt(dst, int64(ev.ProcessID), 10)
		dst = append(dst, '"')
	}
	if ev.Known&event.HasThread != 0 {
		dst = append(dst, ` tid="`...)
		dst = strconv.AppendInt(dst, int64(ev.ThreadID), 10)
		dst = append(dst, '"')
	}
	if ev.Known&event.HasUser != 0 {
		dst = append(dst, ` uid="`...)
		dst = strconv.AppendUint(dst, uint64(ev.UserID), 10)
		dst = append(dst, '"')
	}
	if ev.ProcessName != "" {
		dst = append(dst, ` comm="`...)
		dst = f.appendSDValue(dst, ev.ProcessName)
		dst = append(dst, '"')
	}
	if ev.Syscall != "" {
		dst = append(dst, ` syscall="`...)
		dst = f.appendSDValue(dst, ev.Syscall)
		dst = append(dst, '"')
	}
	if ev.Known&event.HasReturn != 0 {
		dst = append(dst, ` ret="`...)
		if ev.ReturnPointer && ev.ReturnValue >= 0 {
			dst = append(dst, '0', 'x')
			dst = strconv.AppendUint(dst, uint64(ev.ReturnValue), 16)
		} else {
			dst = strconv.AppendInt(dst, ev.ReturnValue, 10)
		}
		dst = append(dst, '"')
	}
	if ev.Errno != "" {
		dst = append(dst, ` errno="`...)
		dst = f.appendSDValue(dst, ev.Errno)
		dst = append(dst, '"')
	}
	return append(dst, "] "...)
}

// appendSDValue writes s as an RFC 5424 PARAM-VALUE: first escaped as the
// text output escapes it (no control bytes, valid UTF-8, every original
// byte recoverable), then '"', '\' and ']' escaped with a backslash as RFC
// 5424 section 6.3.3 requires. A receiver that unescapes the value gets
// exactly the text output's form of s.
func (f *syslogFormat) appendSDValue(dst []byte, s string) []byte {
	f.scratch = event.AppendEscaped(f.scratch[:0], s)
	for _, c := range f.scratch {
		if c == '"' || c == '\\' || c == ']' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return dst
}

// appendPrintASCII writes s as a header field of RFC 5424 (PRINTUSASCII,
// at most max bytes); other bytes become '_', an empty field is "-".
func appendPrintASCII(dst []byte, s string, max int) []byte {
	if s == "" {
		return append(dst, '-')
	}
	if len(s) > max {
		s = s[:max]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

type framing uint8

const (
	frameNone  framing = iota // one message per datagram
	frameOctet                // RFC 6587 octet counting: "LEN SP MSG"
	frameLF                   // local stream socket: MSG LF (a message holds no LF)
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
}

func newSyslogWriter(s *sinkSpec) (*syslogWriter, error) {
	w := &syslogWriter{s: s}
	if s.network == netTLS {
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
	n := w.skip
	w.skip = 0
	return n
}
func (w *syslogWriter) maintain(time.Time) time.Time { return time.Time{} }
func (w *syslogWriter) reopen() error                { return nil }

func (w *syslogWriter) close() error {
	if w.conn == nil {
		return nil
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
		c, err := d.Dial("tcp", w.s.addr)
		if err != nil {
			return err
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
			return fmt.Errorf("TLS handshake with %s: %w", w.s.addr, err)
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
			return fmt.Errorf("TLS with %s: %w (does it accept this client or its certificate?)", w.s.addr, err)
		}
		w.conn, w.raw, w.frame = tc, c.(syscall.Conn), frameOctet
	}
	return nil
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
	if w.conn != nil && w.frame != frameNone && w.peerClosed() {
		w.close()
	}
	if w.conn == nil {
		if err := w.dial(); err != nil {
			return pos, err
		}
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
