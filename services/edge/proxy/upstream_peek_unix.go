//go:build unix && !linux

package proxy

import "syscall"

// peekStep is what quiet runs on the socket of c: a peek that does not
// wait, so it costs one system call and consumes nothing. Nothing to read
// yet is the only good answer: no error means a byte or the end of the
// stream, and any other error a broken connection.
func (c *upConn) peekStep(fd uintptr) {
	_, _, err := syscall.Recvfrom(int(fd), c.peek.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	c.peek.quiet = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}
