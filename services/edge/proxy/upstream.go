package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
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
//
// A connection is used again only when nothing of its backend's is left on
// it: put closes one whose answer left bytes behind (see upConn.drained),
// and get one on which anything arrived while it sat idle (see
// upConn.quiet). Otherwise a backend that sent more than its answer (a
// second answer, a body where none belongs) would have the next request,
// perhaps another client's, take those bytes for its own answer.
type upstream struct {
	addr     string      // host:port dialled
	tls      *tls.Config // nil: plain TCP (an http:// backend)
	dialer   dialFunc
	timeout  time.Duration // for the response headers, and for a free connection
	maxConns int           // open at once, idle or busy

	mu     sync.Mutex
	idle   []*upConn // the most recently used last
	open   int       // connections open or being dialled, idle or busy
	queue  []chan *upConn
	closed bool
	reaper *time.Timer
}

// dialFunc opens a TCP connection, as net.Dialer.DialContext does. The
// connection it returns must implement syscall.Conn (a *net.TCPConn does)
// for it to be used for more than one request: see upConn.quiet.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// defaultDial is the dialFunc of an upstream that was given none.
var defaultDial dialFunc = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext

// upConn is one connection of an upstream.
type upConn struct {
	nc    net.Conn        // a *tls.Conn for https backends
	raw   net.Conn        // the TCP connection under nc
	rc    syscall.RawConn // raw's, for sendAwait and quiet; nil where it has none
	await awaitState
	// wire is what nc reads raw through when it is a *tls.Conn; nil for
	// plain TCP.
	wire *tlsWire
	// tlsIn is what br reads nc through when it is a *tls.Conn; nil
	// for plain TCP.
	tlsIn *tlsIn
	peek  peekState
	br    *bufio.Reader
	bw    *bufio.Writer
	// since is when it went idle.
	since time.Time
	// reused says whether the connection served a request before the
	// current one: only then may a failure mean that the backend closed
	// it while it was idle, so that the request can be sent again.
	reused bool
	// rd is the read deadline set on raw, which an answer that came
	// whole leaves set (see exchange). It is coarse: the backend
	// timeout may end up to deadline.Slack of itself late, so that a
	// busy connection does not update its timer on every request.
	rd    deadline.Read
	probe [1]byte // the buffer of drained's read
}

// Buffer sizes of an upstream connection. 32 KiB reads make a 64 KiB
// response cost fewer reads than the 4 KiB default (BenchmarkProxy64KiB);
// 16 KiB writes fill a TLS record.
const (
	upReadBuffer  = 32 << 10
	upWriteBuffer = 16 << 10
)

// newUpstream returns the pool of connections to addr, over TLS with cfg
// unless it is nil, that waits timeout for an answer's head and opens at
// most maxConns connections (0: DefaultMaxConnsPerBackend) with dial (nil:
// a net.Dialer's).
func newUpstream(addr string, cfg *tls.Config, timeout time.Duration, maxConns int, dial dialFunc) *upstream {
	if maxConns <= 0 {
		maxConns = DefaultMaxConnsPerBackend
	}
	if dial == nil {
		dial = defaultDial
	}
	return &upstream{
		addr:     addr,
		tls:      cfg,
		dialer:   dial,
		timeout:  timeout,
		maxConns: maxConns,
	}
}

// DefaultMaxConnsPerBackend is the number of connections a pool opens to its
// backend at most, idle and busy, unless configured otherwise.
const DefaultMaxConnsPerBackend = 512

// errPoolClosed is returned for a request on an upstream that was closed;
// the handler never uses one (a retired pool is closed only when its last
// request has ended).
var errPoolClosed = errors.New("connection pool closed")

// errBackendBusy is returned (wrapped) for a request that found every
// connection its pool may open to the backend busy, and none came free
// within the backend timeout. The backend is overloaded, or slow: the
// request was not sent, and may be sent again later.
var errBackendBusy = errors.New("the backend is busy")

// get returns an idle connection on which nothing has arrived since it was
// last used, or a new one.
func (u *upstream) get(ctx context.Context) (*upConn, error) {
	for {
		u.mu.Lock()
		n := len(u.idle)
		if n == 0 {
			break
		}
		c := u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		// The check is made outside the lock: it is a system call.
		if c.usable(time.Now()) {
			return c, nil
		}
		u.drop(c, false)
	}
	// u.mu is held.
	if u.closed {
		u.mu.Unlock()
		return nil, errPoolClosed
	}
	return u.dialLocked(ctx)
}

// usable reports whether an idle connection may serve a request: it has
// not been idle too long, and nothing came on it while it was.
func (c *upConn) usable(now time.Time) bool {
	return now.Sub(c.since) < idleTimeout && c.quiet()
}

