// Package edge assembles certbind's edge: it follows the certificate and
// deployment streams into memory and serves every deployment at
// /{account}/{project}/{environment}/..., sending each request to its
// backend over mutual TLS with the certificate the route names.
//
//	e, err := edge.New(edge.Config{Certmgr: cmConn, Deploytracker: dtConn})
//	go e.Run(ctx)
//	srv := proxy.NewServer(e.Handler())
//	go srv.Serve(listener)
//
// The connections carry the edge's key (an edge key, or the admin key).
package edge

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/internal/egress"
	"github.com/certbind/certbind/internal/tracing"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
	"github.com/certbind/certbind/services/edge/cache"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// Config configures an edge.
type Config struct {
	// Certmgr and Deploytracker are connections carrying the edge's key.
	Certmgr, Deploytracker grpc.ClientConnInterface
	// Scope narrows what the edge follows (its key may narrow it further).
	Scope watch.Scope
	// BackendTimeout bounds the wait for a backend's response headers.
	BackendTimeout time.Duration
	// MaxBodyBytes bounds request bodies; 0 means proxy.DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RootCAs verifies backends of routes without caCertificate; nil means
	// the system roots.
	RootCAs *x509.CertPool
	// StatusKey is the key GET /v1/status and StatusService ask for
	// (usually the edge's own key); it sees what the edge follows. On a
	// server that authenticates calls itself, admin, edge and account
	// principals are let in, each seeing what StatusScopeFor allows;
	// SetAuthenticator lets /v1/status do the same.
	StatusKey string
	// Egress decides which addresses routes may reach: the edge dials
	// backends only through it. nil is egress's default policy (built-in
	// denials, and loopback refused).
	Egress *egress.Policy
	// MaxConnsPerBackend bounds each backend pool's connections (0:
	// proxy.DefaultMaxConnsPerBackend).
	MaxConnsPerBackend int
	// HopID names this edge in the Via entry it adds to each request
	// (empty: random); see proxy.Config.HopID.
	HopID string
	// AllowEncodedSlashes lets %2F through inside a path segment; see
	// proxy.Config.AllowEncodedSlashes.
	AllowEncodedSlashes bool
	// Cache, when its Dir is set, keeps the edge's state on disk, sealed,
	// and a new edge starts from it: see package cache. Its EdgeKey must
	// be the key the connections carry; its scope is Scope and its Logger
	// this Logger.
	Cache cache.Config
	// Logger receives operational lines; nil discards them.
	Logger *slog.Logger
	// Tracing traces every forwarded request as a new trace whose
	// traceparent the backend receives (see proxy.Tracer); nil is off.
	Tracing *tracing.Tracing
}

// Edge is a running edge.
type Edge struct {
	store   *state.Store
	proxy   *proxy.Handler
	certs   *watch.Follower
	deploys *watch.Follower
	metrics *metrics
	// cache is the on-disk cache; nil without one.
	cache *cache.Cache
	// statusAccess decides who may read the status and what each sees.
	statusAccess statusAccess
	log          *slog.Logger
}

// New builds an edge; Run starts following the streams. It fails only on
// a Config that cannot work: a HopID with characters a Via entry cannot
// hold.
func New(cfg Config) (*Edge, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := proxy.CheckHopID(cfg.HopID); err != nil {
		return nil, err
	}
	policy := cfg.Egress
	if policy == nil {
		var err error
		if policy, err = egress.NewPolicy(egress.Config{}); err != nil {
			return nil, err
		}
	}
	// The pools bound each dial with their own timeout, through its context.
	dialer := &egress.Dialer{Policy: policy, Net: net.Dialer{KeepAlive: 30 * time.Second}}
	st := state.NewStore()
	e := &Edge{store: st, log: log, statusAccess: newStatusAccess(cfg.StatusKey, cfg.Scope)}
	e.statusAccess.refused = e.keyRefused
	e.certs = watch.NewCertificates(cfg.Certmgr, st, cfg.Scope, log)
	e.deploys = watch.NewDeployments(cfg.Deploytracker, st, cfg.Scope, log)
	e.metrics = newMetrics(e.streams)
	e.proxy = proxy.New(proxy.Config{State: st, BackendTimeout: cfg.BackendTimeout, MaxBodyBytes: cfg.MaxBodyBytes, RootCAs: cfg.RootCAs,
		Logger: log, Observer: e.metrics, Dial: dialer.DialContext, MaxConnsPerBackend: cfg.MaxConnsPerBackend,
		HopID: cfg.HopID, AllowEncodedSlashes: cfg.AllowEncodedSlashes, Tracer: tracer(cfg.Tracing)})
	st.OnInstall(e.metrics.install)
	st.OnPublish(e.metrics.certificates)
	if cfg.Cache.Dir != "" {
		if err := e.openCache(cfg); err != nil {
			return nil, err
		}
	}
	e.metrics.cacheGauges(e.streams, e.cacheStatus)
	return e, nil
}

