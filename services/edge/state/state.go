// Package state holds what an edge serves: deployments and the
// certificates they use, as immutable snapshots. Writers build a new snapshot
// and swap it in atomically; a request loads one snapshot and sees a single
// consistent state throughout, so a change (a redeploy, a rotation, a
// delete) applies to new requests all at once and never to half a request.
package state

import (
	"crypto/tls"
	"crypto/x509"
	"maps"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/certbind/certbind/internal/route"
)

// Certificate is a certificate as the edge holds it.
type Certificate struct {
	ID, Name, Account, Project string
	// Kind is "client" or "ca".
	Kind string
	// State is "active", "disabled" or "deleting". Deployments that already
	// use a disabled certificate keep using it until they are redeployed.
	State            string
	EnvironmentTypes []string
	Version          int32
	Fingerprint      string
	// TLS is the client certificate with its full chain and key (client).
	TLS *tls.Certificate
	// Pool holds the CA bundle (ca).
	Pool *x509.CertPool
	// Revision is the certificate stream revision of this version.
	Revision uint64
	// Unavailable, when set, says why the edge has no usable material for
	// the certificate (TLS and Pool are nil): certmgr reported it damaged,
	// or what arrived did not decode. Routes that use it answer 502 with
	// this reason.
	Unavailable string
	// UnavailableReason is the bounded label of Unavailable for metrics:
	// "damaged" or "invalid_material".
	UnavailableReason string
	// Traffic counts the requests that use the certificate. The store's
	// install hook (OnInstall) sets it before the certificate is first
	// published, so a request finds its certificate's counters on the
	// certificate it already holds. nil when nothing counts.
	Traffic Traffic
}

// Traffic counts what the edge does with one certificate. Its methods are
// called on the request path and must be quick.
type Traffic interface {
	// Request counts a request of a route that names the certificate,
	// whatever its answer.
	Request()
	// Failed counts such a request that the edge answered with an error
	// of its own; code is the answer's error code ("certificate_unavailable",
	// "backend_rejected_client_certificate", ...) and handshake says
	// whether the TLS handshake with the backend failed.
	Failed(code string, handshake bool)
}

// Route is a resolved route of a deployment.
type Route struct {
	Path                string
	Methods             []string
	Handler             string
	BaseURL             string
	RewritePattern      string
	MTLSCertificateID   string
	MTLSCertificateName string
	CACertificateID     string
	CACertificateName   string

	// base is BaseURL parsed by Prepare, and origin its scheme://host.
	base   *url.URL
	origin string
	// path and rewrite are Path and RewritePattern compiled by Prepare.
	path    *route.Path
	rewrite *route.Rewrite
}

// Prepare parses BaseURL and compiles Path and RewritePattern once, so
// that the requests of a route do not each do it again. The builder of a
// snapshot calls it; a route it was not called for (or whose BaseURL does
// not parse) is parsed and compiled per request.
func (r *Route) Prepare() {
	if u, err := url.Parse(r.BaseURL); err == nil {
		r.base = u
		r.origin = Origin(u)
	}
	r.path = route.Compile(r.Path)
	if r.RewritePattern != "" {
		r.rewrite = route.CompileRewrite(r.RewritePattern)
	}
}

// CompiledPath returns Path compiled, shared between requests.
func (r *Route) CompiledPath() *route.Path {
	if r.path != nil {
		return r.path
	}
	return route.Compile(r.Path)
}

// CompiledRewrite returns RewritePattern compiled, shared between requests.
func (r *Route) CompiledRewrite() *route.Rewrite {
	if r.rewrite != nil {
		return r.rewrite
	}
	return route.CompileRewrite(r.RewritePattern)
}

// Origin returns the scheme://host of a prepared BaseURL, or "".
func (r *Route) Origin() string { return r.origin }

// Origin returns the scheme and host of u ("https://b:8443"), which is all
// of a target that names a backend: logs and messages show this and not
// the path or query, which may carry data of the caller.
func Origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// Base returns BaseURL parsed. The URL may be shared between requests:
// copy it before changing it.
func (r *Route) Base() (*url.URL, error) {
	if r.base != nil {
		return r.base, nil
	}
	return url.Parse(r.BaseURL)
}

// Deployment is a deployment as the edge serves it.
type Deployment struct {
	ID, Account, Project, Environment, EnvironmentType string
	Generation                                         int32
	Revision                                           uint64
	Routes                                             []Route
}

// Key is where a deployment is served: /account/project/environment.
type Key struct{ Account, Project, Environment string }

// Snapshot is one consistent state. It is never modified once published.
type Snapshot struct {
	Deployments  map[Key]*Deployment
	Certificates map[string]*Certificate // by id
}

// Deployment returns the deployment served at k.
func (s *Snapshot) Deployment(k Key) *Deployment { return s.Deployments[k] }

// Certificate returns the certificate with id.
func (s *Snapshot) Certificate(id string) *Certificate { return s.Certificates[id] }

// CertificateByName finds a project's certificate by name.
func (s *Snapshot) CertificateByName(account, project, name string) *Certificate {
	for _, c := range s.Certificates {
		if c.Account == account && c.Project == project && c.Name == name {
			return c
		}
	}
	return nil
}

// Store publishes snapshots.
type Store struct {
	mu  sync.Mutex // serialises writers; readers never wait
	cur atomic.Pointer[Snapshot]
	// watchers are told after every publish.
	watchers []func(*Snapshot)
	// installers are told of every certificate a publish brings in.
	installers []func(*Certificate)
}

// NewStore returns a store holding an empty snapshot.
func NewStore() *Store {
	s := &Store{}
	s.cur.Store(&Snapshot{Deployments: map[Key]*Deployment{}, Certificates: map[string]*Certificate{}})
	return s
}

// Load returns the current snapshot.
func (s *Store) Load() *Snapshot { return s.cur.Load() }

// OnPublish registers fn to run after every publish, in the writer's
// goroutine (for metrics and retiring unused connection pools).
func (s *Store) OnPublish(fn func(*Snapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, fn)
}

// OnInstall registers fn to run for every certificate that an update
// brings in (a new certificate, or a new version of one), before the
// snapshot that holds it is published: fn may set the certificate's
// Traffic, which no request can be reading yet. It runs in the writer's
// goroutine.
func (s *Store) OnInstall(fn func(*Certificate)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installers = append(s.installers, fn)
}

// Update builds the next snapshot from a copy of the current one's maps and
// publishes it. fn may replace or delete entries; the entries themselves are
// shared with older snapshots and must be replaced, not modified.
func (s *Store) Update(fn func(next *Snapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur.Load()
	next := &Snapshot{Deployments: maps.Clone(cur.Deployments), Certificates: maps.Clone(cur.Certificates)}
	fn(next)
	if len(s.installers) > 0 {
		for id, c := range next.Certificates {
			// A certificate already published is shared with readers and
			// is left as it is.
			if c == nil || cur.Certificates[id] == c || c.Traffic != nil {
				continue
			}
			for _, install := range s.installers {
				install(c)
			}
		}
	}
	s.cur.Store(next)
	for _, w := range s.watchers {
		w(next)
	}
}
