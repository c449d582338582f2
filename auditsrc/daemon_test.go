// Another process and the audit pid: AUDIT_REPLACE pings told once per
// process, and a pid taken from us ends the source without handing back
// what is now the new daemon's.

package auditsrc

import (
	"encoding/binary"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestReplacePing: the kernel's AUDIT_REPLACE carries the pid of the
// process that asked to be the daemon; it is not a record.
func TestReplacePing(t *testing.T) {
	lr := newLeanReader(t)
	b := make([]byte, syscall.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(b[syscall.NLMSG_HDRLEN:], 4242)
	h := (*syscall.NlMsghdr)(unsafe.Pointer(&b[0]))
	h.Len, h.Type = uint32(len(b)), typeReplace
	lr.r.message(b, time.Now())
	if len(lr.r.replacedBy) != 1 || lr.r.replacedBy[0] != 4242 {
		t.Fatalf("replacedBy %v, want [4242]", lr.r.replacedBy)
	}
	if lr.r.c.records.Load() != 0 || len(lr.events) != 0 {
		t.Errorf("the ping was taken for a record: %d records, events %v", lr.r.c.records.Load(), lr.events)
	}
}

// TestDaemonRefusedOnce: one line per process, none for our own pid.
func TestDaemonRefusedOnce(t *testing.T) {
	var lines []string
	ss := &session{s: &Source{cfg: Config{Warn: func(l string) { lines = append(lines, l) }}}}
	for _, pid := range []uint32{4242, uint32(os.Getpid()), 4242, 4243} {
		ss.daemonRefused(pid)
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "process 4242") || !strings.Contains(lines[1], "process 4243") {
		t.Fatalf("lines %q", lines)
	}
}

// TestPIDTaken: a source that was the daemon and sees another pid in the
// status stops with an error naming it, and no longer owns the pid or the
// status fields; a source that never was the daemon does not care.
func TestPIDTaken(t *testing.T) {
	ss := &session{ownPID: true}
	if err := ss.pidTaken(uint32(os.Getpid())); err != nil {
		t.Fatalf("our own pid: %v", err)
	}
	err := ss.pidTaken(4242)
	if err == nil || !strings.Contains(err.Error(), "taken by process 4242") {
		t.Fatalf("err %v", err)
	}
	if ss.ownPID || !ss.pidLost {
		t.Errorf("ownPID %v pidLost %v after the pid was taken", ss.ownPID, ss.pidLost)
	}
	if err := (&session{}).pidTaken(4242); err != nil {
		t.Errorf("a multicast reader: %v", err)
	}
}
