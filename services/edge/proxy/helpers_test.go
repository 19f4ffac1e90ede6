package proxy_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/edge/h1"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

// deployment is where the tests' deployment is served.
var deployment = state.Key{Account: "acme", Project: "shop", Environment: "prod"}

// pki is a root CA and an intermediate that issues the edge's client
// certificates, so that a backend trusting the root only accepts them when
// the edge sends the whole chain.
type pki struct {
	root, inter *testpki.Cert
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	root := testpki.NewCA(t, "Test Root")
	return &pki{root: root, inter: root.Issue(t, testpki.Options{CommonName: "Test Intermediate", IsCA: true})}
}

// certPool returns a pool holding cas.
func certPool(cas ...*testpki.Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cas {
		p.AddCert(c.Cert)
	}
	return p
}

// clientCert returns a client certificate as the edge holds it, issued by
// the intermediate and carrying the chain to the root.
func (p *pki) clientCert(t testing.TB, id, name, cn string, version int32) *state.Certificate {
	t.Helper()
	leaf := p.inter.Issue(t, testpki.Options{CommonName: cn})
	return &state.Certificate{
		ID: id, Name: name, Account: deployment.Account, Project: deployment.Project,
		Kind: "client", State: "active", EnvironmentTypes: []string{"production"}, Version: version,
		TLS: &tls.Certificate{Certificate: [][]byte{leaf.DER, p.inter.DER}, PrivateKey: leaf.Key, Leaf: leaf.Cert},
	}
}

// caCert returns a CA certificate as the edge holds it.
func caCert(id, name string, ca *testpki.Cert) *state.Certificate {
	return &state.Certificate{
		ID: id, Name: name, Account: deployment.Account, Project: deployment.Project,
		Kind: "ca", State: "active", EnvironmentTypes: []string{"production"}, Version: 1,
		Pool: certPool(ca),
	}
}

// echo is what the echo backend answers: what it saw of the request.
type echo struct {
	Subject string
	Chain   int
	Method  string
	Path    string // escaped
	Query   string
	Host    string
	Header  http.Header
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	e := echo{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Host: r.Host, Header: r.Header}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		e.Subject = r.TLS.PeerCertificates[0].Subject.String()
		e.Chain = len(r.TLS.PeerCertificates)
	}
	if r.URL.Query().Has("close") {
		// Makes the edge open a new connection for the next request.
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(e)
}

// backend is a TLS server that requires a client certificate, and counts
// the connections it accepts and the requests that reach its handler.
type backend struct {
	*httptest.Server
	conns, requests atomic.Int64
}

// newBackend starts a backend with a server certificate from serverCA,
// trusting client certificates from clientCA. A nil handler echoes.
func newBackend(t testing.TB, serverCA, clientCA *testpki.Cert, handler http.HandlerFunc) *backend {
	t.Helper()
	return startBackend(t, serverCA, clientCA, handler, nil)
}

// startBackend is newBackend with a chance to adjust the http.Server
// before it starts (changing it while it serves would be a data race). A
// nil serverCA serves plain HTTP.
func startBackend(t testing.TB, serverCA, clientCA *testpki.Cert, handler http.HandlerFunc, adjust func(*http.Server)) *backend {
	t.Helper()
	if handler == nil {
		handler = echoHandler
	}
	b := &backend{}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		handler(w, r)
	}))
	b.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	// Rejected handshakes are expected in some tests; they need not be
	// printed.
	b.Config.ErrorLog = log.New(io.Discard, "", 0)
	if adjust != nil {
		adjust(b.Config)
	}
	if serverCA != nil {
		b.TLS = backendTLS(t, serverCA, clientCA)
		b.StartTLS()
	} else {
		b.Start()
	}
	t.Cleanup(b.Close)
	return b
}

// backendTLS is the TLS configuration of a backend: a server certificate
// for 127.0.0.1 from serverCA, and client certificates required and
// verified against clientCA.
func backendTLS(t testing.TB, serverCA, clientCA *testpki.Cert) *tls.Config {
	t.Helper()
	srv := serverCA.Issue(t, testpki.Options{
		CommonName:  "backend",
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srv.DER}, PrivateKey: srv.Key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    certPool(clientCA),
	}
}

