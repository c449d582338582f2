package output

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/auperf/auperf/event"
)

// SpecHelp documents the --output specs and every option. The CLI prints it
// in --help and the README quotes it.
const SpecHelp = `Output specs (--output, repeatable; options are query parameters after '?'):
  json                     JSON lines to stdout
  text                     strace-like text to stdout (colour on a terminal unless NO_COLOR is set)
  json:PATH, text:PATH     append to a file (created 0640, parent directories 0750)
  syslog                   local syslog socket /dev/log (datagram, else stream)
  syslog:unix:///PATH      another local syslog socket
  syslog:udp://HOST:PORT   UDP (port 514 if omitted)
  syslog:tcp://HOST:PORT   TCP, RFC 6587 octet-counted frames (port 514 if omitted)
  syslog:tls://HOST:PORT   TLS, RFC 5425 (port 6514 if omitted), server certificate verified
  syslog:relp://HOST:PORT  RELP (rsyslog's imrelp; port 2514 if omitted): every message acknowledged
  syslog:relps://HOST:PORT RELP over TLS (imrelp tls="on"; it asks for a client certificate: cert=, key=)
Delivery: a failed write is retried, and what is given up is counted as dropped. udp cannot see
  what the network or the receiver drops. tcp and tls count as possibly_lost the frames written
  whose connection broke before the collector surely had them (not acknowledged by its TCP; after
  a reset, acknowledged but maybe unread too). relp and relps count a message written only when
  the collector acknowledged it, and send what was not acknowledged again after a reconnect (at
  least once: "resent" counts those frames).
Options of every sink:
  flush=DURATION   longest time an event waits in a batch before it is handed to the sink (200ms)
  buffer=SIZE      bytes a failing sink keeps for retry; past it the oldest batch is dropped and counted (4MiB)
  queue=N          batches queued to the sink's writer; when full, new batches are dropped and counted (64)
JSON (json, json:PATH, and the JSON body of syslog):
  args=array|object  array: Tracee's [{"name","type","value","decoded"}...]; object: "args":{NAME: value}
                   and "argsDecoded":{NAME: text}, one index field per argument name (array)
                   Every value is a number within int64 or null, whatever the layout: a pointer's "0x..."
                   form, flags' names and strings are in decoded; returnValue is a number, with
                   "returnAddress":"0x..." for an address; so each JSON path has one type in every event.
Text:
  color=auto|always|never   auto: only for stdout on a terminal, and only if NO_COLOR is unset
Files (json:PATH, text:PATH):
  mode=0640        permission bits of a created file
  max_size=SIZE    rotate when the file would grow past SIZE (e.g. 100MB; 0 = never, leave it to logrotate)
  keep=N           rotated files kept as PATH.1 .. PATH.N (5)
  fsync=DURATION   fsync at most this often while data was written (0 = never, the default)
  SIGHUP reopens PATH (for logrotate's rename + HUP).
Syslog:
  format=rfc5424|rfc3164   message format (rfc5424)
  cee=0|1          prefix the JSON body with "@cee:" for rsyslog's mmjsonparse (0)
  facility=NAME    kern user mail daemon auth syslog lpr news uucp cron authpriv ftp local0..local7 (local0)
  severity=NAME    emerg alert crit err warning notice info debug (info); auperf_lost events are sent as
                   warning unless severity is already more severe
  hostname=NAME    HOSTNAME field when an event carries none (this host's name)
  msg_max=SIZE     largest message (udp 2048, others 8192); a longer event is re-encoded with shortened
                   strings and "truncated":true, and dropped (counted) if it still does not fit
  timeout=DURATION connect and write timeout (5s)
  spool=DIR|auto   tcp, tls, relp, relps: what the memory buffer cannot hold while the collector is down
                   (or slower) goes to disk in DIR and is replayed in order when it is back, ahead of newer
                   events, also after auperf restarts or is killed; a torn record (a crash mid-write) is
                   detected and skipped, counted (spool_torn); one output per DIR. auto: spool-HOST_PORT
                   under the service's StateDirectory ($STATE_DIRECTORY, else /var/lib/auperf)
  spool_max=SIZE   bound of the spool (1GiB); past it events are dropped and counted
  socket=PATH      for "syslog": the local socket (/dev/log)
  ca=FILE          TLS: PEM CA bundle to verify the server (system roots if omitted)
  cert=FILE key=FILE   TLS: client certificate and key
  server_name=NAME TLS: name verified in the server certificate (HOST if omitted)
SIZE takes a suffix k, m, g (powers of 1024; KB, KiB, MB, MiB ... alike). DURATION as in 200ms, 1s.`

