package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/certbind/certbind/services/edge/internal/deadline"
)

// upstream is the connection pool of one pool key: HTTP/1.1 connections to
// one backend, kept alive between requests. The goroutine serving a request
// writes it and reads the answer on the connection itself, so a proxied
// request costs no handoff to a connection's reader or writer goroutine, as
// it does through net/http's Transport; that handoff was the largest share
// of the edge's time after the system calls.
type upstream struct {
	addr    string      // host:port dialled
	tls     *tls.Config // nil: plain TCP (an http:// backend)
	dialer  net.Dialer
	timeout time.Duration // for the response headers

	mu     sync.Mutex
	idle   []*upConn // the most recently used last
	closed bool
	reaper *time.Timer
}

// upConn is one connection of an upstream.
type upConn struct {
	nc    net.Conn        // a *tls.Conn for https backends
	raw   net.Conn        // the TCP connection under nc
	rc    syscall.RawConn // raw's, for sendAwait; nil where it has none
	await awaitState
	br    *bufio.Reader
	bw    *bufio.Writer
	since time.Time // when it went idle
	// reused says whether the connection served a request before the
	// current one: only then may a failure mean that the backend closed
	// it while it was idle, so that the request can be sent again.
	reused bool
	// rd is the read deadline set on raw, which an answer that came
	// whole leaves set (see exchange). It is coarse: the backend
	// timeout may end up to deadline.Slack of itself late, so that a
	// busy connection does not update its timer on every request.
	rd deadline.Read
}

// Buffer sizes of an upstream connection. 32 KiB reads make a 64 KiB
// response cost fewer reads than the 4 KiB default (BenchmarkProxy64KiB);
// 16 KiB writes fill a TLS record.
const (
	upReadBuffer  = 32 << 10
	upWriteBuffer = 16 << 10
)

func newUpstream(addr string, cfg *tls.Config, timeout time.Duration) *upstream {
	return &upstream{
		addr:    addr,
		tls:     cfg,
		dialer:  net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		timeout: timeout,
	}
}

// errPoolClosed is returned for a request on an upstream that was closed;
// the handler never uses one (a retired pool is closed only when its last
// request has ended).
var errPoolClosed = errors.New("connection pool closed")

// get returns an idle connection or dials a new one.
func (u *upstream) get(ctx context.Context) (*upConn, error) {
	now := time.Now()
	u.mu.Lock()
	for len(u.idle) > 0 {
		c := u.idle[len(u.idle)-1]
		u.idle[len(u.idle)-1] = nil
		u.idle = u.idle[:len(u.idle)-1]
		if now.Sub(c.since) >= peekAfter {
			// alive reads, and a deadline that has passed would fail it.
			c.rd.Clear(c.raw)
		}
		if now.Sub(c.since) < idleTimeout && (now.Sub(c.since) < peekAfter || alive(c.raw)) {
			u.mu.Unlock()
			return c, nil
		}
		c.nc.Close()
	}
	closed := u.closed
	u.mu.Unlock()
	if closed {
		return nil, errPoolClosed
	}
	return u.dial(ctx)
}

// peekAfter is how long a connection may sit idle before it is checked
// for a close by the backend when taken from the pool. Backends close idle
// connections after seconds at the least (nginx 75 s, Go's default 3
// minutes), so a connection idle for less is taken on trust; a request that
// loses that race anyway is sent again when it has no body (see
// retryable).
const peekAfter = time.Second

func (u *upstream) dial(ctx context.Context) (*upConn, error) {
	raw, err := u.dialer.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, err
	}
	nc := raw
	if u.tls != nil {
		tc := tls.Client(raw, u.tls)
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			raw.Close()
			return nil, err
		}
		nc = tc
	}
	return newUpConn(nc, raw), nil
}

// newUpConn makes the upConn of nc, which runs over the TCP connection raw.
func newUpConn(nc, raw net.Conn) *upConn {
	c := &upConn{
		nc:  nc,
		raw: raw,
		br:  bufio.NewReaderSize(nc, upReadBuffer),
		bw:  bufio.NewWriterSize(nc, upWriteBuffer),
	}
	if sc, ok := raw.(syscall.Conn); ok {
		c.rc, _ = sc.SyscallConn()
		c.await.step = c.sendStep
	}
	return c
}

// sendAwait flushes a request that is all in c.bw and then waits until the
// backend's answer begins to come, so that the read after it finds data.
//
// Reading at once instead, as a Go read does, finds nothing (the backend
// has not answered yet) and costs a system call before the wait. Waiting
// first is safe only because the wait is set up before the request goes:
// RawConn.Read forgets any earlier readiness of the socket before it calls
// sendStep, and the answer, which cannot come before the request, makes the
// socket ready again.
//
// A wait that ends without data (the deadline passed, or CloseOnDone or the
// backend closed the connection) is left to the read that follows, which
// meets the same end and reports it as it always did. A close by the
// backend that came before the send is among the readiness forgotten; the
// request then meets the closed socket, and the reset it gets back ends
// the wait. Bytes already in c.br
// (sent by a backend after its last answer) are read as before, without a
// wait for more.
func (c *upConn) sendAwait() error {
	if c.rc == nil || c.br.Buffered() > 0 {
		return c.bw.Flush()
	}
	c.await.sent, c.await.err = false, nil
	// The error of the wait itself is left to the read that follows.
	_ = c.rc.Read(c.await.step)
	if !c.await.sent {
		// RawConn.Read failed before calling sendStep (the connection
		// is closed): the flush reports that.
		return c.bw.Flush()
	}
	return c.await.err
}

// awaitState is sendAwait's, kept on the connection with the function
// RawConn.Read calls so that a request allocates neither.
type awaitState struct {
	step func(fd uintptr) bool // c.sendStep, made once when dialled
	sent bool
	err  error
}

// sendStep is what RawConn.Read calls in sendAwait: first to flush the
// request (then to wait, unless that failed), and again once the socket is
// readable, to stop.
func (c *upConn) sendStep(uintptr) bool {
	if c.await.sent {
		return true
	}
	c.await.sent = true
	c.await.err = c.bw.Flush()
	return c.await.err != nil
}

// put returns a connection whose last answer was read to its end.
func (u *upstream) put(c *upConn) {
	c.reused = true
	c.since = time.Now()
	u.mu.Lock()
	if u.closed || len(u.idle) >= maxIdlePerBackend {
		u.mu.Unlock()
		c.nc.Close()
		return
	}
	u.idle = append(u.idle, c)
	if u.reaper == nil {
		u.reaper = time.AfterFunc(idleTimeout, u.reap)
	}
	u.mu.Unlock()
}

// reap closes the connections idle for longer than idleTimeout, and comes
// back while any are left.
func (u *upstream) reap() {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.idle {
		// The oldest come first.
		if now.Sub(c.since) < idleTimeout {
			break
		}
		c.nc.Close()
		n++
	}
	u.idle = append(u.idle[:0], u.idle[n:]...)
	clear(u.idle[len(u.idle):cap(u.idle)])
	if len(u.idle) == 0 || u.closed {
		u.reaper = nil
		return
	}
	u.reaper.Reset(idleTimeout - now.Sub(u.idle[0].since))
}

// close closes the idle connections, and those still in use as they come
// back.
func (u *upstream) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	for _, c := range u.idle {
		c.nc.Close()
	}
	u.idle = nil
	if u.reaper != nil {
		u.reaper.Stop()
		u.reaper = nil
	}
}
