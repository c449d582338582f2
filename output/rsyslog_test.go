package output

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/ktest"
	"golang.org/x/sys/unix"
)

// rsyslog is an rsyslogd the test started with its own configuration:
// one input on loopback or a temporary socket, everything received
// written raw (%rawmsg%) to out, one message per line. It never touches
// the system's rsyslog or /dev/log.
type rsyslog struct {
	dir, out string
	cmd      *exec.Cmd
	port     int
	netns    string // runs in this network namespace ("": the test's)
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRsyslog runs rsyslogd with input ("unix", "udp", "tcp", "tls").
func startRsyslog(t *testing.T, input string, tlsFiles *testPKI) *rsyslog {
	t.Helper()
	return startRsyslogWith(t, input, tlsFiles, rsyslogOpts{})
}

// rsyslogOpts changes startRsyslog's configuration.
type rsyslogOpts struct {
	tlsAuth string // imtcp's authentication parameters for "tls" (anon)
	extra   string // configuration lines before the input
	port    int    // listen here (0: a free port)
	dir     string // configuration and output here (""): a new directory)
	netns   string // relp, relps: run in this network namespace, listening on every address
}

func startRsyslogWith(t *testing.T, input string, tlsFiles *testPKI, opts rsyslogOpts) *rsyslog {
	t.Helper()
	if opts.tlsAuth == "" {
		opts.tlsAuth = `StreamDriver.AuthMode="anon"`
	}
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		ktest.Skip(t, "rsyslogd not installed (Debian packages rsyslog, rsyslog-gnutls)")
	}
	dir := opts.dir
	if dir == "" {
		dir = t.TempDir()
	}
	os.Chmod(dir, 0o755)
	r := &rsyslog{dir: dir, out: filepath.Join(dir, "out.log"), netns: opts.netns}
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q maxMessageSize=\"64k\")\n%s", dir, opts.extra)
	switch input {
	case "unix":
		fmt.Fprintf(&conf, "module(load=\"imuxsock\" SysSock.Use=\"off\")\ninput(type=\"imuxsock\" Socket=%q CreatePath=\"on\")\n",
			filepath.Join(dir, "log.sock"))
	case "udp":
		r.port = freePort(t, "udp")
		fmt.Fprintf(&conf, "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\" rcvbufSize=\"4m\")\n", r.port)
	case "tcp":
		r.port = opts.port
		if r.port == 0 {
			r.port = freePort(t, "tcp")
		}
		fmt.Fprintf(&conf, "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n", r.port)
	case "tls":
		if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so"); err != nil {
			if m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so"); len(m) == 0 {
				ktest.Skip(t, "rsyslog's gtls driver not installed (Debian package rsyslog-gnutls)")
			}
		}
		r.port = opts.port
		if r.port == 0 {
			r.port = freePort(t, "tcp")
		}
		fmt.Fprintf(&conf, "global(DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=%q DefaultNetstreamDriverCertFile=%q DefaultNetstreamDriverKeyFile=%q)\n",
			tlsFiles.ca, tlsFiles.cert, tlsFiles.key)
		fmt.Fprintf(&conf, "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" %s)\n", opts.tlsAuth)
		fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n", r.port)
	case "relp", "relps":
		if m, _ := filepath.Glob("/usr/lib/*/rsyslog/imrelp.so"); len(m) == 0 {
			ktest.Skip(t, "rsyslog's RELP input not installed (Debian package rsyslog-relp)")
		}
		r.port = opts.port
		if r.port == 0 {
			r.port = freePort(t, "tcp")
		}
		tlsConf := ""
		if input == "relps" {
			// librelp's TLS is mutual: the client shows a
			// certificate the CA signed (certvalid: no name check).
			tlsConf = fmt.Sprintf(` tls="on" tls.caCert=%q tls.myCert=%q tls.myPrivKey=%q tls.authMode="certvalid"`, tlsFiles.ca, tlsFiles.cert, tlsFiles.key)
		}
		address := ` address="127.0.0.1"`
		if opts.netns != "" {
			address = ""
		}
		fmt.Fprintf(&conf, "module(load=\"imrelp\")\ninput(type=\"imrelp\"%s port=\"%d\"%s)\n", address, r.port, tlsConf)
	}
	fmt.Fprintf(&conf, "template(name=\"raw\" type=\"string\" string=\"%%rawmsg%%\\n\")\n")
	fmt.Fprintf(&conf, "action(type=\"omfile\" file=%q template=\"raw\")\n", r.out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	r.cmd = exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	if opts.netns != "" {
		// ip netns exec execs rsyslogd: the same pid.
		r.cmd = exec.Command("ip", append([]string{"netns", "exec", opts.netns, bin}, r.cmd.Args[1:]...)...)
	}
	r.cmd.Stdout, r.cmd.Stderr = &stderr, &stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			r.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s\nconfig:\n%s", stderr.String(), conf.String())
		}
	})
	r.waitReady(t, input)
	return r
}

