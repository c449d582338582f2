// Benchmark of log decoding end to end: the recorded raw.log many times
// over (serials renumbered), read, grouped, decoded and encoded as JSON.
// One op is one record.

package auditsrc

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/auperf/auperf/event"
)

var stampRE = regexp.MustCompile(`audit\(([0-9.]+):([0-9]+)\)`)

// bigLog is raw.log times over, each copy's serials past the previous
// copy's, and its record count.
func bigLog(b testing.TB, times int) ([]byte, int) {
	raw, err := os.ReadFile(filepath.Join(logDir, "raw.log"))
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	n := 0
	lines := bytes.SplitAfter(raw, []byte("\n"))
	for k := range times {
		for _, l := range lines {
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			out.Write(stampRE.ReplaceAllFunc(l, func(m []byte) []byte {
				s := stampRE.FindSubmatch(m)
				serial, _ := strconv.Atoi(string(s[2]))
				return []byte("audit(" + string(s[1]) + ":" + strconv.Itoa(serial+k*100000) + ")")
			}))
			n++
		}
	}
	return out.Bytes(), n
}

func BenchmarkDecodeLogJSON(b *testing.B) {
	log, records := bigLog(b, 400) // about 100,000 records
	var buf []byte
	events := 0
	b.SetBytes(int64(len(log)) / int64(records))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += records {
		st, err := DecodeLog(bytes.NewReader(log), LogConfig{}, func(ev *event.Event) {
			buf = event.AppendJSON(buf[:0], ev)
			events++
		})
		if err != nil || st.SkippedTotal() != 0 {
			b.Fatalf("%v, skipped %d", err, st.SkippedTotal())
		}
	}
	b.StopTimer()
	recs := float64(b.N/records+1) * float64(records)
	if b.N%records == 0 {
		recs = float64(b.N)
	}
	b.ReportMetric(recs/b.Elapsed().Seconds(), "records/s")
}
