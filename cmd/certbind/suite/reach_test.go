package suite_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
)

// TestEdgeReach deploys routes that point at the suite's own listeners
// (the edge itself, its admin listener, the REST facade, the gRPC
// services) and at a metadata address: the edge never connects to them.
// Each is answered 502 backend_refused_by_policy naming the listener, and
// the admin listener's /metrics is not readable through the public port.
// The edge's own URL and a metadata address are refused by the deploy
// itself, before any edge sees them, so no packet is ever sent there. A backend on loopback, which
// `certbind dev` allows, is still served.
func TestEdgeReach(t *testing.T) {
	s := start(t, "admin-0123456789abcdef0123456789abcdef")
	plain := func(env, baseURL string) response {
		cfg := map[string]any{"routes": []any{map[string]any{"path": "/*", "handler": map[string]any{"export": "UrlForwardHandler",
			"options": map[string]any{"baseUrl": baseURL}}}}}
		return call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/acme/projects/shop/deployments",
			map[string]any{"environment": env, "environmentType": "development", "config": cfg})
	}
	// The edge by another name than its URL: the deploy cannot tell, the
	// edge's policy can.
	selfByName := strings.Replace(s.EdgeURL, "127.0.0.1", "localhost", 1)
	for _, c := range []struct{ env, baseURL, reason string }{
		{"self", selfByName, "--edge-addr"},
		{"admin", s.EdgeAdminURL, "--edge-admin-addr"},
		{"rest", s.HTTPURL, "--http-addr"},
		{"grpc", "http://" + s.GRPCAddr, "--grpc-addr"},
		{"metrics", s.MetricsURL, "--metrics-addr"},
	} {
		t.Run(c.env, func(t *testing.T) {
			if r := plain(c.env, c.baseURL); r.status != 200 {
				t.Fatalf("deploy: %d %s", r.status, r.raw)
			}
			body := e2etest.Eventually(t, s.EdgeURL+"/acme/shop/"+c.env+"/metrics", 502, "backend_refused_by_policy")
			if !strings.Contains(body, c.reason) {
				t.Errorf("the answer does not name %s: %s", c.reason, body)
			}
			if strings.Contains(body, "certbind_edge") {
				t.Errorf("the edge's metrics came through its public port: %s", body)
			}
		})
	}

	t.Run("the edge's URL refused at deploy", func(t *testing.T) {
		r := plain("loop", s.EdgeURL+"/acme/shop/loop")
		if r.status != 400 || !strings.Contains(string(r.raw), "the edge itself") {
			t.Errorf("deploy with the edge's own URL: %d %s, want 400 saying it is the edge itself", r.status, r.raw)
		}
	})

	t.Run("metadata refused at deploy", func(t *testing.T) {
		r := plain("metadata", "http://169.254.169.254/latest")
		if r.status != 400 || !strings.Contains(string(r.raw), "metadata") {
			t.Errorf("deploy with a metadata baseUrl: %d %s, want 400 naming the metadata address", r.status, r.raw)
		}
	})

	t.Run("loopback backend served", func(t *testing.T) {
		backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("local ok")) }))
		t.Cleanup(backend.Close)
		if r := plain("local", backend.URL); r.status != 200 {
			t.Fatalf("deploy: %d %s", r.status, r.raw)
		}
		e2etest.Eventually(t, s.EdgeURL+"/acme/shop/local/hello", 200, "local ok")
	})
}
