package output

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
)

// tcpCollector accepts connections and keeps everything received.
type tcpCollector struct {
	ln    net.Listener
	mu    sync.Mutex
	data  []byte
	conns []net.Conn
	wg    sync.WaitGroup
}

func newTCPCollector(t *testing.T, addr string) *tcpCollector {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &tcpCollector{ln: ln}
	c.serve()
	t.Cleanup(c.stop)
	return c
}

// serve accepts connections on c.ln until it is closed, keeping every
// connection (for stop) and everything read from them.
func (c *tcpCollector) serve() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := c.ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				buf := make([]byte, 64<<10)
				for {
					n, err := conn.Read(buf)
					c.mu.Lock()
					c.data = append(c.data, buf[:n]...)
					c.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
}

func (c *tcpCollector) stop() {
	c.ln.Close()
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *tcpCollector) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.data...)
}

// packetCollector keeps every datagram received on a packet socket.
type packetCollector struct {
	pc   net.PacketConn
	mu   sync.Mutex
	msgs [][]byte
	done chan struct{}
}

func newPacketCollector(t *testing.T, network, addr string) *packetCollector {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := pc.(*net.UnixConn); ok {
		u.SetReadBuffer(4 << 20)
	} else if u, ok := pc.(*net.UDPConn); ok {
		u.SetReadBuffer(4 << 20)
	}
	c := &packetCollector{pc: pc, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 1<<16)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, append([]byte(nil), buf[:n]...))
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { pc.Close(); <-c.done })
	return c
}

func (c *packetCollector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *packetCollector) messages() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.msgs...)
}

func writeEvents(f *Fanout, from, to int, fill func(*event.Event, int)) {
	var ev event.Event
	for i := from; i < to; i++ {
		fill(&ev, i)
		f.Write(&ev)
	}
}