// dial opens a new connection once the pool is under its cap, waiting for
// a connection to come back or close when it is not.
func (u *upstream) dial(ctx context.Context) (*upConn, error) {
	u.mu.Lock()
	return u.dialLocked(ctx)
}

// dialLocked is dial with u.mu held, which it releases.
func (u *upstream) dialLocked(ctx context.Context) (*upConn, error) {
	if u.open < u.maxConns {
		u.open++
		u.mu.Unlock()
		return u.connect(ctx)
	}
	ch := make(chan *upConn, 1)
	u.queue = append(u.queue, ch)
	u.mu.Unlock()
	return u.await(ctx, ch)
}

// await waits on ch, which dialLocked queued, for a connection put back
// (or, nil, for the place under the cap of one that was closed), until ctx
// ends or the backend timeout passes.
func (u *upstream) await(ctx context.Context, ch chan *upConn) (*upConn, error) {
	t := time.NewTimer(u.timeout)
	defer t.Stop()
	select {
	case c := <-ch:
		return u.handed(ctx, c)
	case <-ctx.Done():
		return u.leaveQueue(ch, ctx.Err())
	case <-t.C:
		return u.leaveQueue(ch, fmt.Errorf("%w: all %d connections the edge may open to it are in use, and none came free in %v",
			errBackendBusy, u.maxConns, u.timeout))
	}
}

// handed takes what a waiting request was handed: a connection put back,
// used if nothing has come on it since, or a place under the cap.
func (u *upstream) handed(ctx context.Context, c *upConn) (*upConn, error) {
	if c == nil {
		return u.connect(ctx)
	}
	if c.quiet() {
		return c, nil
	}
	u.drop(c, true)
	return u.get(ctx)
}

// leaveQueue takes ch out of the queue, and gives on what it was handed if
// that happened first, then returns err.
func (u *upstream) leaveQueue(ch chan *upConn, err error) (*upConn, error) {
	u.mu.Lock()
	if i := slices.Index(u.queue, ch); i >= 0 {
		u.queue = slices.Delete(u.queue, i, i+1)
		u.mu.Unlock()
		return nil, err
	}
	u.mu.Unlock()
	// Handed something just before: ch holds it.
	if c := <-ch; c != nil {
		u.put(c)
	} else {
		u.release()
	}
	return nil, err
}

// release gives up a place under the cap: to the request that has waited
// longest, if any.
func (u *upstream) release() {
	u.mu.Lock()
	u.releaseLocked()
	u.mu.Unlock()
}

func (u *upstream) releaseLocked() {
	if len(u.queue) > 0 {
		u.handLocked(nil)
		return
	}
	u.open--
}

// handLocked hands c (nil: a place under the cap) to the request that has
// waited longest; there is one.
func (u *upstream) handLocked(c *upConn) {
	ch := u.queue[0]
	u.queue[0] = nil
	u.queue = u.queue[1:]
	ch <- c
}

// drop closes a connection of the pool, abruptly (without a TLS
// close_notify) when its backend misbehaved or it broke.
func (u *upstream) drop(c *upConn, abrupt bool) {
	if abrupt {
		c.raw.Close()
	} else {
		c.nc.Close()
	}
	u.release()
}

// connect dials a new connection; the caller holds a place under the cap
// for it, which is given up if the dial fails.
func (u *upstream) connect(ctx context.Context) (*upConn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	raw, err := u.dialer(dctx, "tcp", u.addr)
	cancel()
	if err != nil {
		u.release()
		return nil, err
	}
	if u.tls == nil {
		return newUpConn(raw, raw), nil
	}
	wire := &tlsWire{Conn: raw}
	tc := tls.Client(wire, u.tls)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		raw.Close()
		u.release()
		return nil, err
	}
	c := newUpConn(tc, raw)
	c.wire = wire
	c.tlsIn = &tlsIn{tc: tc}
	c.br.Reset(c.tlsIn)
	return c, nil
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
		c.peek.step = c.peekStep
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
// the wait. Bytes already in c.br, which a connection never has when it is
// handed out (see drained and quiet), are read as before, without a wait
// for more.
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

// put returns a connection whose last answer was read to its end, unless
// its backend sent more than that answer: then it is closed.
func (u *upstream) put(c *upConn) {
	if !c.drained() {
		u.drop(c, true)
		return
	}
	c.reused = true
	c.since = time.Now()
	u.mu.Lock()
	if len(u.queue) > 0 && !u.closed {
		u.handLocked(c)
		u.mu.Unlock()
		return
	}
	if u.closed || len(u.idle) >= maxIdlePerBackend {
		u.mu.Unlock()
		u.drop(c, false)
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
		u.releaseLocked()
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
		u.releaseLocked()
	}
	u.idle = nil
	if u.reaper != nil {
		u.reaper.Stop()
		u.reaper = nil
	}
}
