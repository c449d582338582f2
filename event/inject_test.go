package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var hostile = []string{
	"x\n{\"eventName\":\"forged\"}",
	"/tmp/a\nb\r\nc]\"d\\e}",
	"\x00\x01\x1b[31mred\x1b[0m\x7f",
	"line\u2028sep\u2029para\u0085nel",
	"\u202egnp.exe\u2066",
	"\xff\xfe\xc3\x28\xe2\x82\xed\xa0\x80\xf4\x90\x80\x80end",
	"\"}],\"eventName\":\"forged\",\"x\":[{\"",
	"ok é 日本 🙂",
	"",
}

// mustEscape lists, apart from the encoder's own suspectRune, the valid
// non-ASCII runes that are legal in JSON but must never reach the output
// as they are: C1 controls, the line and paragraph separators, the
// bidirectional marks and overrides, and the BOM. Dropping a rune from
// suspectRune fails the tests instead of changing what they expect.
var mustEscape = []struct{ lo, hi rune }{
	{0x80, 0x9f},     // C1 controls
	{0x061c, 0x061c}, // ALM
	{0x200e, 0x200f}, // LRM RLM
	{0x2028, 0x2029}, // line/paragraph separator
	{0x202a, 0x202e}, // LRE RLE PDF LRO RLO
	{0x2066, 0x2069}, // LRI RLI FSI PDI
	{0xfeff, 0xfeff}, // BOM / zero width no-break space
}

// mustBeEscaped reports whether r is in mustEscape.
func mustBeEscaped(r rune) bool {
	for _, e := range mustEscape {
		if r >= e.lo && r <= e.hi {
			return true
		}
	}
	return false
}

// hostileEvent puts s in every attacker-controlled place of a msync event.
func hostileEvent(ev *Event, name, exe, arg string) {
	perfBase(ev, 26, "msync")
	ev.ProcessName = name
	ev.ExecutablePath = exe
	a := ev.SetArgs(3)
	a[0] = Arg{Name: "path", Type: "const char*", Kind: ArgString, Str: arg}
	a[1] = Arg{Name: "length", Type: "size_t", Kind: ArgUint, Value: 4096}
	a[2] = Arg{Name: "flags", Type: "int", Kind: ArgInt, Value: 4, Decoder: msyncDec}
}

func TestInjectionStaysInItsLine(t *testing.T) {
	var ev Event
	for _, s := range hostile {
		hostileEvent(&ev, s, s, s)
		line := AppendJSON(nil, &ev)
		checkJSONLine(t, strconv.Quote(s), line, &ev)
		var got struct {
			ProcessName string `json:"processName"`
			EventName   string `json:"eventName"`
			Executable  struct {
				Path string `json:"path"`
			} `json:"executable"`
			Args []struct {
				Value   any    `json:"value"`
				Decoded string `json:"decoded"`
			} `json:"args"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want := sanitized(s)
		if got.EventName != "msync" || got.ProcessName != want || got.Executable.Path != want ||
			len(got.Args) != 3 || got.Args[0].Value != nil || got.Args[0].Decoded != want {
			t.Errorf("%q: decoded to %+v, want processName/path/arg %q", s, got, want)
		}

		text := AppendText(nil, &ev, false)
		checkTextLine(t, s, text)
		if s != "" && !bytes.HasPrefix(text[len("10:39:08.283123 "):], append(AppendEscaped(nil, s), '[')) {
			t.Errorf("%q: text does not start with the escaped comm: %q", s, text)
		}
		if u, err := unescapeText(string(AppendEscaped(nil, s))); err != nil || u != s {
			t.Errorf("%q: text escaping does not round-trip: %q, %v", s, u, err)
		}
	}
}

// checkTextLine: one line, valid UTF-8, no control byte but the final '\n'.
func checkTextLine(t *testing.T, name string, line []byte) {
	t.Helper()
	if len(line) == 0 || bytes.IndexByte(line, '\n') != len(line)-1 {
		t.Errorf("%q: text is not exactly one line: %q", name, line)
	}
	if !utf8.Valid(line) {
		t.Errorf("%q: text is not valid UTF-8: %q", name, line)
	}
	for _, r := range string(line[:len(line)-1]) {
		if r < 0x20 || r == 0x7f || mustBeEscaped(r) {
			t.Errorf("%q: text holds %U: %q", name, r, line)
			break
		}
	}
}

// unescapeText inverts AppendEscaped.
func unescapeText(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("trailing backslash")
		}
		i++
		switch s[i] {
		case '\\', '"':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'f':
			b.WriteByte('\f')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'x':
			if i+2 >= len(s) {
				return "", errors.New("short \\x")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", err
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			return "", errors.New("unknown escape \\" + string(s[i]))
		}
	}
	return b.String(), nil
}

// TestAppendJSONStringEveryByte: each byte value alone and inside text
// decodes back to itself (or U+FFFD when it is not UTF-8 by itself).
func TestAppendJSONStringEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := "a" + string([]byte{byte(c)}) + "b"
		out := AppendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("byte %#x: %v: %s", c, err, out)
		}
		if got != sanitized(s) || !utf8.Valid(out) || bytes.ContainsAny(out, "\n\r\x00") {
			t.Errorf("byte %#x: %s decodes to %q", c, out, got)
		}
	}
	runes := []rune{0x85, 0x2028, 0x2029, 0x202e, 0x2066, 0xfeff, 0x10ffff, 0xfffd, 0xe9}
	for _, e := range mustEscape {
		for r := e.lo; r <= e.hi; r++ {
			runes = append(runes, r)
		}
	}
	for _, r := range runes {
		s := string(r)
		out := AppendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil || got != s {
			t.Errorf("%U: %s decodes to %q, %v", r, out, got, err)
		}
		if mustBeEscaped(r) && !bytes.HasPrefix(out, []byte(`"\u`)) {
			t.Errorf("%U: not escaped: %s", r, out)
		}
	}
}