// waitReady waits until the input takes messages: the socket exists, the
// TCP port accepts, or a UDP probe arrives in the output.
func (r *rsyslog) waitReady(t *testing.T, input string) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(r.port)
	waitFor(t, "rsyslogd to listen", func() bool {
		if r.cmd.ProcessState != nil {
			t.Fatalf("rsyslogd exited")
		}
		switch input {
		case "unix":
			_, err := os.Stat(filepath.Join(r.dir, "log.sock"))
			return err == nil
		case "udp":
			c, err := net.Dial("udp", addr)
			if err == nil {
				c.Write([]byte("<14>1 - - probe - - - probe"))
				c.Close()
			}
			b, _ := os.ReadFile(r.out)
			return bytes.Contains(b, []byte("probe"))
		default:
			var c net.Conn
			err := inNetns(r.netns, func() (err error) {
				c, err = net.Dial("tcp", addr)
				return err
			})
			if err == nil {
				c.Close()
			}
			return err == nil
		}
	})
}

// messages returns the auperf messages rsyslog wrote, one per line.
func (r *rsyslog) messages() [][]byte {
	b, _ := os.ReadFile(r.out)
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(" auperf ")) {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out
}

type testPKI struct {
	ca, cert, key         string // CA and server certificate
	clientCert, clientKey string // a client certificate signed by the CA
	caPool                *x509.CertPool
}

// newTestPKI writes a CA and a server certificate for 127.0.0.1 and
// "localhost" signed by it.
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "auperf test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	p := &testPKI{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	write := func(path, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cliKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cliTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "auperf client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cliDER, err := x509.CreateCertificate(rand.Reader, cliTmpl, caCert, &cliKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cliKeyDER, _ := x509.MarshalECPrivateKey(cliKey)
	p.clientCert, p.clientKey = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(caCert)
	write(p.clientCert, "CERTIFICATE", cliDER)
	write(p.clientKey, "EC PRIVATE KEY", cliKeyDER)
	write(p.ca, "CERTIFICATE", caDER)
	write(p.cert, "CERTIFICATE", srvDER)
	write(p.key, "EC PRIVATE KEY", keyDER)
	return p
}

