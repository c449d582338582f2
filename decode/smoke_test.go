package decode

import (
	"testing"

	"github.com/auperf/auperf/event"
)

func TestSmokeMsync(t *testing.T) {
	var ev event.Event
	r := Raw{Arch: ArchX86_64, Nr: 26, Args: [6]uint64{0x7f0000001000, 4096, 4}, Known: 7, Ret: -12, HasRet: true}
	Decode(&ev, &r, nil)
	if ev.EventName != "msync" || len(ev.Args) != 3 || ev.Errno != "ENOMEM" {
		t.Fatalf("got %+v", ev)
	}
	if got := string(ev.Args[2].Decoder.AppendDecoded(nil, ev.Args[2].Value)); got != "MS_SYNC" {
		t.Fatalf("flags %q", got)
	}
}