// TestDecoderOutputIsEscaped: a decoder that returns hostile bytes cannot
// break the line either, and a well-behaved one is written as is.
func TestDecoderOutputIsEscaped(t *testing.T) {
	var ev Event
	hostileEvent(&ev, "p", "/p", "a")
	for _, d := range []rawDecoder{
		"MS_SYNC\n\"}\x00\xff\u2028",
		rawDecoder(strings.Repeat("\n\"\xff", 100)),
	} {
		ev.Args[2].Decoder = d
		line := AppendJSON(nil, &ev)
		checkJSONLine(t, "decoder", line, &ev)
		text := AppendText(nil, &ev, false)
		checkTextLine(t, "decoder", text)
		// in place, with and without room to grow
		for _, c := range []int{0, len(line) - 1, len(line), len(line) + 3*len(d), 8192} {
			if buf := AppendJSON(make([]byte, 0, c), &ev); !bytes.Equal(buf, line) {
				t.Errorf("cap %d: %s", c, buf)
			}
			if buf := AppendText(make([]byte, 0, c), &ev, false); !bytes.Equal(buf, text) {
				t.Errorf("cap %d: %s", c, buf)
			}
		}
	}
}

func TestAllocsPerEvent(t *testing.T) {
	var ev Event
	buf := make([]byte, 0, 4096)
	for _, f := range fixtures {
		f.fill(&ev)
		if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &ev) }); n != 0 {
			t.Errorf("%s: AppendJSON allocates %v times per event", f.name, n)
		}
		if n := testing.AllocsPerRun(100, func() { buf = AppendText(buf[:0], &ev, false) }); n != 0 {
			t.Errorf("%s: AppendText allocates %v times per event", f.name, n)
		}
		if n := testing.AllocsPerRun(100, func() { buf = AppendText(buf[:0], &ev, true) }); n != 0 {
			t.Errorf("%s: AppendText(color) allocates %v times per event", f.name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { NewLost(&ev, 1, SourcePerf, 0, 5, "ring") }); n != 0 {
		t.Errorf("NewLost allocates %v times", n)
	}
}

// FuzzAppendJSON: whatever the traced process puts in its name, its
// executable's path or a string argument, each encoder writes exactly one
// line of valid UTF-8; the JSON line decodes with encoding/json to the
// sanitized strings and the text line unescapes to the original ones.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, s, s)
	}
	var ev Event
	buf := make([]byte, 0, 1<<16)
	f.Fuzz(func(t *testing.T, name, exe, arg string) {
		hostileEvent(&ev, name, exe, arg)
		buf = AppendJSON(buf[:0], &ev)
		checkJSONLine(t, "fuzz", buf, &ev)
		buf = AppendText(buf[:0], &ev, false)
		checkTextLine(t, name, buf)
		for _, s := range []string{name, exe, arg} {
			if u, err := unescapeText(string(AppendEscaped(nil, s))); err != nil || u != s {
				t.Errorf("%q: text escaping does not round-trip: %q, %v", s, u, err)
			}
		}
	})
}

// TestEscapeEveryBytePosition puts each byte value at each position of a
// long plain string, so that the eight-bytes-at-a-time path sees it in
// every lane.
func TestEscapeEveryBytePosition(t *testing.T) {
	plain := []byte("abcdefghijklmnopqrstuvwx")
	for c := 0; c < 256; c++ {
		for p := range plain {
			b := append([]byte(nil), plain...)
			b[p] = byte(c)
			s := string(b)
			out := AppendJSONString(nil, s)
			var got string
			if err := json.Unmarshal(out, &got); err != nil || got != sanitized(s) || !utf8.Valid(out) {
				t.Fatalf("byte %#x at %d: %s decodes to %q, %v", c, p, out, got, err)
			}
			if u, err := unescapeText(string(AppendEscaped(nil, s))); err != nil || u != s {
				t.Fatalf("byte %#x at %d: text %q, %v", c, p, u, err)
			}
			if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
				if string(out) != `"`+s+`"` {
					t.Fatalf("byte %#x at %d: plain byte escaped: %s", c, p, out)
				}
			}
		}
	}
}
