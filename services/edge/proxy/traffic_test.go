package proxy_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/edge/state"
)

// recordedTraffic is a state.Traffic that remembers what it was told.
type recordedTraffic struct {
	mu       sync.Mutex
	requests int
	failures []string // "code", or "code handshake"
}

func (r *recordedTraffic) Request() { r.mu.Lock(); r.requests++; r.mu.Unlock() }

func (r *recordedTraffic) Failed(code string, handshake bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if handshake {
		code += " handshake"
	}
	r.failures = append(r.failures, code)
}

func (r *recordedTraffic) String() string {
	if r == nil {
		return "nothing installed"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.requests, r.failures)
}

// TestCertificateTraffic: each request is counted under the certificates
// its route names, and each error answer under them with its code, a
// failed handshake marked as one.
func TestCertificateTraffic(t *testing.T) {
	p := newPKI(t)
	good := newBackend(t, p.root, p.root, nil)
	picky := newBackend(t, p.root, testpki.NewCA(t, "Another CA"), nil) // rejects the edge's client certificates
	plain := newBackend(t, nil, nil, nil)
	withCA := func(r state.Route) state.Route {
		r.CACertificateID, r.CACertificateName = "ca-1", "backendCa"
		return r
	}
	// Each case sends two requests.
	for _, tc := range []struct {
		name       string
		route      func(client *state.Certificate) state.Route
		devOnly    bool // the client certificate is not allowed in production
		status     int
		client, ca string
	}{
		{"served", func(c *state.Certificate) state.Route { return withCA(forward("/*", good.URL, c)) }, false,
			200, "2 []", "2 []"},
		{"backend rejects the client certificate", func(c *state.Certificate) state.Route { return withCA(forward("/*", picky.URL, c)) }, false,
			502, "2 [backend_rejected_client_certificate handshake backend_rejected_client_certificate handshake]",
			"2 [backend_rejected_client_certificate handshake backend_rejected_client_certificate handshake]"},
		{"mTLS over http, no CA", func(c *state.Certificate) state.Route { return forward("/*", plain.URL, c) }, false,
			502, "2 [mtls_requires_https mtls_requires_https]", "0 []"},
		// Resolving stops at the certificate it cannot use: that one is
		// counted; the CA after it is not reached.
		{"certificate not allowed here", func(c *state.Certificate) state.Route { return withCA(forward("/*", good.URL, c)) }, true,
			502, "2 [certificate_unavailable certificate_unavailable]", "0 []"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
			if tc.devOnly {
				client.EnvironmentTypes = []string{"development"}
			}
			ca := caCert("ca-1", "backendCa", p.root)
			e := newEdge(t, certPool(p.root))
			installed := map[string]*recordedTraffic{}
			e.store.OnInstall(func(c *state.Certificate) {
				r := &recordedTraffic{}
				installed[c.ID] = r
				c.Traffic = r
			})
			e.deploy([]state.Route{tc.route(client)}, client, ca)
			for range 2 {
				if got := e.get(t, "/x").status; got != tc.status {
					t.Fatalf("status %d, want %d", got, tc.status)
				}
			}
			if got := installed[client.ID].String(); got != tc.client {
				t.Errorf("the client certificate counted %s, want %s", got, tc.client)
			}
			if got := installed[ca.ID].String(); got != tc.ca {
				t.Errorf("the CA counted %s, want %s", got, tc.ca)
			}
		})
	}
}
