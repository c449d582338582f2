// Tests of the contract's Attach and Close rules.

package source

import (
	"errors"
	"testing"
)

// Attach runs once and keeps its result; nothing attaches after Close.
func TestState(t *testing.T) {
	var st State
	calls := 0
	failing := func() error { calls++; return errors.New("no") }
	if err := st.Attach(failing); err == nil || calls != 1 {
		t.Fatalf("first Attach: %v, %d calls", err, calls)
	}
	if err := st.Attach(failing); err == nil || err.Error() != "no" || calls != 1 {
		t.Errorf("second Attach: %v, %d calls; want the first result and no new call", err, calls)
	}
	var ok State
	if err := ok.Attach(func() error { return nil }); err != nil || ok.Closed() {
		t.Fatal(err)
	}
	ok.Close()
	ok.Close()
	if err := ok.Attach(func() error { t.Error("attached after Close"); return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after a successful one and Close: %v, want ErrClosed", err)
	}
	var closed State
	closed.Close()
	if err := closed.Attach(func() error { t.Error("attached after Close"); return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
}