// edge is a Handler on a store, served by the edge's own server on a
// loopback port, as the edge serves it.
type edge struct {
	store   *state.Store
	handler *proxy.Handler
	server  *h1.Server
	baseURL string // http://127.0.0.1:PORT
	client  *http.Client
}

type edgeOption func(*proxy.Config)

func newEdge(t testing.TB, roots *x509.CertPool, opts ...edgeOption) *edge {
	t.Helper()
	cfg := proxy.Config{State: state.NewStore(), RootCAs: roots, Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	e := &edge{store: cfg.State, handler: proxy.New(cfg)}
	e.server = proxy.NewServer(e.handler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.server.Serve(ln)
	e.baseURL = "http://" + ln.Addr().String()
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		e.client.CloseIdleConnections()
		e.server.Close()
		e.handler.Close()
	})
	return e
}

// deploy serves routes at deployment, in an environment of type
// "production", together with certs.
func (e *edge) deploy(routes []state.Route, certs ...*state.Certificate) {
	e.store.Update(func(next *state.Snapshot) {
		next.Deployments[deployment] = &state.Deployment{
			ID: "dep-1", Account: deployment.Account, Project: deployment.Project,
			Environment: deployment.Environment, EnvironmentType: "production", Routes: routes,
		}
		for _, c := range certs {
			next.Certificates[c.ID] = c
		}
	})
}

// url returns the edge URL of path below the deployment.
func (e *edge) url(path string) string {
	return e.baseURL + "/" + deployment.Account + "/" + deployment.Project + "/" + deployment.Environment + path
}

// response is an answer as the tests look at it.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v, failing the test if it is not JSON.
func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", r.status, err, r.body)
	}
}

func (r response) echo(t testing.TB) echo {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	var e echo
	r.json(t, &e)
	return e
}

// apiError is the JSON error body of the edge.
type apiError struct {
	Error, Message, Route, Option, Certificate, CertificateID, Reason string
}

func (r response) apiError(t testing.TB, status int, code string) apiError {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e apiError
	r.json(t, &e)
	if e.Error != code {
		t.Errorf("error %q, want %q (message: %s)", e.Error, code, e.Message)
	}
	if e.Message == "" {
		t.Error("error has no message")
	}
	return e
}

func (e *edge) do(t testing.TB, method, url string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (e *edge) get(t testing.TB, path string) response {
	t.Helper()
	return e.do(t, http.MethodGet, e.url(path), nil)
}

// forward is a UrlForwardHandler route.
func forward(path, baseURL string, cert *state.Certificate) state.Route {
	r := state.Route{Path: path, Handler: "UrlForwardHandler", BaseURL: baseURL}
	if cert != nil {
		r.MTLSCertificateID, r.MTLSCertificateName = cert.ID, cert.Name
	}
	// As the edge's watcher does; TestForwardURL covers a route that
	// is not prepared.
	r.Prepare()
	return r
}

// rewrite is a UrlRewriteHandler route.
func rewrite(path, pattern string, cert *state.Certificate) state.Route {
	r := forward(path, "", cert)
	r.Handler, r.RewritePattern = "UrlRewriteHandler", pattern
	return r
}

// handshakes counts the edge's TLS handshakes with backends.
type handshakes struct {
	full, resumed atomic.Int64
}

func (h *handshakes) Request(string, int, time.Duration) {}
func (h *handshakes) Refused(string)                     {}

func (h *handshakes) Handshake(_ string, resumed bool) {
	if resumed {
		h.resumed.Add(1)
	} else {
		h.full.Add(1)
	}
}

// exampleTB lets an Example, which has no *testing.T, use testpki: it
// panics where a test would fail.
type exampleTB struct{ testing.TB }

func (exampleTB) Helper() {}

func (exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// contains fails the test unless s contains each of subs.
func contains(t testing.TB, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s %q does not contain %q", what, s, sub)
		}
	}
}