// TestIntegrationRsyslog sends events, hostile ones among them, to a real
// rsyslogd over each transport and parses every line it wrote as RFC 5424
// with the JSON body intact.
func TestIntegrationRsyslog(t *testing.T) {
	ktest.Require(t)
	pki := newTestPKI(t)
	for _, input := range []string{"unix", "udp", "tcp", "tls", "relp", "relps"} {
		t.Run(input, func(t *testing.T) {
			r := startRsyslog(t, input, pki)
			var spec string
			switch input {
			case "unix":
				spec = "syslog?socket=" + filepath.Join(r.dir, "log.sock")
			case "udp", "tcp", "relp":
				spec = fmt.Sprintf("syslog:%s://127.0.0.1:%d", input, r.port)
			case "tls":
				spec = fmt.Sprintf("syslog:tls://127.0.0.1:%d?ca=%s&server_name=localhost", r.port, pki.ca)
			case "relps":
				spec = fmt.Sprintf("syslog:relps://127.0.0.1:%d?ca=%s&server_name=localhost&cert=%s&key=%s", r.port, pki.ca, pki.clientCert, pki.clientKey)
			}
			f, err := Open([]string{spec}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			writeEvents(f, 0, n, func(ev *event.Event, i int) {
				if i%2 == 1 {
					hostileEvent(ev, i)
				} else {
					testEvent(ev, i)
				}
			})
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			var msgs [][]byte
			waitFor(t, "rsyslog to write every message", func() bool {
				msgs = r.messages()
				return len(msgs) >= n
			})
			var seqs []int
			for _, m := range msgs {
				rec := parse5424(t, m)
				if *rec.msg.Appname != "auperf" {
					t.Fatalf("APP-NAME in %q", m)
				}
				seqs = append(seqs, rec.body.ThreadID)
			}
			checkSeqs(t, seqs, n)
		})
	}
}

// TestIntegrationRsyslogTLSVerifies: a server whose certificate does not
// match server_name, or that the CA did not sign, is refused at Open.
func TestIntegrationRsyslogTLSVerifies(t *testing.T) {
	ktest.Require(t)
	pki := newTestPKI(t)
	other := newTestPKI(t)
	r := startRsyslog(t, "tls", pki)
	for _, spec := range []string{
		fmt.Sprintf("syslog:tls://127.0.0.1:%d?ca=%s&server_name=elsewhere", r.port, pki.ca),
		fmt.Sprintf("syslog:tls://127.0.0.1:%d?ca=%s", r.port, other.ca),
	} {
		f, err := Open([]string{spec}, Options{})
		if err == nil {
			f.Close()
			t.Errorf("%s: connected", spec)
			continue
		}
		if !strings.Contains(err.Error(), spec) {
			t.Errorf("error does not name the spec: %v", err)
		}
	}
}

// TestIntegrationRsyslogTLSRefusesClient: an rsyslog that checks client
// certificates (x509/name) and does not permit ours closes the connection
// after the handshake.
func TestIntegrationRsyslogTLSRefusesClient(t *testing.T) {
	ktest.Require(t)
	pki := newTestPKI(t)
	r := startRsyslogWith(t, "tls", pki, rsyslogOpts{tlsAuth: `StreamDriver.AuthMode="x509/name" PermittedPeer=["somebody-else"]`})
	checkRefused(t, r, fmt.Sprintf("syslog:tls://127.0.0.1:%d?ca=%s&server_name=localhost&cert=%s&key=%s", r.port, pki.ca, pki.clientCert, pki.clientKey))
}

// TestIntegrationRsyslogTCPRefusesSender: an rsyslog whose AllowedSender
// list does not hold us accepts the TCP connection and closes it at once.
func TestIntegrationRsyslogTCPRefusesSender(t *testing.T) {
	ktest.Require(t)
	r := startRsyslogWith(t, "tcp", nil, rsyslogOpts{extra: "$AllowedSender TCP, 192.0.2.1\n"})
	checkRefused(t, r, fmt.Sprintf("syslog:tcp://127.0.0.1:%d", r.port))
}

// checkRefused sends events to spec, whose server refuses us after
// accepting the connection: nothing may be counted as written. Every event
// is refused at Open (with an error naming the spec) or counted as dropped.
func checkRefused(t *testing.T, r *rsyslog, spec string) {
	t.Helper()
	f, err := Open([]string{spec}, Options{CloseTimeout: time.Second})
	if err != nil {
		if !strings.Contains(err.Error(), spec) {
			t.Errorf("Open error does not name the spec: %v", err)
		}
		t.Logf("refused at Open: %v", err)
		return
	}
	const n = 20
	name := "output:" + strings.SplitN(spec, "?", 2)[0]
	for i := 0; i < n; i++ {
		writeEvents(f, i, i+1, testEvent)
		time.Sleep(20 * time.Millisecond)
	}
	err = f.Close()
	w, d, e := counter(f, name, "written"), counter(f, name, "dropped"), counter(f, name, "errors")
	t.Logf("written %d dropped %d errors %d; Close: %v; rsyslog got %d", w, d, e, err, len(r.messages()))
	if got := len(r.messages()); got != 0 {
		t.Fatalf("rsyslog accepted %d messages from a client it refuses", got)
	}
	if w != 0 || d != n {
		t.Errorf("written %d, dropped %d: events the server never took were counted as written", w, d)
	}
}

// TestIntegrationRsyslogKilledAndRestarted: the collector is killed
// (SIGKILL) between two bursts and started again on the same port, for
// TCP and TLS. The sink reconnects by itself: everything before the kill
// and everything after the restart arrives, once; of what was sent while
// the collector was down, what the sink gave up is counted as dropped,
// and what TCP had in flight when the connection broke and never arrived
// is within what the sink counts as possibly lost. Nothing arrives twice.
func TestIntegrationRsyslogKilledAndRestarted(t *testing.T) {
	ktest.Require(t)
	pki := newTestPKI(t)
	for _, input := range []string{"tcp", "tls"} {
		t.Run(input, func(t *testing.T) {
			r := startRsyslog(t, input, pki)
			spec := fmt.Sprintf("syslog:tcp://127.0.0.1:%d?timeout=1s", r.port)
			if input == "tls" {
				spec = fmt.Sprintf("syslog:tls://127.0.0.1:%d?ca=%s&server_name=localhost&timeout=1s", r.port, pki.ca)
			}
			f, err := Open([]string{spec}, Options{FlushDelay: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			const burst = 100
			writeEvents(f, 0, burst, testEvent)
			waitFor(t, "the first burst", func() bool { return len(r.messages()) >= burst })
			r.cmd.Process.Kill()
			r.cmd.Wait()
			writeEvents(f, burst, 2*burst, testEvent) // collector down
			time.Sleep(300 * time.Millisecond)
			r2 := startRsyslogWith(t, input, pki, rsyslogOpts{port: r.port, dir: r.dir})
			writeEvents(f, 2*burst, 3*burst, testEvent)
			if err := f.Close(); err != nil {
				t.Logf("Close: %v", err)
			}
			dropped := counter(f, "output:"+strings.SplitN(spec, "?", 2)[0], "dropped")
			possibly := counter(f, "output:"+strings.SplitN(spec, "?", 2)[0], "possibly_lost")
			var msgs [][]byte
			waitFor(t, "the last burst", func() bool {
				msgs = r2.messages()
				seen := map[int]bool{}
				for _, m := range msgs {
					seen[parse5424(t, m).body.ThreadID] = true
				}
				for i := 2 * burst; i < 3*burst; i++ {
					if !seen[i] && dropped == 0 {
						return false
					}
				}
				return true
			})
			seen := map[int]int{}
			for _, m := range msgs {
				seen[parse5424(t, m).body.ThreadID]++
			}
			var during, lostUncounted int
			for i := 0; i < 3*burst; i++ {
				switch {
				case seen[i] > 1:
					t.Errorf("event %d arrived %d times", i, seen[i])
				case seen[i] == 1 && i >= burst && i < 2*burst:
					during++
				case seen[i] == 0 && (i < burst || i >= 2*burst):
					t.Errorf("event %d (sent while the collector was up) never arrived", i)
				}
			}
			lostUncounted = burst - during - int(dropped)
			t.Logf("%s: sent while down %d: arrived %d, counted dropped %d, not arrived (in flight at the kill) %d, counted possibly lost %d",
				input, burst, during, dropped, lostUncounted, possibly)
			if lostUncounted < 0 || lostUncounted > int(possibly) {
				t.Errorf("of %d events sent while down, %d arrived, %d were counted dropped and %d possibly lost", burst, during, dropped, possibly)
			}
		})
	}
}

// TestIntegrationRELPStoppedAndRestarted: rsyslog's imrelp stopped
// (SIGTERM: it drains its queue, as a restarted collector does; a SIGKILL
// loses what the collector itself had taken, which no sender can help)
// while frames are in flight, and started again on the same port:
// RELP counts a message written only when the collector acknowledged it,
// and sends the unacknowledged ones again on the new connection, so every
// event arrives (at least once; duplicates at most what the sink counts
// as resent), none is counted lost, and the sink said it failed and wrote
// again.
func TestIntegrationRELPStoppedAndRestarted(t *testing.T) {
	ktest.Require(t)
	pki := newTestPKI(t)
	for _, input := range []string{"relp", "relps"} {
		t.Run(input, func(t *testing.T) {
			r := startRsyslog(t, input, pki)
			spec := fmt.Sprintf("syslog:%s://127.0.0.1:%d?timeout=1s", input, r.port)
			if input == "relps" {
				spec = fmt.Sprintf("syslog:relps://127.0.0.1:%d?ca=%s&server_name=localhost&cert=%s&key=%s&timeout=1s", r.port, pki.ca, pki.clientCert, pki.clientKey)
			}
			var notes []string
			var mu sync.Mutex
			f, err := Open([]string{spec}, Options{FlushDelay: 10 * time.Millisecond, Notify: func(l string) {
				mu.Lock()
				notes = append(notes, l)
				mu.Unlock()
			}})
			if err != nil {
				t.Fatal(err)
			}
			const n = 3000
			name := "output:" + strings.SplitN(spec, "?", 2)[0]
			next := 0
			for next < n/3 {
				writeEvents(f, next, next+50, testEvent)
				next += 50
				time.Sleep(2 * time.Millisecond)
			}
			r.cmd.Process.Signal(syscall.SIGTERM) // mid-stream: frames in flight
			r.cmd.Wait()
			for next < 2*n/3 { // the collector is down
				writeEvents(f, next, next+50, testEvent)
				next += 50
				time.Sleep(2 * time.Millisecond)
			}
			r2 := startRsyslogWith(t, input, pki, rsyslogOpts{port: r.port, dir: r.dir})
			for next < n {
				writeEvents(f, next, next+50, testEvent)
				next += 50
				time.Sleep(2 * time.Millisecond)
			}
			waitFor(t, "every event acknowledged", func() bool { return counter(f, name, "written") == n })
			if err := f.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			seen := map[int]int{}
			var total int
			waitFor(t, "every event in rsyslog's output", func() bool {
				clear(seen)
				msgs := r2.messages()
				total = len(msgs)
				for _, m := range msgs {
					seen[parse5424(t, m).body.ThreadID]++
				}
				return len(seen) == n
			})
			dups := total - n
			resent := counter(f, name, "resent")
			t.Logf("%s: %d events, %d messages in the collector's output (%d twice), resent %d, dropped %d; notes %q",
				input, n, total, dups, resent, counter(f, name, "dropped"), notes)
			if dups < 0 || uint64(dups) > resent {
				t.Errorf("%d duplicates, but %d frames counted as resent", dups, resent)
			}
			if d := counter(f, name, "dropped"); d != 0 {
				t.Errorf("%d dropped", d)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(notes) < 2 || !strings.Contains(notes[0], "retrying") || !strings.Contains(notes[len(notes)-1], "writing again (0 events dropped") {
				t.Errorf("notes %q: want one that the output fails, and one that it writes again", notes)
			}
		})
	}
}

// TestIntegrationRELPSpool: a steady stream to rsyslog's imrelp with a
// spool and a small memory buffer; the collector is stopped for a while
// (the buffer overflows many times over) and started again: what did not
// fit in memory went to disk and is replayed in order, ahead of newer
// events, and every event arrives, none dropped.
func TestIntegrationRELPSpool(t *testing.T) {
	ktest.Require(t)
	r := startRsyslog(t, "relp", nil)
	spoolDir := filepath.Join(t.TempDir(), "spool")
	spec := fmt.Sprintf("syslog:relp://127.0.0.1:%d?timeout=1s&buffer=16k&spool=%s", r.port, spoolDir)
	f, err := Open([]string{spec}, Options{FlushDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	name := "output:" + strings.SplitN(spec, "?", 2)[0]
	const n = 6000
	next := 0
	send := func(upTo int) {
		for next < upTo {
			writeEvents(f, next, next+20, testEvent)
			next += 20
			time.Sleep(time.Millisecond)
		}
	}
	send(n / 4)
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.cmd.Wait()
	send(3 * n / 4) // down: about 3000 events, far more than 16 KiB
	spooled := counter(f, name, "spooled")
	r2 := startRsyslogWith(t, "relp", nil, rsyslogOpts{port: r.port, dir: r.dir})
	send(n)
	waitFor(t, "every event acknowledged", func() bool { return counter(f, name, "written") == n })
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	seen := map[int]int{}
	var order []int
	waitFor(t, "every event in rsyslog's output", func() bool {
		clear(seen)
		order = order[:0]
		for _, m := range r2.messages() {
			id := parse5424(t, m).body.ThreadID
			seen[id]++
			order = append(order, id)
		}
		return len(seen) == n
	})
	dups := len(order) - n
	t.Logf("%d events: spooled %d while the collector was down, replayed %d, resent %d, %d twice in the output, dropped %d, spool bytes %d",
		n, spooled, counter(f, name, "replayed"), counter(f, name, "resent"), dups, counter(f, name, "dropped"), counter(f, name, "spool_bytes"))
	if spooled == 0 || counter(f, name, "replayed") != counter(f, name, "spooled") {
		t.Errorf("spooled %d (while down) / %d, replayed %d", spooled, counter(f, name, "spooled"), counter(f, name, "replayed"))
	}
	if d := counter(f, name, "dropped"); d != 0 {
		t.Errorf("%d dropped", d)
	}
	if uint64(dups) > counter(f, name, "resent") {
		t.Errorf("%d duplicates, %d resent", dups, counter(f, name, "resent"))
	}
	// In order: each event's first arrival after every earlier one's.
	first := map[int]bool{}
	last := -1
	for _, id := range order {
		if first[id] {
			continue
		}
		first[id] = true
		if id < last {
			t.Errorf("event %d arrived after event %d", id, last)
			break
		}
		last = id
	}
}

// TestHelperSpoolWriter is the process TestIntegrationSpoolAfterKill
// kills: it opens the spec of AUPERF_SPOOL_SPEC (the collector is up),
// says so in the ready file, waits for the down file (the collector is
// stopped), writes AUPERF_SPOOL_N events, and once the spool stops
// growing writes its spooled count to the spooled file and waits to be
// killed.
func TestHelperSpoolWriter(t *testing.T) {
	spec, dir := os.Getenv("AUPERF_SPOOL_SPEC"), os.Getenv("AUPERF_SPOOL_DIR")
	if spec == "" {
		t.Skip("helper of TestIntegrationSpoolAfterKill")
	}
	n, _ := strconv.Atoi(os.Getenv("AUPERF_SPOOL_N"))
	f, err := Open([]string{spec}, Options{FlushDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644)
	for {
		if _, err := os.Stat(filepath.Join(dir, "down")); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	name := "output:" + strings.SplitN(spec, "?", 2)[0]
	for i := 0; i < n; i += 20 {
		writeEvents(f, i, i+20, testEvent)
		time.Sleep(time.Millisecond)
	}
	last := uint64(0)
	for {
		time.Sleep(300 * time.Millisecond)
		if s := counter(f, name, "spooled"); s == last && s > 0 {
			break
		} else {
			last = s
		}
	}
	// Written whole, then named: the test must not read it half made.
	os.WriteFile(filepath.Join(dir, "spooled.tmp"), []byte(strconv.FormatUint(last, 10)), 0o644)
	os.Rename(filepath.Join(dir, "spooled.tmp"), filepath.Join(dir, "spooled"))
	select {} // until SIGKILL
}

// TestIntegrationSpoolAfterKill: auperf's sink killed with SIGKILL while
// its spool holds events (the collector was down): the next start, with
// the collector back, replays them, each once (beyond what RELP counts
// as resent), and leaves the spool empty.
func TestIntegrationSpoolAfterKill(t *testing.T) {
	ktest.Require(t)
	r := startRsyslog(t, "relp", nil)
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	spec := fmt.Sprintf("syslog:relp://127.0.0.1:%d?timeout=1s&buffer=16k&spool=%s", r.port, spoolDir)
	const n = 2000
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperSpoolWriter$", "-test.count=1")
	helper.Env = append(os.Environ(), "AUPERF_SPOOL_SPEC="+spec, "AUPERF_SPOOL_DIR="+dir, "AUPERF_SPOOL_N="+strconv.Itoa(n))
	var out bytes.Buffer
	helper.Stdout, helper.Stderr = &out, &out
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { helper.Process.Kill(); helper.Wait() }()
	waitFor(t, "the helper to open its output", func() bool {
		_, err := os.Stat(filepath.Join(dir, "ready"))
		return err == nil
	})
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.cmd.Wait()
	before := len(r.messages())
	os.WriteFile(filepath.Join(dir, "down"), nil, 0o644)
	var spooled uint64
	waitFor(t, "the helper to spool", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "spooled"))
		if err != nil {
			return false
		}
		spooled, _ = strconv.ParseUint(string(b), 10, 64)
		return true
	})
	helper.Process.Kill()
	helper.Wait()

	r2 := startRsyslogWith(t, "relp", nil, rsyslogOpts{port: r.port, dir: r.dir})
	f, err := Open([]string{spec}, Options{FlushDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	name := "output:" + strings.SplitN(spec, "?", 2)[0]
	waitFor(t, "the spool replayed", func() bool { return counter(f, name, "replayed") >= spooled })
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	msgs := r2.messages()[before:]
	for _, m := range msgs {
		seen[parse5424(t, m).body.ThreadID]++
	}
	dups := len(msgs) - len(seen)
	t.Logf("spooled %d before the kill; after the restart: replayed %d, %d distinct events arrived (%d twice), resent %d, torn %d",
		spooled, counter(f, name, "replayed"), len(seen), dups, counter(f, name, "resent"), counter(f, name, "spool_torn"))
	if uint64(len(seen)) != spooled || counter(f, name, "replayed") != spooled {
		t.Errorf("spooled %d, replayed %d, arrived %d", spooled, counter(f, name, "replayed"), len(seen))
	}
	if uint64(dups) > counter(f, name, "resent") {
		t.Errorf("%d twice, %d resent", dups, counter(f, name, "resent"))
	}
	if b := counter(f, name, "spool_bytes"); b != 0 {
		t.Errorf("spool_bytes %d after the replay", b)
	}
	if t.Failed() {
		t.Logf("helper:\n%s", out.String())
	}
}

// TestIntegrationCollectorDown30s: a steady stream (500 events/s) to
// rsyslog with a spool and the default memory buffer, and a file sink of
// the same run; the collector is stopped for 30 s (more than the 4 MiB
// buffer holds) and started again. Over RELP every event the file holds
// arrives, in order, none dropped. Over TCP and TLS, what arrives plus
// what the sink counts as possibly lost in flight (written, never
// acknowledged by the peer's TCP when the connection broke) accounts for
// every event, none arrives twice, none is dropped.
func TestIntegrationCollectorDown30s(t *testing.T) {
	ktest.Require(t)
	if testing.Short() {
		t.Skip("30 s outage")
	}
	pki := newTestPKI(t)
	for _, input := range []string{"relp", "tcp", "tls"} {
		t.Run(input, func(t *testing.T) {
			r := startRsyslog(t, input, pki)
			dir := t.TempDir()
			file := filepath.Join(dir, "events.json")
			spool := filepath.Join(dir, "spool")
			spec := fmt.Sprintf("syslog:%s://127.0.0.1:%d?spool=%s", input, r.port, spool)
			if input == "tls" {
				spec = fmt.Sprintf("syslog:tls://127.0.0.1:%d?ca=%s&server_name=localhost&spool=%s", r.port, pki.ca, spool)
			}
			f, err := Open([]string{spec, "json:" + file}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			name := "output:" + strings.SplitN(spec, "?", 2)[0]
			next := 0
			steady := func(d time.Duration) {
				for end := time.Now().Add(d); time.Now().Before(end); {
					writeEvents(f, next, next+10, testEvent)
					next += 10
					time.Sleep(20 * time.Millisecond)
				}
			}
			steady(3 * time.Second)
			r.cmd.Process.Signal(syscall.SIGTERM)
			r.cmd.Wait()
			steady(30 * time.Second)
			spooledDown := counter(f, name, "spooled")
			r2 := startRsyslogWith(t, input, pki, rsyslogOpts{port: r.port, dir: r.dir})
			steady(3 * time.Second)
			waitFor(t, "every event written", func() bool { return counter(f, name, "written") == uint64(next) })
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			var fileIDs []int
			for _, l := range parseJSONLines(t, readFile(t, file)) {
				fileIDs = append(fileIDs, l.ThreadID)
			}
			lost := int(counter(f, name, "possibly_lost"))
			var got []int
			seen := map[int]int{}
			waitFor(t, "every event in rsyslog's output", func() bool {
				got, seen = got[:0], map[int]int{}
				for _, m := range r2.messages() { // (the same file as r's)
					id := parse5424(t, m).body.ThreadID
					if seen[id] == 0 {
						got = append(got, id)
					}
					seen[id]++
				}
				return len(got)+lost >= len(fileIDs)
			})
			dup := 0
			for _, n := range seen {
				dup += n - 1
			}
			t.Logf("%s: %d events (%d in the file), %d arrived (%d twice): spooled %d while the collector was down 30 s, replayed %d, resent %d, possibly lost %d, dropped %d",
				input, next, len(fileIDs), len(got), dup, spooledDown, counter(f, name, "replayed"), counter(f, name, "resent"), lost, counter(f, name, "dropped"))
			if len(fileIDs) != next || spooledDown == 0 || counter(f, name, "dropped") != 0 {
				t.Errorf("file %d of %d events; spooled %d, dropped %d", len(fileIDs), next, spooledDown, counter(f, name, "dropped"))
			}
			if input == "relp" {
				if len(got) != next || lost != 0 {
					t.Errorf("collector %d of %d events, possibly lost %d", len(got), next, lost)
				}
				if uint64(dup) > counter(f, name, "resent") {
					t.Errorf("%d arrived twice, %d resent", dup, counter(f, name, "resent"))
				}
			} else {
				if len(got)+lost < next {
					t.Errorf("%d arrived and %d counted possibly lost of %d events", len(got), lost, next)
				}
				if dup != 0 {
					t.Errorf("%d events arrived twice", dup)
				}
			}
			// In order: the collector's first sight of each event
			// follows the file's order (what was lost leaves gaps).
			pos := map[int]int{}
			for i, id := range fileIDs {
				pos[id] = i
			}
			for i := 1; i < len(got); i++ {
				if pos[got[i]] < pos[got[i-1]] {
					t.Errorf("the collector has event %d after %d", got[i], got[i-1])
					break
				}
			}
		})
	}
}

// inNetns runs f on a thread in network namespace ns ("": the test's
// own), where the sockets f creates live.
func inNetns(ns string, f func() error) error {
	if ns == "" {
		return f()
	}
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
		runtime.UnlockOSThread() // (else the thread ends with the goroutine)
	}
	return ferr
}