type sinkKind uint8

const (
	kindStdout sinkKind = iota
	kindFile
	kindSyslog
)

type formatKind uint8

const (
	formatJSON formatKind = iota
	formatText
	formatSyslog
)

type syslogNet string

const (
	netUnix syslogNet = "unix"
	netUDP  syslogNet = "udp"
	netTCP  syslogNet = "tcp"
	netTLS  syslogNet = "tls"
	// RELP (rsyslog's Reliable Event Logging Protocol), plain and TLS:
	// frames acknowledged by the collector, resent after a reconnect.
	netRELP  syslogNet = "relp"
	netRELPS syslogNet = "relps"
)

// overTLS reports whether the transport is TLS (tls, relps).
func (s *sinkSpec) overTLS() bool { return s.network == netTLS || s.network == netRELPS }

// sinkSpec is one parsed --output spec.
type sinkSpec struct {
	raw    string // as given
	name   string // for counters: the spec without its query (no key paths, no secrets)
	kind   sinkKind
	format formatKind

	flush  time.Duration
	buffer int
	queue  int
	color  string       // auto, always, never
	args   event.Layout // json and syslog bodies: args as an array or an object
	// network syslog: the disk spool and its bound
	spool    string
	spoolMax int64

	// files
	path    string
	mode    os.FileMode
	maxSize int64
	keep    int
	fsync   time.Duration

	// syslog
	network    syslogNet
	addr       string // host:port or socket path
	rfc3164    bool
	cee        bool
	facility   int
	severity   int
	hostname   string
	msgMax     int
	timeout    time.Duration
	ca         string
	cert, key  string
	serverName string
}

// SpecError is a bad --output spec.
type SpecError struct {
	Spec string
	Err  error
}

func (e *SpecError) Error() string { return fmt.Sprintf("output %q: %v", e.Spec, e.Err) }
func (e *SpecError) Unwrap() error { return e.Err }

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

var severities = map[string]int{
	"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7,
}

const (
	sevWarning      = 4
	defaultFacility = 16 // local0
	defaultSeverity = 6  // info
)

// parseSpec parses one spec with opts' defaults. Errors do not carry the
// spec; the caller wraps them in a SpecError.
func parseSpec(raw string, opts *Options) (*sinkSpec, error) {
	s := &sinkSpec{
		raw:      raw,
		flush:    opts.FlushDelay,
		buffer:   opts.RetryBuffer,
		queue:    opts.QueueBatches,
		color:    "auto",
		mode:     opts.FileMode,
		keep:     5,
		facility: defaultFacility,
		severity: defaultSeverity,
		timeout:  opts.DialTimeout,
		hostname: opts.Hostname,
	}
	body, query, _ := strings.Cut(raw, "?")
	s.name = body
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("bad options: %v", err)
	}
	head, rest, hasRest := strings.Cut(body, ":")
	switch head {
	case "json", "text":
		s.format = formatJSON
		if head == "text" {
			s.format = formatText
		}
		if !hasRest {
			s.kind = kindStdout
			break
		}
		if rest == "" {
			return nil, fmt.Errorf("empty file path")
		}
		s.kind = kindFile
		s.path = rest
		s.color = "never"
	case "syslog":
		s.kind = kindSyslog
		s.format = formatSyslog
		if err := s.parseSyslogAddr(rest, hasRest); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown output kind %q (want json, text or syslog)", head)
	}
	if err := s.applyOptions(q); err != nil {
		return nil, err
	}
	if s.spool != "" && s.spoolMax == 0 {
		s.spoolMax = 1 << 30
	}
	if s.kind == kindSyslog && s.msgMax == 0 {
		s.msgMax = 8192
		if s.network == netUDP {
			s.msgMax = 2048
		}
	}
	return s, nil
}

