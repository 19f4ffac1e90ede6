// Package proxy is the request path of the edge: it matches a request to a
// deployment's route and sends it to the route's backend, presenting the
// route's client certificate, through a connection pool kept per backend
// and certificate version.
//
// The edge never sends a request without the certificate its route asks
// for: a certificate that is missing, of the wrong kind or not allowed in
// the deployment's environment type is answered with a 502 naming it, before
// any connection is made.
package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/certbind/certbind/services/edge/state"
)

// Config configures a Handler.
type Config struct {
	State *state.Store
	// BackendTimeout bounds the wait for a backend's response headers
	// (default 30s; it may end up to an eighth of itself late, and at
	// most a second). Bodies are not bounded: they may stream for long.
	BackendTimeout time.Duration
	// RootCAs verifies the backends of routes without caCertificate; nil
	// means the system roots.
	RootCAs *x509.CertPool
	Logger  *slog.Logger // default slog.Default()
	// Observer is told about requests and handshakes, for metrics
	// (optional).
	Observer Observer
	// MaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes): a
	// larger announced body is answered 413 before anything is sent, and a
	// streamed one is cut off there.
	MaxBodyBytes int64
	// HopID names the edge in the Via entry it adds to every request it
	// sends ("1.1 certbind-HOPID"); a request that arrives with that
	// entry has come round a loop and is answered 508. The default is a
	// random id made by New, which names one Handler. Instances of one
	// fleet may share an id, so that a route that reaches the fleet
	// through a load balancer is stopped at the first instance it comes
	// back to, not only at one it passed before; distinct edges must not
	// share one. Letters, digits, '-', '.' and '_' only: New panics on
	// anything else.
	HopID string
	// AllowEncodedSlashes lets a path segment hold an encoded "/" (%2F),
	// for backends whose identifiers hold one; by default such a path is
	// answered 400 (path_not_allowed). Dot segments, "\", %5C and control
	// characters are refused either way: see path.go.
	AllowEncodedSlashes bool
	// MaxConnsPerBackend bounds the connections each pool (one backend,
	// account and certificate version) opens, idle and busy together
	// (default DefaultMaxConnsPerBackend). A request that finds its pool
	// full waits for a connection to come free, up to BackendTimeout,
	// and is then answered 503 backend_busy.
	MaxConnsPerBackend int
	// Dial opens the TCP connections to backends (default a net.Dialer).
	// The edge passes an egress policy's dialer here, so that a route
	// cannot reach what the policy refuses; a refusal it returns as an
	// *egress.RefusedError is answered 502 backend_refused_by_policy. It
	// must return a connection that implements syscall.Conn (a
	// *net.TCPConn), or connections are never reused.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Tracer, when set, traces every forwarded request (see trace.go);
	// nil is tracing off, which passes a client's trace context on
	// untouched and costs the request path nothing.
	Tracer Tracer
}

// DefaultMaxBodyBytes is the request body limit when Config leaves it zero.
const DefaultMaxBodyBytes = 32 << 20

// Observer receives the events metrics are made of. Its methods are called
// on the request path and must be quick.
type Observer interface {
	// Request is called once per request: route is the path of the route
	// that matched ("" if none), status what the client was answered (499
	// if it went away first) and backendLatency the time until the
	// backend's response headers (0 if none was asked).
	Request(route string, status int, backendLatency time.Duration)
	// Handshake is called after every TLS handshake with a backend
	// (scheme://host); resumed says whether a session was resumed.
	Handshake(backend string, resumed bool)
	// Refused is called, besides Request, for a request a safety rule
	// refused; reason is the error code it was answered with
	// (path_not_allowed, loop_detected, backend_refused_by_policy,
	// backend_busy, request_body_too_large, request_body_too_slow).
	Refused(reason string)
}

type nopObserver struct{}

func (nopObserver) Request(string, int, time.Duration) {}
func (nopObserver) Handshake(string, bool)             {}
func (nopObserver) Refused(string)                     {}

// DefaultBackendTimeout is the default of Config.BackendTimeout.
const DefaultBackendTimeout = 30 * time.Second

// statusClientGone is reported to the Observer for a client that went away
// before it was answered (nginx's 499).
const statusClientGone = 499

// Handler serves deployments; see the package documentation.
type Handler struct {
	state          *state.Store
	backendTimeout time.Duration
	rootCAs        *x509.CertPool
	log            *slog.Logger
	observer       Observer
	pools          *poolSet
	maxBody        int64
	hop            hop
	allowSlash     bool
	tracer         Tracer
}

