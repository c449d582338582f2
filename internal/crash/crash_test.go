package crash

import (
	"testing"
	"time"
)

// A panic in a goroutine started with Go runs the registered restore and
// exits 70; Exit then does not exit with another status.
func TestPanicRestoresThenExits70(t *testing.T) {
	codes := make(chan int, 2)
	exit = func(c int) { codes <- c }
	restored := make(chan bool, 1)
	SetRestore(func() { restored <- true })
	defer SetRestore(nil)
	Go(func() { panic("boom") })
	select {
	case c := <-codes:
		if c != ExitStatus {
			t.Errorf("exit %d, want %d", c, ExitStatus)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after the panic")
	}
	select {
	case <-restored:
	default:
		t.Error("the restore did not run before the exit")
	}
	go Exit(0)
	select {
	case c := <-codes:
		t.Errorf("Exit(%d) went through while a panic was handled", c)
	case <-time.After(100 * time.Millisecond):
	}
}
