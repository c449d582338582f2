// Package crash turns a panic in any goroutine auperf starts into a clean
// end: the panic and its stack on stderr, the kernel state auperf changed
// restored (audit status and rules, perf events, mounts), then exit status
// 70 (EX_SOFTWARE). Without it a panic kills the process with audit left
// enabled and our rules loaded until some later start repairs them.
//
// Every goroutine of the run path defers Recover first (or is started
// with Go); run registers what restores the host with SetRestore.
package crash

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// ExitStatus is the exit status after a panic.
const ExitStatus = 70

// restoreTimeout bounds the restore after a panic: a panic that left a
// lock held must not hang the process; the next start (or `auperf
// cleanup`) repairs what is left.
const restoreTimeout = 5 * time.Second

var (
	restore  atomic.Pointer[func()]
	crashing atomic.Bool
	once     sync.Once
	// exit is os.Exit; tests replace it.
	exit = os.Exit
)

// SetRestore registers f as what a panic runs before exiting (nil: none).
func SetRestore(f func()) {
	if f == nil {
		restore.Store(nil)
		return
	}
	restore.Store(&f)
}

// Recover, deferred at the top of a goroutine, handles a panic of that
// goroutine: see the package comment. It does nothing without a panic.
func Recover() {
	if r := recover(); r != nil {
		handle(r, debug.Stack())
	}
}

// Go runs f in a new goroutine that recovers from a panic.
func Go(f func()) {
	go func() {
		defer Recover()
		f()
	}()
}

func handle(r any, stack []byte) {
	crashing.Store(true)
	once.Do(func() {
		fmt.Fprintf(os.Stderr, "auperf: panic: %v\n%s", r, stack)
		if f := restore.Load(); f != nil {
			done := make(chan struct{})
			go func() {
				defer func() { recover(); close(done) }()
				(*f)()
			}()
			select {
			case <-done:
				fmt.Fprintln(os.Stderr, "auperf: kernel state restored after the panic")
			case <-time.After(restoreTimeout):
				fmt.Fprintln(os.Stderr, "auperf: restoring the kernel state timed out; `auperf cleanup` restores what is left")
			}
		}
		exit(ExitStatus)
	})
	// Another goroutine panicked at the same time: wait for the first.
	select {}
}

// Inject panics when the environment variable AUPERF_INJECT_PANIC names
// where: how the tests make each goroutine of the run path panic.
func Inject(where string) {
	if injected != "" && injected == where {
		panic("injected panic (AUPERF_INJECT_PANIC=" + where + ")")
	}
}

var injected = os.Getenv("AUPERF_INJECT_PANIC")

// Exit ends the process with code, unless a panic is being handled: then
// the handler's exit (70, after the restore) is the one that counts.
func Exit(code int) {
	if crashing.Load() {
		select {}
	}
	exit(code)
}
