package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/certbind/certbind/services/edge/state"
)

// certVersion names one version of a certificate; the zero value is none.
type certVersion struct {
	id      string
	version int32
}

func versionOf(c *state.Certificate) certVersion {
	if c == nil {
		return certVersion{}
	}
	return certVersion{c.ID, c.Version}
}

// poolKey names a connection pool. A pool's connections were all
// handshaken with one client certificate version and verified with one CA
// version, so a rotation gets a new pool and never reuses a connection that
// presented the old certificate. Pools are never shared between accounts:
// whatever a backend does wrong with a connection, only requests of the
// account that sent it there can see it.
type poolKey struct {
	account    string
	backend    string // scheme://host
	client, ca certVersion
}

// pool is an upstream and the requests using it.
type pool struct {
	up *upstream
	// The fields below are guarded by poolSet.mu.
	inflight int
	fetch    bool // used by Fetch, not only by routes
	retired  bool
}

// poolSet holds the pools. A pool that is retired leaves the set at once, so
// new requests get a new one, and its connections are closed when the last
// request on it has finished.
type poolSet struct {
	mu       sync.Mutex
	live     map[poolKey]*pool
	draining map[*pool]struct{}
	closed   bool
	// The settings of the upstreams made from now on; see
	// setMaxConnsPerBackend and setBackendDial.
	maxConns int
	dial     dialFunc
}

func newPoolSet() *poolSet {
	return &poolSet{live: map[poolKey]*pool{}, draining: map[*pool]struct{}{}, maxConns: DefaultMaxConnsPerBackend, dial: defaultDial}
}

// setMaxConnsPerBackend sets how many connections each pool opens to its
// backend at most, idle and busy (n <= 0: DefaultMaxConnsPerBackend). A
// request that finds them all busy waits for one, up to the backend
// timeout, and then fails with errBackendBusy. It applies to the pools made
// after it, so New calls it before the handler serves.
func (h *Handler) setMaxConnsPerBackend(n int) {
	if n <= 0 {
		n = DefaultMaxConnsPerBackend
	}
	h.pools.mu.Lock()
	h.pools.maxConns = n
	h.pools.mu.Unlock()
}

// setBackendDial sets the function the pools open their TCP connections to
// backends with (nil: a net.Dialer's, with a 10 s timeout and 30 s TCP
// keep-alives). It is passed network "tcp" and the backend's host:port,
// and a context with the dial timeout; it must return the *net.TCPConn (or
// another syscall.Conn) for the connection to be used for more than one
// request. It applies to the pools made after it, so New calls it before
// the handler serves.
func (h *Handler) setBackendDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	if dial == nil {
		dial = defaultDial
	}
	h.pools.mu.Lock()
	h.pools.dial = dial
	h.pools.mu.Unlock()
}

// acquire returns the pool for k, made with build (under s.mu, with the
// set's settings) if there is none, and counts a request on it until
// release.
func (s *poolSet) acquire(k poolKey, fetch bool, build func(maxConns int, dial dialFunc) *upstream) *pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.live[k]
	if p == nil {
		p = &pool{up: build(s.maxConns, s.dial)}
		if s.closed {
			// A request racing Close still gets served, on a pool
			// that closes behind it.
			p.retired = true
			s.draining[p] = struct{}{}
		} else {
			s.live[k] = p
		}
	}
	p.fetch = p.fetch || fetch
	p.inflight++
	return p
}

func (s *poolSet) release(p *pool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.inflight--
	if p.retired && p.inflight == 0 {
		s.closeLocked(p)
	}
}

// retire takes out of service the pools keep refuses.
func (s *poolSet) retire(keep func(poolKey, *pool) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.live {
		if keep(k, p) {
			continue
		}
		delete(s.live, k)
		p.retired = true
		if p.inflight == 0 {
			s.closeLocked(p)
		} else {
			s.draining[p] = struct{}{}
		}
	}
}

// closeLocked closes the connections of a retired pool: the idle ones now,
// and one still finishing a response body when it comes back.
func (s *poolSet) closeLocked(p *pool) {
	p.up.close()
	delete(s.draining, p)
}

func (s *poolSet) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.retire(func(poolKey, *pool) bool { return false })
}

func (s *poolSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live) + len(s.draining)
}

// Upstream settings. Backends are usually few and busy, so many idle
// connections are kept per backend: each one saves a handshake.
const (
	maxIdlePerBackend = 256
	idleTimeout       = 90 * time.Second
	dialTimeout       = 10 * time.Second
	handshakeTimeout  = 10 * time.Second
)

// newUpstream builds the upstream of a pool: to backend at addr
// (host:port), presenting client (if any) and verifying the backend as
// serverName with roots (nil: the system roots); over plain TCP when tlsOn
// is false (an http:// backend, which never has certificates).
func (h *Handler) newUpstream(backend, addr, serverName string, tlsOn bool, client *tls.Certificate, roots *x509.CertPool, maxConns int, dial dialFunc) *upstream {
	if !tlsOn {
		return newUpstream(addr, nil, h.backendTimeout, maxConns, dial)
	}
	cfg := &tls.Config{
		ServerName:         serverName,
		RootCAs:            roots,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
		// HTTP/1.1 is what the upstream speaks.
		NextProtos: []string{"http/1.1"},
		// VerifyConnection runs after the standard verification, on
		// every handshake, resumed or not.
		VerifyConnection: func(cs tls.ConnectionState) error {
			h.observer.Handshake(backend, cs.DidResume)
			return nil
		},
	}
	if client != nil {
		// With Certificates, crypto/tls sends nothing when the
		// backend's list of acceptable CAs does not name the chain's
		// issuer, and a backend that only asks for a certificate would
		// then serve the request without one. Offering the certificate
		// whenever one is asked for leaves the decision to the backend,
		// which rejects it visibly.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return client, nil
		}
	}
	return newUpstream(addr, cfg, h.backendTimeout, maxConns, dial)
}

// tlsMaterial is what a request presents and trusts.
type tlsMaterial struct {
	client *state.Certificate // nil: no client certificate
	ca     *state.Certificate // nil: Config.RootCAs
}

func (m tlsMaterial) key(account, backend string) poolKey {
	return poolKey{account: account, backend: backend, client: versionOf(m.client), ca: versionOf(m.ca)}
}

// acquire returns the pool for sending requests of account to the backend
// of u (backend is origin(u)) with m.
func (h *Handler) acquire(u *url.URL, backend, account string, m tlsMaterial, fetch bool) *pool {
	return h.pools.acquire(m.key(account, backend), fetch, func(maxConns int, dial dialFunc) *upstream {
		var client *tls.Certificate
		if m.client != nil {
			client = m.client.TLS
		}
		roots := h.rootCAs
		if m.ca != nil {
			roots = m.ca.Pool
		}
		return h.newUpstream(backend, dialAddr(u), u.Hostname(), u.Scheme == "https", client, roots, maxConns, dial)
	})
}

// dialAddr returns the host:port to dial for u, with the scheme's port when
// u names none.
func dialAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
