package h1

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// The wait for the next request on a kept-alive connection. Read at once
// after an answer, as a Go read does, the connection has nothing yet (the
// client is still reading the answer), so the read costs a system call
// that finds nothing before the wait; on the machines measured a system
// call costs about as much as the proxy's own work on a small request
// (BenchmarkEdgeAlone in the proxy package). sendAwait waits first and reads after, as the
// proxy's backend connections do (see proxy's upConn.sendAwait).
//
// Waiting first is sound only for bytes that come after the wait was set
// up: RawConn.Read forgets the readiness the socket had before it. The
// answer is therefore sent from inside the wait, so that a client that
// waits for its answer before it sends the next request (as nearly all
// do) cannot be missed. A client that pipelines may have sent its next
// request while the last was being served, before the wait; its bytes
// would be missed until more came. The wait is therefore bounded by
// awaitFallback: when that passes, the connection is read as before. If
// bytes were waiting on it then (see pending), the wait may have missed a
// request: the connection's next missSkip answers are sent without a
// wait, twice as many after each further miss, so that a pipelining
// client loses the fallback a few times at most, and a client that a
// loaded machine made look like one (its request came between the
// fallback and the look) keeps the saving for most of its requests. An
// idle client pays a look at its socket per fallback, and keeps the wait.

// defaultAwaitFallback bounds the wait, without a read, for the next
// request after an answer (see sendAwait).
const defaultAwaitFallback = 50 * time.Millisecond

// missSkip is the number of answers sent without a wait after the first
// wait that may have missed a request; it doubles with each further one,
// up to missSkip<<maxMissShift.
const (
	missSkip     = 64
	maxMissShift = 20
)

// awaitState is sendAwait's, kept on the connection with the function
// RawConn.Read calls, so that an answer allocates neither.
type awaitState struct {
	rc   syscall.RawConn // nil: the connection is not awaited
	step func(fd uintptr) bool
	sent bool
	err  error
	// skip is the number of answers still to be sent without a wait,
	// after misses waits that may have missed a request.
	skip, misses atomic.Int64
	peek         [1]byte
	// For tests: waits that ended with the next request, and those
	// that fell back.
	count, fallbacks atomic.Int64
}

// initAwait sets up the wait on a connection that is a socket and nothing
// more: a connection that wraps one (TLS, say) may hold bytes it has read
// from the socket, which a wait on the socket would not see.
func (c *conn) initAwait() {
	if c.srv.noAwait {
		return
	}
	var sc syscall.Conn
	switch nc := c.nc.(type) {
	case *net.TCPConn:
		sc = nc
	case *net.UnixConn:
		sc = nc
	default:
		return
	}
	if rc, err := sc.SyscallConn(); err == nil {
		c.await.rc, c.await.step = rc, c.awaitStep
	}
}

// sendAwait sends the answer buffered in c.bw and, when it may, waits
// until the next request begins to come, so that the read after it finds
// bytes. It returns false when the answer could not be sent: the
// connection's context has ended then (see outBuf.fail).
func (c *conn) sendAwait() bool {
	a := &c.await
	// The wait must begin before the client can have all of its answer:
	// while the answer's last bytes are in c.bw, it cannot.
	if a.rc == nil || c.bw.Buffered() == 0 || c.br.Buffered() > 0 || c.r.hasByte {
		return c.bw.Flush() == nil
	}
	if n := a.skip.Load(); n > 0 {
		a.skip.Store(n - 1)
		return c.bw.Flush() == nil
	}
	fallback := c.srv.awaitFallback()
	// The wait's deadline replaces the connection's for as long as it
	// lasts; the loop sets the idle deadline again after it.
	c.nc.SetReadDeadline(time.Now().Add(min(fallback, c.srv.idleTimeout())))
	c.rd.Cleared()
	a.sent, a.err = false, nil
	err := a.rc.Read(a.step)
	if !a.sent {
		// RawConn.Read failed before calling awaitStep (the connection
		// is closed): the flush reports that.
		return c.bw.Flush() == nil
	}
	if a.err != nil {
		return false
	}
	switch {
	case err == nil:
		a.count.Add(1)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if a.pending() {
			// Likely a pipelined request that came before the
			// wait. A client that was merely idle keeps the wait.
			a.skip.Store(missSkip << min(a.misses.Add(1)-1, maxMissShift))
		}
		a.fallbacks.Add(1) // after the above, for tests to see it done
	}
	// Any other error is the read's that follows to meet.
	return true
}

// awaitStep is what RawConn.Read calls in sendAwait: first to send the
// answer (then to wait, unless that failed), and again once the socket is
// readable, to stop.
func (c *conn) awaitStep(uintptr) bool {
	a := &c.await
	if a.sent {
		return true
	}
	a.sent = true
	a.err = c.bw.Flush()
	return a.err != nil
}

func (s *Server) awaitFallback() time.Duration {
	return orDefault(s.awaitFallbackFor, defaultAwaitFallback)
}