func TestSyslogTCPFormat(t *testing.T) {
	col := newTCPCollector(t, "127.0.0.1:0")
	f, err := Open([]string{"syslog:tcp://" + col.ln.Addr().String() + "?facility=daemon&severity=notice"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	writeEvents(f, 0, n, testEvent)
	var lost event.Event
	event.NewLost(&lost, 1795689548283123456, "perf", 1, 42, "ring")
	f.Write(&lost)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	waitFor(t, "all messages", func() bool {
		msgs = splitOctetCounted(t, col.bytes())
		return len(msgs) == n+1
	})
	var seqs []int
	var ev event.Event
	for i, m := range msgs[:n] {
		r := parse5424(t, m)
		seqs = append(seqs, r.body.ThreadID)
		sm := r.msg
		if *sm.Facility != 3 || *sm.Severity != 5 || *sm.Appname != "auperf" || *sm.Hostname != "web01" ||
			*sm.ProcID != strconv.Itoa(os.Getpid()) || *sm.MsgID != "msync" {
			t.Fatalf("header fields of %q", m)
		}
		if got, want := sm.Timestamp.UnixNano()/1000, (1795689548283123456+int64(i)*1000)/1000; got != want {
			t.Fatalf("timestamp %d µs, want %d", got, want)
		}
		sd := (*sm.StructuredData)[sdID]
		want := map[string]string{"pid": "6188", "tid": strconv.Itoa(i), "uid": "0", "comm": "python3",
			"syscall": "msync", "ret": "-12", "errno": "ENOMEM"}
		for k, v := range want {
			if sd[k] != v {
				t.Fatalf("SD %s=%q, want %q in %q", k, sd[k], v, m)
			}
		}
		testEvent(&ev, i)
		js := event.AppendJSON(nil, &ev)
		if *sm.Message != string(js[:len(js)-1]) {
			t.Fatalf("body %q, want the JSON line %q", *sm.Message, js)
		}
	}
	checkSeqs(t, seqs, n)
	lr := parse5424(t, msgs[n])
	if *lr.msg.Severity != 4 || lr.body.EventName != event.NameLost {
		t.Errorf("auperf_lost: severity %d, %q", *lr.msg.Severity, lr.raw)
	}
}

func TestSyslogRFC3164AndCEE(t *testing.T) {
	col := newPacketCollector(t, "udp", "127.0.0.1:0")
	f, err := Open([]string{"syslog:udp://" + col.pc.LocalAddr().String() + "?format=rfc3164&cee=1&hostname=ignored"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	testEvent(&ev, 7)
	f.Write(&ev)
	f.Close()
	waitFor(t, "the datagram", func() bool { return col.count() == 1 })
	m := string(col.messages()[0])
	ts := time.Unix(0, ev.Timestamp).Format(time.Stamp)
	js := event.AppendJSON(nil, &ev)
	want := "<134>" + ts + " web01 auperf[" + strconv.Itoa(os.Getpid()) + "]: @cee:" + string(js[:len(js)-1])
	if m != want {
		t.Errorf("got  %q\nwant %q", m, want)
	}
}

func TestSyslogUnixDatagramAndStream(t *testing.T) {
	dir := t.TempDir()
	dg := filepath.Join(dir, "dgram.sock")
	col := newPacketCollector(t, "unixgram", dg)
	f, err := Open([]string{"syslog?socket=" + dg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	writeEvents(f, 0, n, testEvent)
	f.Close()
	waitFor(t, "datagrams", func() bool { return col.count() == n })
	var seqs []int
	for _, m := range col.messages() {
		seqs = append(seqs, parse5424(t, m).body.ThreadID)
	}
	checkSeqs(t, seqs, n)

	// A stream socket (syslog-ng's unix-stream): one message per line.
	st := filepath.Join(dir, "stream.sock")
	ln, err := net.Listen("unix", st)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		got <- b
	}()
	f, err = Open([]string{"syslog:unix://" + st}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(f, 0, n, testEvent)
	f.Close()
	data := <-got
	ln.Close()
	lines := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	seqs = seqs[:0]
	for _, l := range lines {
		seqs = append(seqs, parse5424(t, l).body.ThreadID)
	}
	checkSeqs(t, seqs, n)
}

// TestSyslogTruncation: an event longer than msg_max is re-encoded with
// short strings and marked, never cut into broken JSON.
func TestSyslogTruncation(t *testing.T) {
	col := newPacketCollector(t, "udp", "127.0.0.1:0")
	f, err := Open([]string{"syslog:udp://" + col.pc.LocalAddr().String() + "?msg_max=1k"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("\x01", 3000) // 6 bytes each in JSON
	writeEvents(f, 0, 3, func(ev *event.Event, i int) {
		testEvent(ev, i)
		if i == 1 {
			ev.ExecutablePath = "/opt/" + long
			ev.ProcessName = "\xff" + long
		}
	})
	f.Close()
	waitFor(t, "datagrams", func() bool { return col.count() == 3 })
	for i, m := range col.messages() {
		if len(m) > 1024 {
			t.Errorf("message %d is %d bytes", i, len(m))
		}
		r := parse5424(t, m)
		if r.body.Truncated != (i == 1) {
			t.Errorf("message %d truncated=%v", i, r.body.Truncated)
		}
		if i == 1 && !strings.HasPrefix(r.body.Executable.Path, "/opt/\x01") {
			t.Errorf("truncated path %q", r.body.Executable.Path)
		}
	}
	if counter(f, "output:syslog:udp://"+col.pc.LocalAddr().String(), "truncated") != 1 {
		t.Errorf("stats %v", f.Stats())
	}
}

// TestTCPPeerDown: with the TCP peer gone, the file sink still gets every
// event, the syslog sink counts its drops, and delivers again once the
// peer is back.
func TestTCPPeerDown(t *testing.T) {
	col := newTCPCollector(t, "127.0.0.1:0")
	addr := col.ln.Addr().String()
	p := filepath.Join(t.TempDir(), "e.jsonl")
	sysName := "output:syslog:tcp://" + addr
	f, err := Open([]string{"json:" + p, "syslog:tcp://" + addr + "?buffer=16k&flush=10ms"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(f, 0, 100, testEvent)
	waitFor(t, "phase 1 delivered", func() bool { return counter(f, sysName, "written") == 100 })
	col.stop()

	// Peer down: keep events flowing until the sink has noticed and
	// dropped some.
	next := 100
	for counter(f, sysName, "dropped") == 0 || counter(f, sysName, "errors") == 0 {
		writeEvents(f, next, next+50, testEvent)
		next += 50
		time.Sleep(5 * time.Millisecond)
		if next > 1_000_000 {
			t.Fatalf("no drops counted: %v", f.Stats())
		}
	}
	down := next

	// Peer back on the same port.
	col2 := newTCPCollector(t, addr)
	marker := -1
	waitFor(t, "delivery after the peer came back", func() bool {
		writeEvents(f, next, next+10, testEvent)
		next += 10
		for _, m := range splitOctetCounted(t, col2.bytes()) {
			if r := parse5424(t, m); r.body.ThreadID >= down {
				marker = r.body.ThreadID
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
		return false
	})
	f.Close()
	t.Logf("peer down at event %d, first delivered after return: %d, total %d, stats %v", down, marker, next, f.Stats())
	checkSeqs(t, seqsOf(parseJSONLines(t, readFile(t, p))), next)
	recv, written, dropped := counter(f, sysName, "received"), counter(f, sysName, "written"), counter(f, sysName, "dropped")
	if recv != uint64(next) || written+dropped != recv {
		t.Errorf("syslog counters: received %d written %d dropped %d of %d", recv, written, dropped, next)
	}
	// Every frame received on either connection is whole.
	for _, m := range splitOctetCounted(t, col.bytes()) {
		parse5424(t, m)
	}
}

// discardListener accepts TCP connections and discards what they send.
type discardListener struct {
	ln net.Listener
	wg sync.WaitGroup
}

func (d *discardListener) start(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	d.ln = ln
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func (d *discardListener) stop() { d.ln.Close(); d.wg.Wait() }

// TestSyslogTLSClientCertificate: a server that requires a client
// certificate gets the one given by cert= and key=, and octet-counted
// RFC 5424 frames.
func TestSyslogTLSClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	srvCert, err := tls.LoadX509KeyPair(pki.cert, pki.key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srvCert}, ClientCAs: pki.caPool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				b, _ := io.ReadAll(c) // a refused handshake reads nothing
				if len(b) > 0 {
					got <- b
				}
				c.Close()
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	base := "syslog:tls://localhost:" + strconv.Itoa(port) + "?ca=" + pki.ca

	// Without a client certificate the server refuses the handshake. TLS
	// 1.3 reports that on the first read or write, so Open may succeed;
	// then nothing is written, every event is counted as dropped, the
	// failures as errors, and Close says what was lost.
	f, err := Open([]string{base}, Options{CloseTimeout: 300 * time.Millisecond})
	if err == nil {
		name := "output:syslog:tls://localhost:" + strconv.Itoa(port)
		writeEvents(f, 0, 5, testEvent)
		err = f.Close()
		if w, d, e := counter(f, name, "written"), counter(f, name, "dropped"), counter(f, name, "errors"); w != 0 || d != 5 || e == 0 {
			t.Errorf("without a client certificate: written %d dropped %d errors %d, want 0, 5, > 0", w, d, e)
		}
		if err == nil || !strings.Contains(err.Error(), "dropped 5 events") {
			t.Errorf("without a client certificate: Close = %v, want an error saying 5 events were dropped", err)
		}
	} else if !strings.Contains(err.Error(), base) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without a client certificate: Open error does not name the spec and the certificate: %v", err)
	} else {
		t.Logf("without a client certificate: %v", err)
	}

	// With it, everything arrives.
	f, err = Open([]string{base + "&cert=" + pki.clientCert + "&key=" + pki.clientKey}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	writeEvents(f, 0, n, testEvent)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for _, m := range splitOctetCounted(t, <-got) {
		seqs = append(seqs, parse5424(t, m).body.ThreadID)
	}
	checkSeqs(t, seqs, n)
}

// TestSyslogTLS12ClientNameChecked: a TLS 1.2 server that asks for a
// client certificate and checks its name only after the handshake (as
// rsyslog's x509/name does) and closes: Open fails, nothing is counted as
// written. With the name it wants, everything arrives.
func TestSyslogTLS12ClientNameChecked(t *testing.T) {
	pki := newTestPKI(t)
	srvCert, err := tls.LoadX509KeyPair(pki.cert, pki.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		permit string
		ok     bool
	}{{"somebody-else", false}, {"auperf client", true}} {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
			Certificates: []tls.Certificate{srvCert}, ClientCAs: pki.caPool, ClientAuth: tls.RequireAndVerifyClientCert,
			MaxVersion: tls.VersionTLS12,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				tc := conn.(*tls.Conn)
				if tc.Handshake() != nil || tc.ConnectionState().PeerCertificates[0].Subject.CommonName != c.permit {
					tc.Close()
					continue
				}
				b, _ := io.ReadAll(tc)
				got <- b
				tc.Close()
			}
		}()
		spec := "syslog:tls://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "?ca=" + pki.ca + "&cert=" + pki.clientCert + "&key=" + pki.clientKey
		f, err := Open([]string{spec}, Options{})
		if !c.ok {
			if err == nil {
				f.Close()
				t.Errorf("permitted %q: Open succeeded with a server that closes on us", c.permit)
			} else if !strings.Contains(err.Error(), spec) {
				t.Errorf("Open error does not name the spec: %v", err)
			}
			ln.Close()
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		writeEvents(f, 0, 10, testEvent)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		var seqs []int
		for _, m := range splitOctetCounted(t, <-got) {
			seqs = append(seqs, parse5424(t, m).body.ThreadID)
		}
		checkSeqs(t, seqs, 10)
		ln.Close()
	}
}

// tlsCollector is a TLS syslog server (TLS 1.3: it sends session tickets
// after the handshake, which the client never reads) that keeps what it
// receives.
type tlsCollector struct {
	tcpCollector
}

func newTLSCollector(t *testing.T, pki *testPKI, addr string) *tlsCollector {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.cert, pki.key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &tlsCollector{tcpCollector{ln: tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})}}
	c.serve()
	t.Cleanup(c.stop)
	return c
}

// A TLS syslog server that restarts: the sink sees that the old
// connection was closed (behind the session tickets it never read) and
// sends what comes next to the new server, instead of writing it into the
// dead connection where it is lost uncounted.
func TestTLSPeerRestart(t *testing.T) {
	pki := newTestPKI(t)
	col := newTLSCollector(t, pki, "127.0.0.1:0")
	port := col.ln.Addr().(*net.TCPAddr).Port
	name := "output:syslog:tls://localhost:" + strconv.Itoa(port)
	f, err := Open([]string{"syslog:tls://localhost:" + strconv.Itoa(port) + "?ca=" + pki.ca + "&flush=1ms"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeEvents(f, 0, 10, testEvent)
	waitFor(t, "first events at the server", func() bool { return len(splitOctetCounted(t, col.bytes())) == 10 })
	col.stop()
	col2 := newTLSCollector(t, pki, col.ln.Addr().String())
	time.Sleep(100 * time.Millisecond) // the old connection's close has arrived
	writeEvents(f, 10, 11, testEvent)
	waitFor(t, "the event after the restart written or dropped", func() bool {
		return counter(f, name, "written")+counter(f, name, "dropped") == 11
	})
	if counter(f, name, "written") == 11 {
		waitFor(t, "the event written after the restart at the new server", func() bool {
			return len(splitOctetCounted(t, col2.bytes())) == 1
		})
	}
}

// TestTCPPossiblyLost: a collector that reads none, half or all of what
// a tcp sink wrote and then closes. A program closing with data unread
// makes its kernel reset the connection; one that read everything closes
// cleanly. Either way the frames it read plus those the sink counts as
// possibly lost are every frame written; after a clean close nothing is
// counted, after a reset no more than was written.
func TestTCPPossiblyLost(t *testing.T) {
	const n = 200
	for _, read := range []int{0, n / 2, n} {
		t.Run(fmt.Sprintf("read%d", read), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			spec := "syslog:tcp://" + ln.Addr().String() + "?timeout=1s"
			f, err := Open([]string{spec}, Options{FlushDelay: 5 * time.Millisecond, CloseTimeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			name := "output:" + strings.SplitN(spec, "?", 2)[0]
			writeEvents(f, 0, n, testEvent)
			waitFor(t, "every frame written", func() bool { return counter(f, name, "written") == n })
			c := <-accepted
			r := bufio.NewReader(c)
			for i := 0; i < read; i++ {
				var size int
				if _, err := fmt.Fscanf(r, "%d ", &size); err != nil {
					t.Fatal(err)
				}
				if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
					t.Fatal(err)
				}
			}
			if read == n {
				// Everything read, buffered or not: nothing left in
				// the socket either.
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				if k, _ := r.Read(make([]byte, 1)); k != 0 {
					t.Fatal("more than was written")
				}
			} else {
				// A reader that read n/2 frames through bufio may
				// have taken more from the socket: then more arrived
				// than it parsed, which only makes the check harder.
				c.(*net.TCPConn).SetLinger(-1)
			}
			c.Close()
			ln.Close()
			time.Sleep(50 * time.Millisecond)
			writeEvents(f, n, n+1, testEvent) // the sink finds the connection closed
			f.Close()
			lost := counter(f, name, "possibly_lost")
			t.Logf("read %d of %d frames: possibly lost %d, dropped %d", read, n, lost, counter(f, name, "dropped"))
			switch {
			case uint64(read)+lost < n:
				t.Errorf("read %d + possibly lost %d < %d written", read, lost, n)
			case read == n && lost != 0:
				t.Errorf("a clean close after reading everything: %d counted possibly lost", lost)
			case lost > n:
				t.Errorf("%d possibly lost of %d written", lost, n)
			}
			if d := counter(f, name, "dropped"); d != 1 {
				t.Errorf("dropped %d, want the one event written after the close", d)
			}
		})
	}
}
