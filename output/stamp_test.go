package output

import (
	"testing"
	"time"
)

// TestSyslogStamp: the cached RFC 5424 timestamp is what time formats,
// across second boundaries, out-of-order times and times before 1970.
func TestSyslogStamp(t *testing.T) {
	f := &syslogFormat{}
	for _, ns := range []int64{0, 1, 999, 1795694330749123456, 1795694330999999999, 1795694331000000000,
		1795694330000000001, -1, -1500, -1e9} {
		got := string(f.appendStamp(nil, ns))
		want := string(time.Unix(0, ns).UTC().AppendFormat(nil, "2006-01-02T15:04:05.000000Z07:00"))
		if got != want {
			t.Errorf("%d: %s, want %s", ns, got, want)
		}
	}
}