// New returns a Handler serving what cfg.State holds, and registers
// h.Retire to run after each publish. It panics if cfg.HopID is not
// allowed.
func New(cfg Config) *Handler {
	hop, err := newHop(cfg.HopID)
	if err != nil {
		panic(err)
	}
	h := &Handler{
		hop:            hop,
		allowSlash:     cfg.AllowEncodedSlashes,
		state:          cfg.State,
		backendTimeout: cfg.BackendTimeout,
		rootCAs:        cfg.RootCAs,
		log:            cfg.Logger,
		observer:       cfg.Observer,
		pools:          newPoolSet(),
		maxBody:        cfg.MaxBodyBytes,
		tracer:         cfg.Tracer,
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.backendTimeout <= 0 {
		h.backendTimeout = DefaultBackendTimeout
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.observer == nil {
		h.observer = nopObserver{}
	}
	h.setMaxConnsPerBackend(cfg.MaxConnsPerBackend)
	h.setBackendDial(cfg.Dial)
	cfg.State.OnPublish(h.Retire)
	return h
}

// Close closes every pool: idle connections now, busy ones when their
// request ends. Requests that arrive after Close are still served, each on
// a pool of its own that is closed behind it; stop the server first.
func (h *Handler) Close() { h.pools.close() }

// Pools returns the number of pools, counting retired ones that still
// have requests in flight.
func (h *Handler) Pools() int { return h.pools.len() }

// ServeHTTP serves /ACCOUNT/PROJECT/ENVIRONMENT/PATH with the route of that
// deployment that matches /PATH.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.hop.seen(r.Header) {
		h.answer(w, "", &apiError{status: http.StatusLoopDetected, Code: codeLoopDetected,
			Message: fmt.Sprintf("the request has already passed through this edge (its Via field names %s): a route's baseUrl leads back to the edge, directly or through other proxies; point the route's baseUrl at the backend itself", h.hop.name)})
		return
	}
	if r.ContentLength > h.maxBody {
		h.answer(w, "", &apiError{status: http.StatusRequestEntityTooLarge, Code: codeBodyTooLarge,
			Message: fmt.Sprintf("the request body of %d bytes is over the edge's limit of %d bytes", r.ContentLength, h.maxBody)})
		return
	}
	if r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	}
	snap := h.state.Load()
	// The segments of most paths fit in segs, which stays on the stack.
	var segs [8]string
	key, rest, err := splitRequestPath(r.URL.EscapedPath(), h.allowSlash, segs[:0])
	switch {
	case errors.Is(err, errBadPath):
		h.answer(w, "", &apiError{status: http.StatusBadRequest, Code: codeBadPath,
			Message: err.Error() + " (send a path with valid escapes such as %20)"})
		return
	case errors.Is(err, errPathNotAllowed):
		h.answer(w, "", pathAPIError("", err))
		return
	}
	var d *state.Deployment
	if err == nil {
		d = snap.Deployment(key)
	}
	if d == nil {
		h.answer(w, "", &apiError{status: http.StatusNotFound, Code: codeDeploymentNotFound,
			Message: fmt.Sprintf("no deployment is served at %s (the path starts with /ACCOUNT/PROJECT/ENVIRONMENT; check it against `certbind deployment list`)", deploymentPrefix(key, err))})
		return
	}
	route, params, allowed := findRoute(d, r.Method, rest)
	switch {
	case route == nil && len(allowed) > 0:
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		h.answer(w, "", &apiError{status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed,
			Message: fmt.Sprintf("no route of %s serves %s %s (the routes for this path take %s)", prefix(key), r.Method, displayPath(rest), strings.Join(allowed, ", "))})
		return
	case route == nil:
		h.answer(w, "", &apiError{status: http.StatusNotFound, Code: codeRouteNotFound,
			Message: fmt.Sprintf("no route of %s matches %s (its routes: %s)", prefix(key), displayPath(rest), routeList(d))})
		return
	}
	h.serveRoute(w, r, snap, d, route, rest, params)
}

