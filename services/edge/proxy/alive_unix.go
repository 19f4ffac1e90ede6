//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection is still open: the backend has
// neither closed it nor sent anything on it (an idle HTTP/1.1 connection
// gets nothing but a TLS close_notify before a close). It peeks without
// waiting, so it costs one system call and consumes nothing.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var (
		buf  [1]byte
		rerr error
	)
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Done whatever the answer: this must not wait for data.
		return true
	})
	if err != nil {
		return false
	}
	// Nothing to read yet is the only good answer: no error means a byte
	// or the end of the stream, and any other error a broken connection.
	return rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
}
