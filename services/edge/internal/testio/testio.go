// Package testio holds the readers and the accept loop the edge's tests
// share.
package testio

import (
	"io"
	"net"
)

// Repeat returns a reader that gives b over and over, never ending: a
// stream of the same request or answer, for a test that reads one after
// another without allocating for the input.
func Repeat(b []byte) io.Reader { return &repeat{b: b} }

type repeat struct {
	b   []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], r.b[r.off:])
		n += m
		r.off = (r.off + m) % len(r.b)
	}
	return n, nil
}

// ServeEach accepts connections on ln until it is closed, and hands each to
// handle in a goroutine of its own, closing the connection when handle
// returns: the accept loop of a test's backend or proxy.
func ServeEach(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}