// tracer is the proxy's Tracer: nil, not a nil *tracing.Edge, when off.
func tracer(t *tracing.Tracing) proxy.Tracer {
	if !t.Enabled() {
		return nil
	}
	return t.Edge()
}

// Refused counts a connection or request the edge's HTTP server refused
// (h1.Server.OnRefuse): the reasons it gives are a fixed few.
func (e *Edge) Refused(reason string) { e.metrics.Refused(reason) }

func (e *Edge) streams() []watch.Status {
	return []watch.Status{e.certs.Status(), e.deploys.Status()}
}

// keyRefused reports whether a stream's server refused the edge's key the
// last time it tried.
func (e *Edge) keyRefused() bool {
	for _, s := range e.streams() {
		if s.KeyRefused {
			return true
		}
	}
	return false
}

// Run follows both streams until ctx ends, reconnecting and resuming as
// needed. It returns nil when ctx ends.
func (e *Edge) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { e.certs.Run(ctx) })
	wg.Go(func() { e.deploys.Run(ctx) })
	if e.cache != nil {
		wg.Go(func() { e.cache.Run(ctx) })
	}
	// Pools are retired on every publish; a request that loaded the older
	// snapshot just before one may still open a pool for the old version,
	// so sweep now and then as well.
	wg.Go(func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.proxy.Retire(e.store.Load())
			}
		}
	})
	wg.Wait()
	return nil
}

// Ready reports whether both streams have delivered their first state.
func (e *Edge) Ready() bool {
	return e.certs.Status().Synced && e.deploys.Status().Synced
}

// Handler serves deployments. Until the edge is ready it answers 503, so a
// freshly started edge never answers 404 for a deployment it has not heard
// of yet.
func (e *Edge) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !e.Ready() {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"error": "edge_starting", "message": "the edge is still loading certificates and deployments; retry in a moment"})
			return
		}
		e.proxy.ServeHTTP(w, r)
	})
}

// Fetch sends req with a named certificate of account/project: the
// counterpart of fetch(url, { mtlsCertificate }) for handlers written in Go.
func (e *Edge) Fetch(ctx context.Context, account, project string, req *http.Request, opt proxy.FetchOptions) (*http.Response, error) {
	return e.proxy.Fetch(ctx, account, project, req, opt)
}

// AdminHandler serves GET /v1/status (JSON; each key sees what it may, see
// SetAuthenticator), /healthz (200 once ready) and /metrics (Prometheus).
func (e *Edge) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		sc, err := e.statusAccess.scope(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		switch {
		case errors.Is(err, errStatusUnauthenticated):
			writeJSONError(w, http.StatusUnauthorized, "unauthenticated", e.statusAccess.unauthenticatedMessage())
			return
		case errors.Is(err, errStatusDenied):
			writeJSONError(w, http.StatusForbidden, "permission_denied", err.Error())
			return
		case err != nil:
			e.log.Warn("status: cannot check the key", slog.Any("error", err))
			writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "cannot check the key right now; try again")
			return
		}
		b, err := protojson.MarshalOptions{EmitUnpopulated: true, Indent: "  "}.Marshal(e.Status(sc))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !e.Ready() {
			http.Error(w, "starting: waiting for the first certificates and deployments", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// writeJSONError answers code with the API's error body.
func writeJSONError(w http.ResponseWriter, code int, kind, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": kind, "message": message})
}

// RegisterStatus registers StatusService on r.
func (e *Edge) RegisterStatus(r grpc.ServiceRegistrar) {
	edgev1.RegisterStatusServiceServer(r, statusServer{e: e})
}

// Close closes every backend connection pool. Stop serving first.
func (e *Edge) Close() { e.proxy.Close() }
