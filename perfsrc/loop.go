// The poller: one goroutine that waits on every ring (watermark wakeups,
// or PollInterval), reads them in rounds into the pairer, looks for CPUs
// brought online, and at the end drains what the rings still hold.

package perfsrc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/auperf/auperf/event"
	"github.com/auperf/auperf/internal/crash"
	"github.com/auperf/auperf/internal/source"
)

// Run attaches (unless Attach was called), delivers events to h until ctx
// is done, then drains the rings, reports syscalls still running (without
// a return value), detaches and returns. After Close it returns
// source.ErrClosed.
func (s *Source) Run(ctx context.Context, h event.Handler) error {
	if err := s.Attach(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.state.Closed() {
		s.mu.Unlock()
		return source.ErrClosed
	}
	k, p := s.k, s.run
	s.running = true
	s.mu.Unlock()
	p.h = h
	// Wake the poller when ctx ends; the waker is gone before detach
	// closes the eventfd.
	wake := k.wake
	runDone := make(chan struct{})
	var waker sync.WaitGroup
	waker.Add(1)
	go func() {
		defer waker.Done()
		defer crash.Recover() // runs first: a panic is handled before the others go on
		select {
		case <-ctx.Done():
			one := [8]byte{1}
			unix.Write(wake, one[:])
		case <-runDone:
		}
	}()
	defer func() {
		close(runDone)
		waker.Wait()
		s.mu.Lock()
		s.running = false
		s.detach()
		s.mu.Unlock()
	}()

	pollFds := func() []unix.PollFd {
		pfds := make([]unix.PollFd, len(k.rings)+1)
		for i, r := range k.rings {
			pfds[i] = unix.PollFd{Fd: -1} // a retired ring: poll ignores it
			if r != nil {
				pfds[i] = unix.PollFd{Fd: int32(r.fd), Events: unix.POLLIN}
			}
		}
		pfds[len(k.rings)] = unix.PollFd{Fd: int32(k.wake), Events: unix.POLLIN}
		return pfds
	}
	pfds := pollFds()
	timeout := int(s.cfg.PollInterval / time.Millisecond)
	nextPlug := wallNow() + hotplugEvery
	for {
		_, err := unix.Poll(pfds, timeout)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("poll perf rings: %w", err)
		}
		if pfds[len(k.rings)].Revents != 0 || ctx.Err() != nil {
			break
		}
		s.round(false)
		if now := wallNow(); now >= nextPlug {
			nextPlug = now + hotplugEvery
			if s.hotplug() {
				pfds = pollFds()
			}
		}
	}
	for _, ev := range k.events {
		ev.Disable()
	}
	s.round(false)
	s.round(true)
	p.flushPending()
	return nil
}

// round reads every ring into the pairer and lets it process what is safe
// to order (see pairer.round).
func (s *Source) round(final bool) {
	crash.Inject("perf")
	p := s.run
	p.clock.retime()
	for i, r := range s.k.rings {
		if r != nil && i < len(p.queues) {
			r.drain(i, p)
		}
	}
	p.round(final)
}
