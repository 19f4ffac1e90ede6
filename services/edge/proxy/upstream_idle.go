package proxy

import (
	"crypto/tls"
	"net"
)

// The checks that keep a backend's bytes from the wrong request: a
// connection goes back to its pool only if nothing of its last answer's
// exchange is left in its buffers (drained), and leaves the pool only if
// nothing has arrived on it since (quiet).

// drained reports whether nothing the backend sent is left on c once an
// answer has been read to its end: nothing in c.br, nor, over TLS, in the
// TLS connection, which reads ahead of what it returns (whole records it
// has not decrypted, part of one, or what a short read left of one). Bytes
// still on their way, or in the socket, are quiet's.
func (c *upConn) drained() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.wire == nil {
		return true
	}
	if !c.wire.boundary() {
		// Part of a record has been read, and the rest will come.
		return false
	}
	if c.wire.whole == 1 && !c.tlsIn.full {
		// The usual case, known without asking: the last read from
		// the network ended with the one record it completed, which
		// the TLS connection then decrypted (it reads only when it
		// has no whole record left), and the last read of the
		// answer took all that was left of it.
		return true
	}
	// A read that may not wait for the network returns what the TLS
	// connection holds, and the probe's error when it holds nothing.
	// Post-handshake messages (session tickets) it holds are handled on
	// the way, as they would be by the next read.
	c.wire.probing = true
	n, err := c.nc.Read(c.probe[:])
	c.wire.probing = false
	return n == 0 && err == errProbe
}

// quiet reports whether nothing has arrived on c's socket since its last
// answer, not even its close: the bytes of an idle connection, whatever
// they are (an answer nobody asked for, the rest of a body, a TLS record),
// would otherwise be read as the next request's answer. It costs one
// system call that does not wait; a connection it cannot check is never
// quiet.
//
// The socket's read deadline plays no part: RawConn.Control, unlike Read,
// does not check it, so a deadline a whole answer left behind need not be
// cleared first.
func (c *upConn) quiet() bool {
	if c.rc == nil {
		return false
	}
	c.peek.quiet = false
	if err := c.rc.Control(c.peek.step); err != nil {
		return false
	}
	return c.peek.quiet
}

// peekState is quiet's, kept on the connection with the function
// RawConn.Control calls so that a check allocates neither.
type peekState struct {
	step  func(fd uintptr) // c.peekStep, made once when dialled
	buf   [1]byte
	quiet bool
}

// tlsWire is the TCP connection of a backend as its TLS connection reads
// it. It follows the TLS records in what it passes on, so that drained
// knows whether the TLS connection may hold part of one, and refuses to
// read while probing, so that drained can ask the TLS connection what it
// holds without waiting for the network.
type tlsWire struct {
	net.Conn
	probing bool
	hdr     int // bytes of the current record's header passed on, up to 4
	size    int // the current record's length, as far as its header has come
	left    int // bytes of the current record's payload still to pass on
	// whole is the number of records the last read completed; -1 when
	// it failed.
	whole int
}

// recordHeaderLen is the length of a TLS record's header: type, version
// and the payload's length in two bytes.
const recordHeaderLen = 5

func (w *tlsWire) Read(p []byte) (int, error) {
	if w.probing {
		return 0, errProbe
	}
	n, err := w.Conn.Read(p)
	w.whole = 0
	w.track(p[:n])
	if err != nil {
		w.whole = -1
	}
	return n, err
}

// track follows the record boundaries in b, the next bytes passed on, and
// counts in whole the records they complete.
func (w *tlsWire) track(b []byte) {
	for len(b) > 0 {
		if w.left > 0 {
			k := min(w.left, len(b))
			w.left -= k
			b = b[k:]
			if w.left == 0 {
				w.whole++
			}
			continue
		}
		if w.hdr >= recordHeaderLen-2 {
			w.size = w.size<<8 | int(b[0])
		}
		w.hdr++
		b = b[1:]
		if w.hdr == recordHeaderLen {
			w.left, w.hdr, w.size = w.size, 0, 0
			if w.left == 0 {
				w.whole++
			}
		}
	}
}

// boundary reports whether what was passed on ends with a whole record.
func (w *tlsWire) boundary() bool { return w.hdr == 0 && w.left == 0 }

// probeError is the error of a tlsWire read while probing. It is a
// temporary net.Error, so that the TLS connection passes it on without
// keeping it as its own.
type probeError struct{}

func (probeError) Error() string   { return "proxy: no read while probing what the TLS connection holds" }
func (probeError) Timeout() bool   { return true }
func (probeError) Temporary() bool { return true }

var errProbe error = probeError{}

// tlsIn is a backend's TLS connection as c.br reads it. It records whether
// the last read filled its buffer: only then may the TLS connection hold
// the rest of the record it read from (a read returns less only when it
// took all that was left).
type tlsIn struct {
	tc   *tls.Conn
	full bool // the last read filled its buffer, or failed
}

func (r *tlsIn) Read(p []byte) (int, error) {
	n, err := r.tc.Read(p)
	r.full = n == len(p) || err != nil
	return n, err
}