func (s *sinkSpec) parseSyslogAddr(rest string, hasRest bool) error {
	if !hasRest {
		s.network, s.addr = netUnix, "/dev/log"
		return nil
	}
	scheme, addr, ok := strings.Cut(rest, "://")
	if !ok {
		return fmt.Errorf("want syslog:unix:///PATH or syslog:udp|tcp|tls|relp|relps://HOST:PORT")
	}
	switch syslogNet(scheme) {
	case netUnix:
		if !strings.HasPrefix(addr, "/") {
			return fmt.Errorf("unix socket path must be absolute")
		}
		s.network, s.addr = netUnix, addr
		return nil
	case netUDP, netTCP, netTLS, netRELP, netRELPS:
		s.network = syslogNet(scheme)
	default:
		return fmt.Errorf("unknown syslog transport %q (want unix, udp, tcp, tls, relp or relps)", scheme)
	}
	if strings.ContainsAny(addr, "/@") {
		return fmt.Errorf("want HOST:PORT after %s://", scheme)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: the transport's well-known one.
		host, port = strings.Trim(addr, "[]"), "514"
		switch s.network {
		case netTLS:
			port = "6514"
		case netRELP, netRELPS:
			port = "2514"
		}
	}
	if host == "" {
		return fmt.Errorf("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	s.addr = net.JoinHostPort(host, port)
	s.serverName = host
	return nil
}

// allowed options per sink kind.
var (
	commonOpts = []string{"flush", "buffer", "queue"}
	textOpts   = []string{"color"}
	jsonOpts   = []string{"args"}
	fileOpts   = []string{"mode", "max_size", "keep", "fsync"}
	syslogOpts = []string{"format", "cee", "facility", "severity", "hostname", "msg_max", "timeout", "socket"}
	spoolOpts  = []string{"spool", "spool_max"}
	tlsOpts    = []string{"ca", "cert", "key", "server_name"}
)

// autoSpool is spool=auto's directory: spool-HOST_PORT under the
// service's state directory ($STATE_DIRECTORY, which systemd sets from
// StateDirectory=; else /var/lib/auperf).
func autoSpool(addr string) string {
	dir := os.Getenv("STATE_DIRECTORY")
	if i := strings.IndexByte(dir, ':'); i >= 0 {
		dir = dir[:i] // several directories: the first
	}
	if dir == "" {
		dir = "/var/lib/auperf"
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, addr)
	return filepath.Join(dir, "spool-"+name)
}

func (s *sinkSpec) allowed(key string) bool {
	lists := [][]string{commonOpts}
	if s.format == formatText {
		lists = append(lists, textOpts)
	}
	if s.format == formatJSON || s.kind == kindSyslog {
		lists = append(lists, jsonOpts)
	}
	if s.kind == kindFile {
		lists = append(lists, fileOpts)
	}
	if s.kind == kindSyslog {
		lists = append(lists, syslogOpts)
		if s.network == netTCP || s.network == netTLS || s.network == netRELP || s.network == netRELPS {
			lists = append(lists, spoolOpts)
		}
		if s.overTLS() {
			lists = append(lists, tlsOpts)
		}
	}
	for _, l := range lists {
		for _, k := range l {
			if k == key {
				return true
			}
		}
	}
	return false
}

func (s *sinkSpec) applyOptions(q url.Values) error {
	for key, vals := range q {
		if !s.allowed(key) {
			return fmt.Errorf("unknown option %q for this output", key)
		}
		if len(vals) != 1 {
			return fmt.Errorf("option %q given %d times", key, len(vals))
		}
		v := vals[0]
		var err error
		switch key {
		case "flush":
			s.flush, err = parseDuration(v, true)
		case "buffer":
			var n int64
			n, err = parseSize(v)
			s.buffer = int(n)
		case "queue":
			s.queue, err = strconv.Atoi(v)
			if err == nil && (s.queue < 1 || s.queue > 1<<16) {
				err = fmt.Errorf("out of range 1..65536")
			}
		case "spool":
			if v == "auto" {
				v = autoSpool(s.addr)
			}
			if !filepath.IsAbs(v) {
				err = fmt.Errorf("want an absolute directory, or auto")
			}
			s.spool = filepath.Clean(v)
		case "spool_max":
			s.spoolMax, err = parseSize(v)
		case "args":
			var ok bool
			if s.args, ok = event.ParseLayout(v); !ok {
				err = fmt.Errorf("want array or object")
			}
		case "color":
			if v != "auto" && v != "always" && v != "never" {
				err = fmt.Errorf("want auto, always or never")
			}
			s.color = v
		case "mode":
			var m uint64
			m, err = strconv.ParseUint(v, 8, 32)
			if err == nil && m&^0o777 != 0 {
				err = fmt.Errorf("want permission bits like 0640")
			} else if err == nil && m&0o026 != 0 {
				// Events name processes, files and users: for the
				// administrator's eyes, and never writable by others.
				err = fmt.Errorf("%04o lets group or others write the file, or others read it: refused (0640 or 0600)", m)
			}
			s.mode = os.FileMode(m)
		case "max_size":
			s.maxSize, err = parseSize(v)
		case "keep":
			s.keep, err = strconv.Atoi(v)
			if err == nil && (s.keep < 0 || s.keep > 1000) {
				err = fmt.Errorf("out of range 0..1000")
			}
		case "fsync":
			s.fsync, err = parseDuration(v, true)
		case "format":
			switch v {
			case "rfc5424":
				s.rfc3164 = false
			case "rfc3164":
				s.rfc3164 = true
			default:
				err = fmt.Errorf("want rfc5424 or rfc3164")
			}
		case "cee":
			s.cee, err = strconv.ParseBool(v)
		case "facility":
			f, ok := facilities[v]
			if !ok {
				err = fmt.Errorf("unknown facility")
			}
			s.facility = f
		case "severity":
			f, ok := severities[v]
			if !ok {
				err = fmt.Errorf("unknown severity")
			}
			s.severity = f
		case "hostname":
			s.hostname = v
		case "msg_max":
			var n int64
			n, err = parseSize(v)
			if err == nil && (n < 480 || n > 1<<20) {
				err = fmt.Errorf("out of range 480..1MiB")
			}
			s.msgMax = int(n)
		case "timeout":
			s.timeout, err = parseDuration(v, false)
		case "socket":
			if s.network != netUnix {
				err = fmt.Errorf("only for a local socket")
			} else if !strings.HasPrefix(v, "/") {
				err = fmt.Errorf("must be an absolute path")
			}
			s.addr = v
		case "ca":
			s.ca = v
		case "cert":
			s.cert = v
		case "key":
			s.key = v
		case "server_name":
			s.serverName = v
		}
		if err != nil {
			return fmt.Errorf("option %s=%q: %v", key, v, err)
		}
	}
	if (s.cert == "") != (s.key == "") {
		return fmt.Errorf("options cert and key go together")
	}
	return nil
}

func parseDuration(v string, zeroOK bool) (time.Duration, error) {
	if v == "0" && zeroOK {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 || (d == 0 && !zeroOK) {
		return 0, fmt.Errorf("must be positive")
	}
	return d, nil
}

// parseSize parses "100MB", "64k", "4MiB", "1g", "512" (bytes); units are
// powers of 1024 whatever their spelling.
func parseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suf  string
		mult int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}

// FilePath is the file a spec writes to ("" for stdout and syslog, or a
// spec that does not parse).
func FilePath(spec string) string {
	o := Options{}
	o.setDefaults()
	s, err := parseSpec(spec, &o)
	if err != nil || s.kind != kindFile {
		return ""
	}
	return s.path
}
