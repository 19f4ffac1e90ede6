// Package h1 is the edge's HTTP/1.1 server: a purpose-built replacement
// for net/http's server on the request path, serving an http.Handler.
//
// It parses requests with net/http's own parser (http.ReadRequest) and
// applies the same checks as net/http's server (one valid Host, valid
// field names and values, a header size limit answered 431, a deadline
// for the header, an idle timeout), so what it accepts is what net/http
// accepts. A plain head that has all come, as nearly every one is, is
// parsed in place instead (see parsePlainHead), to the same request, which
// FuzzPlainHead checks against net/http's parser. What it leaves out is the cost a proxy does not need: net/http
// starts a goroutine per request that reads the connection ahead, to learn
// that a client has gone, and makes a context per request. Here a
// connection is watched that way only while a handler has been waiting
// for longer than WatchAfter, which for a proxy means a slow backend; and
// the context is the connection's.
//
// The ResponseWriter it gives handlers implements http.Flusher and
// http.Hijacker. It does not sniff a Content-Type: a proxy passes on what
// the backend sent, and no more.
//
// Where it answers differently from net/http's server, on purpose: an
// HTTP/1.1 request whose Host field is empty is refused, as is one without
// it (net/http serves the empty one; the edge has no use for a request
// without an authority); a request whose target is in absolute form takes
// its authority from the target, whether or not a Host field came with it
// (http.ReadRequest, which parses for both, does not tell); the HTTP/2
// preface is answered 505; HEAD answers get no Content-Length the handler
// did not set; a request with both Content-Length and Transfer-Encoding is
// served, read as chunked as net/http reads it, and then the connection
// is closed (net/http keeps it); an HTTP/1.0 request with
// Transfer-Encoding is refused with 400 (net/http ignores the field). See
// framing.go for why.
// FuzzFramingDifferential holds the two servers to finding the same
// requests in the same bytes, but for these differences.
package h1

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 (and 1.0) on the listeners given to Serve.
type Server struct {
	Handler http.Handler
	// ReadHeaderTimeout bounds the time from a request's first byte to
	// the end of its header, and for a new connection the time from the
	// accept to the end of the first request's header (default 5s).
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection (default 2m). Either may end up to an eighth of itself
	// late, and at most a second (see the deadline package).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes bounds the request line and header (default 32
	// KiB); a larger one is answered 431.
	MaxHeaderBytes int
	// WatchAfter is how long a handler may run, its request body read,
	// before the connection is watched for the client going away, which
	// ends the request's context (default 100ms).
	WatchAfter time.Duration
	// Logger receives handler panics (default slog.Default()).
	Logger *slog.Logger
	// BodyReadTimeout and MinBodyRate bound how slowly a request body
	// may come, so that a client cannot hold a connection (and the
	// handler serving it) by sending a body a byte at a time. The body is
	// read in windows: each must bring MinBodyRate×BodyReadTimeout bytes
	// (at least one) within BodyReadTimeout, counted from the read that
	// opens it, or the body is too slow: the handler's read fails with
	// ErrBodyTooSlow, and the connection is closed after the answer.
	// Defaults: 30s and 1024 bytes a second, so 30 KiB per 30s; a 1 byte
	// a second body ends after 30s, while an upload at any honest speed
	// is never cut, however long. Only the time the server waits on the
	// client counts: a window is extended by the time the handler took
	// between reads (a slow backend, say). A body that has all come with
	// its head costs nothing here; a request without a body is not
	// concerned. A negative MinBodyRate asks only that each window bring
	// a byte (an idle timeout of BodyReadTimeout); a negative
	// BodyReadTimeout removes the limit.
	BodyReadTimeout time.Duration
	MinBodyRate     int
	// MaxConns bounds the connections served at once, and MaxConnsPerIP
	// those from one client address (an IPv6 client's /64 counts as one
	// address). A connection over either is refused as it is accepted:
	// see refuseConn. Defaults: 10000 and 256; negative: no limit. Put
	// MaxConnsPerIP to -1 behind a proxy or load balancer that does not
	// keep the client's address. A hijacked connection no longer counts.
	MaxConns      int
	MaxConnsPerIP int
	// OnRefuse, if set, is called once for each refusal, with its
	// reason: one of the Refuse constants. It is called on the
	// connection's goroutine or the accept loop's, so it must be quick
	// (count a metric, say) and safe for concurrent use.
	OnRefuse func(reason string)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perIP     map[netip.Addr]int // connections in conns by client key
	// closing is set under mu, and read without it on every request.
	closing  atomic.Bool
	idleWake chan struct{} // closed and renewed when a connection ends
	// awaitFallbackFor replaces defaultAwaitFallback when set, and
	// noAwait turns the wait off (tests and benchmarks).
	awaitFallbackFor time.Duration
	noAwait          bool
}

// Defaults of the Server fields.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultWatchAfter        = 100 * time.Millisecond
	DefaultBodyReadTimeout   = 30 * time.Second
	DefaultMinBodyRate       = 1024
	DefaultMaxConns          = 10000
	DefaultMaxConnsPerIP     = 256
)

