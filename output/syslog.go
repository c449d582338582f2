// Syslog message format: RFC 5424 (with auperf's structured data) or RFC
// 3164 headers, the JSON body (with the @cee: cookie on request), and
// messages shortened to fit a datagram. No I/O: the transport is
// syslog_transport.go's.

package output

import (
	"bytes"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/auperf/auperf/event"
)

// sdID is the SD-ID of auperf's structured data element. 32473 is the
// private enterprise number that RFC 5612 reserves for documentation and
// examples; auperf has no number of its own.
const sdID = "auperf@32473"

// syslogFormat turns events into syslog messages (without transport
// framing) for one sink.
type syslogFormat struct {
	layout   event.Layout // of the JSON body
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
		layout:   s.args,
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
		cp.HostName = cutString(ev.HostName, max(limit, 64)) // (a UTS name is at most 64 bytes)
		if limit < 0 {
			cp.Args = nil
		} else {
			f.args = append(f.args[:0], ev.Args...)
			for i := range f.args {
				f.args[i].Str = cutString(f.args[i].Str, limit)
			}
			cp.Args = f.args
		}
		f.body = event.AppendJSONLayout(f.body[:0], &cp, f.layout)
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
