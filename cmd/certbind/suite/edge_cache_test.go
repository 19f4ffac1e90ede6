package suite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/internal/testpki"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
)

// `certbind dev --cache-dir` gives its edge the sealed cache: a dev
// stopped and started again on the same data dir starts its edge from the
// cache (the status says when it was written), and the edge serves and
// goes live as the in-process control plane answers.
func TestDevEdgeCache(t *testing.T) {
	const admin = "admin-0123456789abcdef0123456789abcdef"
	data, cacheDir := t.TempDir(), t.TempDir()
	cfg := suite.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", AdminKey: admin,
		EdgeCacheDir: cacheDir, EdgeCacheKeyFile: filepath.Join(data, "edge-cache.key")}
	run := func() (*suite.Suite, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := suite.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx) }()
		stop := func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
		t.Cleanup(func() {
			select {
			case <-ctx.Done():
			default:
				stop()
			}
		})
		return s, stop
	}
	s, stop := run()
	if st := edgeStatusOf(t, s, admin); !st.GetCache().GetEnabled() || st.GetCache().GetRestoredWrittenUnixMs() != 0 {
		t.Fatalf("a new dev's edge cache: %v", st.GetCache())
	}
	p := newPKI(t)
	backend := e2etest.MTLSBackend(t, p.backendCert, p.clientCA)
	r := call(t, s, admin, "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	if r.status != 200 {
		t.Fatalf("CA upload: %d %s", r.status, r.raw)
	}
	upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client-v1"}))
	deploy(t, s, backend.URL, nil, "myBackendCert")
	e2etest.Eventually(t, s.EdgeURL+"/acme/shop/production/api/hello", 200, "CN=client-v1")
	stop()

	s, _ = run()
	st := edgeStatusOf(t, s, admin)
	restored := st.GetCache().GetRestoredWrittenUnixMs()
	if restored == 0 || time.Since(time.UnixMilli(restored)) > time.Hour || len(st.GetDeployments()) != 1 {
		t.Fatalf("the restarted dev's edge did not start from its cache: %v, %d deployments", st.GetCache(), len(st.GetDeployments()))
	}
	e2etest.Eventually(t, s.EdgeURL+"/acme/shop/production/api/hello", 200, "CN=client-v1")
}

func edgeStatusOf(t *testing.T, s *suite.Suite, key string) *edgev1.GetStatusResponse {
	t.Helper()
	code, st, raw := httpStatus(t, s, key)
	if code != 200 {
		t.Fatalf("status: %d %s", code, raw)
	}
	return st
}