// The reasons given to Server.OnRefuse.
const (
	// RefuseFraming: an HTTP/1.0 request had a Transfer-Encoding; it was
	// answered 400 and the connection closed.
	RefuseFraming = "framing"
	// RefuseFramingClose: a request had both Content-Length and
	// Transfer-Encoding; it was served (read as chunked) and the
	// connection closed after the answer.
	RefuseFramingClose = "framing_close"
	// RefuseBodyTooSlow: a request body came slower than MinBodyRate;
	// the handler's read failed and the connection was closed.
	RefuseBodyTooSlow = "body_too_slow"
	// RefuseConnsTotal and RefuseConnsPerIP: a connection was refused
	// at accept, over MaxConns or MaxConnsPerIP.
	RefuseConnsTotal = "conns_total"
	RefuseConnsPerIP = "conns_per_ip"
)

// ErrBodyTooSlow is the error of a request body's read when the body comes
// too slowly (see Server.BodyReadTimeout).
var ErrBodyTooSlow = errors.New("h1: request body too slow (see Server.MinBodyRate)")

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on l and serves each on its own goroutine,
// until l fails or the server is shut down. It closes l.
func (s *Server) Serve(l net.Listener) error {
	if !s.track(l) {
		l.Close()
		return ErrServerClosed
	}
	defer s.untrack(l)
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of descriptors, say: wait and try again, as
				// net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c, refusal := s.newConn(nc)
		if refusal != "" {
			s.refuseConn(nc, refusal)
			continue
		}
		if c == nil {
			nc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

func (s *Server) track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrack(l net.Listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
	l.Close()
}

func (s *Server) isClosing() bool { return s.closing.Load() }

// Shutdown stops accepting, closes the connections that are idle, lets
// the others finish the request they are serving (each is closed after its
// answer), and returns once all are gone or ctx ends, with ctx's error then.
// Hijacked connections are the hijacker's.
func (s *Server) Shutdown(ctx context.Context) error {
	s.startClosing()
	for {
		s.mu.Lock()
		for c := range s.conns {
			c.closeIfIdle()
		}
		left := len(s.conns)
		wake := s.idleWake
		s.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-time.After(50 * time.Millisecond):
			// A connection may go idle without ending.
		}
	}
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.startClosing()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.Close()
	}
	return nil
}

func (s *Server) startClosing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	if s.idleWake == nil {
		s.idleWake = make(chan struct{})
	}
}

// newConn registers a connection; nil once the server is closing. A
// connection over MaxConns or MaxConnsPerIP is not registered: refusal
// says which (see RefuseConnsTotal).
func (s *Server) newConn(nc net.Conn) (c *conn, refusal string) {
	// The client's key is found before the lock: the lock is held by
	// every accept and every connection's end.
	key, keyed := clientKey(nc.RemoteAddr())
	perIP := s.maxConnsPerIP()
	keyed = keyed && perIP > 0
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil, ""
	}
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
		s.idleWake = make(chan struct{})
	}
	if total := s.maxConns(); total > 0 && len(s.conns) >= total {
		return nil, RefuseConnsTotal
	}
	if keyed {
		if s.perIP == nil {
			s.perIP = map[netip.Addr]int{}
		}
		if s.perIP[key] >= perIP {
			return nil, RefuseConnsPerIP
		}
		s.perIP[key]++
	}
	c = newConn(s, nc)
	c.client, c.keyed = key, keyed
	s.conns[c] = struct{}{}
	return c, ""
}

func (s *Server) connDone(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if c.keyed {
		c.keyed = false
		if n := s.perIP[c.client] - 1; n > 0 {
			s.perIP[c.client] = n
		} else {
			delete(s.perIP, c.client)
		}
	}
	close(s.idleWake)
	s.idleWake = make(chan struct{})
}

// refused tells OnRefuse of a refusal.
func (s *Server) refused(reason string) {
	if s.OnRefuse != nil {
		s.OnRefuse(reason)
	}
}

func (s *Server) readHeaderTimeout() time.Duration {
	return orDefault(s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
}

func (s *Server) idleTimeout() time.Duration { return orDefault(s.IdleTimeout, DefaultIdleTimeout) }

func (s *Server) watchAfter() time.Duration { return orDefault(s.WatchAfter, DefaultWatchAfter) }

// bodyReadTimeout is BodyReadTimeout, or 0 when bodies are not paced.
func (s *Server) bodyReadTimeout() time.Duration {
	if s.BodyReadTimeout < 0 {
		return 0
	}
	return orDefault(s.BodyReadTimeout, DefaultBodyReadTimeout)
}

// bodyWindowBytes is what a body must bring in each BodyReadTimeout.
func (s *Server) bodyWindowBytes() int64 {
	rate := s.MinBodyRate
	if rate == 0 {
		rate = DefaultMinBodyRate
	}
	return max(1, int64(float64(rate)*s.bodyReadTimeout().Seconds()))
}

func (s *Server) maxConns() int { return orDefaultInt(s.MaxConns, DefaultMaxConns) }

func (s *Server) maxConnsPerIP() int { return orDefaultInt(s.MaxConnsPerIP, DefaultMaxConnsPerIP) }

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// orDefaultInt is n, or def if n is 0: a negative n stays, meaning none.
func orDefaultInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}
