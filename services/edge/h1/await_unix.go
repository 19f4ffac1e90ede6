//go:build unix

package h1

import "syscall"

// pending reports whether bytes are waiting on the socket, unread: a peek
// that does not wait. It is made only when a wait falls back.
func (a *awaitState) pending() bool {
	var queued bool
	err := a.rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), a.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		queued = err != syscall.EAGAIN && err != syscall.EWOULDBLOCK || n > 0
	})
	return err != nil || queued
}
