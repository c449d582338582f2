// The audit netlink socket: its own recvmmsg batches for records, and the
// request/reply side go-libaudit's client uses.

package auditsrc

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	libaudit "github.com/elastic/go-libaudit/v2"
	"golang.org/x/sys/unix"
)

// conn is an audit netlink socket that go-libaudit's AuditClient can drive
// (it implements libaudit.NetlinkSendReceiver) and whose fd we own: the
// reader needs it to enlarge SO_RCVBUF, to poll with a timeout (so that a
// cancelled context is noticed) and to read without allocating.
type conn struct {
	fd   int
	port uint32
	seq  uint32
	buf  []byte
}

var _ libaudit.NetlinkSendReceiver = (*conn)(nil)

// openConn opens and binds an audit netlink socket; groups is 0 (unicast,
// command and control) or libaudit.NetlinkGroupReadLog (multicast).
func openConn(groups uint32) (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, fmt.Errorf("open audit netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		if groups != 0 {
			return nil, fmt.Errorf("join audit multicast group (needs CAP_AUDIT_READ, kernel 3.16+): %w", err)
		}
		return nil, fmt.Errorf("bind audit netlink socket: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("read audit socket address: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		unix.Close(fd)
		return nil, errors.New("read audit socket address: not netlink")
	}
	return &conn{fd: fd, port: nl.Pid, buf: make([]byte, unix.NLMSG_HDRLEN+libaudit.AuditMessageMaxLength)}, nil
}

// setRcvBuf enlarges the receive buffer: SO_RCVBUFFORCE (root may exceed
// net.core.rmem_max), else SO_RCVBUF. It returns the size the kernel set.
func (c *conn) setRcvBuf(n int) int {
	if n > 0 {
		if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n); err != nil {
			_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
	}
	got, _ := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	return got
}

func (c *conn) Send(msg syscall.NetlinkMessage) (uint32, error) { return c.send(msg, 0) }

func (c *conn) SendNoWait(msg syscall.NetlinkMessage) (uint32, error) {
	return c.send(msg, unix.MSG_DONTWAIT)
}

func (c *conn) send(msg syscall.NetlinkMessage, flags int) (uint32, error) {
	if msg.Header.Pid == 0 {
		msg.Header.Pid = c.port
	}
	msg.Header.Seq = atomic.AddUint32(&c.seq, 1)
	msg.Header.Len = uint32(unix.SizeofNlMsghdr + len(msg.Data))
	b := make([]byte, msg.Header.Len)
	*(*syscall.NlMsghdr)(unsafe.Pointer(&b[0])) = msg.Header
	copy(b[unix.SizeofNlMsghdr:], msg.Data)
	return msg.Header.Seq, unix.Sendto(c.fd, b, flags, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// Receive is for go-libaudit's request/reply calls. An audit message is a
// single netlink message whose header length may not be trusted (the
// kernel's audit records do not always set it), hence no
// syscall.ParseNetlinkMessage.
func (c *conn) Receive(nonBlocking bool, p libaudit.NetlinkParser) ([]syscall.NetlinkMessage, error) {
	n, err := c.recv(c.buf, nonBlocking)
	if err != nil {
		return nil, err
	}
	return p(c.buf[:n])
}

// recv reads one message into buf. Messages that are not from the kernel
// (port 0) are skipped: another process could otherwise feed us records.
func (c *conn) recv(buf []byte, nonBlocking bool) (int, error) {
	flags := 0
	if nonBlocking {
		flags = unix.MSG_DONTWAIT
	}
	for {
		var from unix.RawSockaddrNetlink
		fromLen := uint32(unsafe.Sizeof(from))
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(c.fd),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(flags),
			uintptr(unsafe.Pointer(&from)), uintptr(unsafe.Pointer(&fromLen)))
		if errno != 0 {
			if errno == unix.EINTR {
				continue
			}
			return 0, errno
		}
		if from.Pid != 0 {
			continue
		}
		if int(n) < unix.NLMSG_HDRLEN {
			continue
		}
		return int(n), nil
	}
}

// msgBatch holds the messages of one recvmmsg: a wakeup drains many
// records with one syscall instead of one recvfrom each.
type msgBatch struct {
	buf  []byte // len(msgs) slots of slot bytes
	slot int
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
	from []unix.RawSockaddrNetlink
}

func newMsgBatch(n, slot int) *msgBatch {
	b := &msgBatch{
		buf: make([]byte, n*slot), slot: slot,
		msgs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), from: make([]unix.RawSockaddrNetlink, n),
	}
	for i := range b.msgs {
		b.iovs[i].Base = &b.buf[i*slot]
		b.iovs[i].SetLen(slot)
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
		b.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.from[i]))
	}
	return b
}

// recvBatch reads up to len(b.msgs) messages without waiting and returns
// how many it read (EAGAIN: none).
func (c *conn) recvBatch(b *msgBatch) (int, error) {
	for i := range b.msgs {
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrNetlink
		b.msgs[i].Len = 0
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(c.fd),
			uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(n), nil
	}
}

// message returns message i of the last recvBatch, or nil when it is not
// from the kernel (port 0: another process could otherwise feed us
// records) or too short to be one.
func (b *msgBatch) message(i int) []byte {
	n := int(b.msgs[i].Len)
	if b.from[i].Pid != 0 || n < unix.NLMSG_HDRLEN {
		return nil
	}
	return b.buf[i*b.slot : i*b.slot+n]
}

// wait polls the socket for input for at most ms milliseconds.
func (c *conn) wait(ms int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll audit socket: %w", err)
		}
		return n > 0, nil
	}
}

func (c *conn) Close() error { return unix.Close(c.fd) }

// client wraps c in a go-libaudit client for status and rule requests.
func (c *conn) client() *libaudit.AuditClient { return &libaudit.AuditClient{Netlink: c} }