func (h *Handler) serveRoute(w http.ResponseWriter, r *http.Request, snap *state.Snapshot, d *state.Deployment, route *state.Route, rest requestPath, params []param) {
	u, err := target(route, rest, params, r.URL.RawQuery)
	if errors.Is(err, errPathNotAllowed) {
		h.answer(w, route.Path, pathAPIError(route.Path, err))
		return
	}
	if err != nil {
		h.answer(w, route.Path, &apiError{status: http.StatusBadGateway, Code: codeBadTarget, Route: route.Path,
			Message: fmt.Sprintf("route %q: %v (redeploy with a valid URL)", route.Path, err)})
		return
	}
	m, ce := resolveRoute(snap, route, d.EnvironmentType)
	if ce != nil {
		h.log.Warn("certificate unavailable", "deployment", d.ID, "route", route.Path,
			"option", ce.Option, "certificate", ce.Name, "certificateId", ce.ID, "reason", ce.Reason)
		countUnavailable(snap, ce)
		h.answer(w, route.Path, certificateAPIError(route.Path, ce))
		return
	}
	if u.backend.Scheme != "https" && (m.client != nil || m.ca != nil) {
		m.countRequest()
		m.countFailure(codeNeedsHTTPS)
		option, name, id := optMTLS, route.MTLSCertificateName, route.MTLSCertificateID
		if m.client == nil {
			option, name, id = optCA, route.CACertificateName, route.CACertificateID
		}
		h.answer(w, route.Path, &apiError{status: http.StatusBadGateway, Code: codeNeedsHTTPS, Route: route.Path,
			Option: option, Certificate: name, CertificateID: id,
			Message: fmt.Sprintf("route %q asks for mTLS (%s %q) but its backend URL is %s://; the request was not sent without the certificate (redeploy with an https:// URL)",
				route.Path, option, name, u.backend.Scheme)})
		return
	}
	h.forward(w, r, d, route, u, m)
}

// answer writes an answer of the edge's own and reports it.
func (h *Handler) answer(w http.ResponseWriter, route string, e *apiError) {
	writeError(w, e)
	h.observer.Request(route, e.status, 0)
	if refusal(e.Code) {
		h.observer.Refused(e.Code)
	}
}

// resolveRoute finds the certificates a route names in snap.
func resolveRoute(snap *state.Snapshot, r *state.Route, envType string) (tlsMaterial, *CertificateError) {
	var m tlsMaterial
	if r.MTLSCertificateID != "" {
		c := snap.Certificate(r.MTLSCertificateID)
		if ce := usable(c, optMTLS, r.MTLSCertificateName, r.MTLSCertificateID, envType); ce != nil {
			return m, ce
		}
		m.client = c
	}
	if r.CACertificateID != "" {
		c := snap.Certificate(r.CACertificateID)
		if ce := usable(c, optCA, r.CACertificateName, r.CACertificateID, envType); ce != nil {
			return m, ce
		}
		m.ca = c
	}
	return m, nil
}

// The handler options that name certificates.
const (
	optMTLS = "mtlsCertificate"
	optCA   = "caCertificate"
)

// usable says why c, named name (id) by option, cannot be used in an
// environment of type envType ("": any), or returns nil. Disabled and
// deleting certificates are usable: a deployment that already uses one
// goes on with it until it is redeployed, which is what lets a rotation or
// a deletion proceed without failing a request.
func usable(c *state.Certificate, option, name, id, envType string) *CertificateError {
	fail := func(reason string) *CertificateError {
		return &CertificateError{Option: option, Name: name, ID: id, Reason: reason}
	}
	wantKind := "client"
	if option == optCA {
		wantKind = "ca"
	}
	switch {
	case c == nil:
		return fail("not on this edge (deleted or not yet received)")
	case c.Unavailable != "":
		return fail(c.Unavailable + "; rotate it in place with new material, or redeploy with another certificate")
	case c.Kind != wantKind && option == optCA:
		return fail("it is a client certificate, but caCertificate takes a CA uploaded with --ca")
	case c.Kind != wantKind:
		return fail("it is a CA certificate, but mtlsCertificate takes a client certificate with its key")
	case option == optMTLS && c.TLS == nil, option == optCA && c.Pool == nil:
		return fail("not on this edge (its material has not been received)")
	case envType != "" && !slices.Contains(c.EnvironmentTypes, envType):
		return fail(fmt.Sprintf("not allowed in %s environments (it allows %s)", envType, strings.Join(c.EnvironmentTypes, ", ")))
	}
	return nil
}

// deploymentPrefix shows where a deployment was looked for.
func deploymentPrefix(k state.Key, err error) string {
	if err != nil {
		return "this path"
	}
	return prefix(k)
}

func prefix(k state.Key) string {
	return "/" + url.PathEscape(k.Account) + "/" + url.PathEscape(k.Project) + "/" + url.PathEscape(k.Environment)
}

// displayPath is the path below a deployment's prefix, for a message. It
// returns a copy: a message keeps it, and escape analysis, which
// follows rest as a whole, would otherwise move the segments of every
// request's path to the heap with it (see ServeHTTP).
func displayPath(rest requestPath) string {
	if rest.escaped == "" {
		return "/"
	}
	return strings.Clone(rest.escaped)
}

// routeList lists a deployment's route paths for a message.
func routeList(d *state.Deployment) string {
	const max = 10
	var paths []string
	for i, r := range d.Routes {
		if i == max {
			paths = append(paths, fmt.Sprintf("and %d more", len(d.Routes)-max))
			break
		}
		paths = append(paths, r.Path)
	}
	if len(paths) == 0 {
		return "none"
	}
	return strings.Join(paths, ", ")
}
