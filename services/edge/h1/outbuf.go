package h1

import (
	"net"
)

// outBuf buffers what a connection sends, as a bufio.Writer would, with
// one difference: a write too big for the room left goes out together
// with what is buffered in a single writev, instead of a flush of the
// buffer and then a write of its own. A proxied body comes in pieces of
// tens of KiB, so this is one system call per piece instead of two; on a
// TCP connection a system call costs more than copying a few KiB.
//
// A write error ends the connection's context (the client is gone) and
// sticks: every later write and flush returns it.
type outBuf struct {
	c   *conn
	buf []byte // what is buffered: len; the room: cap
	err error
	vec net.Buffers // reused by each gathering write
}

func newOutBuf(c *conn, size int) *outBuf {
	return &outBuf{c: c, buf: make([]byte, 0, size)}
}

// Buffered returns the number of bytes waiting to be sent.
func (b *outBuf) Buffered() int { return len(b.buf) }

// Available returns the room left in the buffer.
func (b *outBuf) Available() int { return cap(b.buf) - len(b.buf) }

func (b *outBuf) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) <= b.Available() {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	if len(b.buf) == 0 {
		return b.send(p)
	}
	b.vec = append(b.vec[:0], b.buf, p)
	vec := b.vec // WriteTo consumes the slice it is called on
	n, err := vec.WriteTo(b.c.nc)
	clear(b.vec[:2])
	buffered := int64(len(b.buf))
	b.buf = b.buf[:0]
	if err != nil {
		b.fail(err)
		return max(0, int(n-buffered)), err
	}
	return len(p), nil
}

// WriteString is Write for a string, without the gathering: it is for the
// short strings of heads and framing. One longer than the whole buffer
// follows a flush in a write of its own.
func (b *outBuf) WriteString(s string) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(s) > b.Available() {
		if err := b.Flush(); err != nil {
			return 0, err
		}
		if len(s) > b.Available() {
			return b.send([]byte(s))
		}
	}
	b.buf = append(b.buf, s...)
	return len(s), nil
}

// Flush sends what is buffered.
func (b *outBuf) Flush() error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.send(b.buf)
	b.buf = b.buf[:0]
	return err
}

// send writes p to the connection, bypassing the buffer.
func (b *outBuf) send(p []byte) (int, error) {
	n, err := b.c.nc.Write(p)
	if err != nil {
		b.fail(err)
	}
	return n, err
}

func (b *outBuf) fail(err error) {
	b.err = err
	b.c.cancel()
}
