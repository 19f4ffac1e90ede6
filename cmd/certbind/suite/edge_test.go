package suite_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/services/certmgr/testpki"
)

// mtlsBackend is an HTTPS server that requires a client certificate from
// clientCA and answers with the subject it saw.
func mtlsBackend(t *testing.T, server *testpki.Cert, clientCA *testpki.Cert) *httptest.Server {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "subject=%s path=%s", r.TLS.PeerCertificates[0].Subject, r.URL.Path)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{server.DER}, PrivateKey: server.Key}},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// load sends GETs to url from n goroutines until stopped and counts what
// did not come back 200 with the expected body prefix.
type load struct {
	ok, failed atomic.Int64
	lastBody   atomic.Value
	firstError atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(url string, n int) *load {
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for range n {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil {
					l.failed.Add(1)
					l.firstError.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					l.failed.Add(1)
					l.firstError.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				l.ok.Add(1)
				l.lastBody.Store(string(body))
			}
		})
	}
	return l
}

func (l *load) finish(t *testing.T, phase string) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("%s: %d requests ok, %d failed", phase, l.ok.Load(), l.failed.Load())
	if l.failed.Load() != 0 {
		t.Fatalf("%s: %d requests failed, first: %v", phase, l.failed.Load(), l.firstError.Load())
	}
	if l.ok.Load() < 50 {
		t.Fatalf("%s: only %d requests went through; the load did not run", phase, l.ok.Load())
	}
}

// eventually polls get until want is in the body.
func eventually(t *testing.T, url, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == 200 && strings.Contains(string(b), want) {
				return string(b)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered with %q; last: %s", url, want, last)
	return ""
}

type pki struct {
	clientCA, backendCA, backendCert *testpki.Cert
}

func newPKI(t *testing.T) pki {
	backendCA := testpki.NewCA(t, "Backend CA")
	return pki{
		clientCA:  testpki.NewCA(t, "Client CA"),
		backendCA: backendCA,
		backendCert: backendCA.Issue(t, testpki.Options{CommonName: "127.0.0.1", IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
	}
}

func upload(t *testing.T, s *suite.Suite, name string, leaf *testpki.Cert) string {
	t.Helper()
	r := call(t, s, "admin", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": name,
		"environmentTypes": []string{"production"}, "certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM)})
	if r.status != 200 {
		t.Fatalf("upload %s: %d %s", name, r.status, r.raw)
	}
	return r.body["id"].(string)
}

func deploy(t *testing.T, s *suite.Suite, backend string, vars map[string]string, mtls string) {
	t.Helper()
	cfg := map[string]any{"routes": []any{map[string]any{"path": "/api/*", "handler": map[string]any{"export": "UrlForwardHandler",
		"options": map[string]any{"baseUrl": backend, "mtlsCertificate": mtls, "caCertificate": "backendCa"}}}}}
	r := call(t, s, "admin", "POST", "/v1/accounts/acme/projects/shop/deployments",
		map[string]any{"environment": "production", "environmentType": "production", "config": cfg, "variables": vars})
	if r.status != 200 {
		t.Fatalf("deploy: %d %s", r.status, r.raw)
	}
}

// TestEdgeRotationsUnderLoad runs DESIGN's workflow through the edge with
// continuous concurrent load: rotation in place, then the five-step
// rotation to a new certificate, with zero failed requests.
func TestEdgeRotationsUnderLoad(t *testing.T) {
	s := start(t, "admin")
	p := newPKI(t)
	backend := mtlsBackend(t, p.backendCert, p.clientCA)
	r := call(t, s, "admin", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	if r.status != 200 {
		t.Fatalf("CA upload: %d %s", r.status, r.raw)
	}
	oldID := upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client-v1"}))
	deploy(t, s, backend.URL, map[string]string{"BACKEND_MTLS_CERT": "myBackendCert"}, "$env(BACKEND_MTLS_CERT)")
	url := s.EdgeURL + "/acme/shop/production/api/hello"
	if body := eventually(t, url, "CN=client-v1"); !strings.Contains(body, "path=/api/hello") {
		t.Fatalf("backend saw %s", body)
	}

	// Rotation in place: same id and name, new material.
	l := startLoad(url, 8)
	time.Sleep(200 * time.Millisecond)
	v2 := p.clientCA.Issue(t, testpki.Options{CommonName: "client-v2"})
	r = call(t, s, "admin", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates/"+oldID+":rotate",
		map[string]any{"certificatePem": string(v2.CertPEM), "privateKeyPem": string(v2.KeyPEM)})
	if r.status != 200 || r.body["version"] != float64(2) {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	eventually(t, url, "CN=client-v2")
	time.Sleep(200 * time.Millisecond)
	l.finish(t, "rotation in place")

	// The five steps: upload new under a new name, switch the variable,
	// disable the old one, deploy, verify, delete the old one.
	l = startLoad(url, 8)
	time.Sleep(200 * time.Millisecond)
	upload(t, s, "myBackendCertV3", p.clientCA.Issue(t, testpki.Options{CommonName: "client-v3"}))
	vars := map[string]string{"BACKEND_MTLS_CERT": "myBackendCertV3"}
	if r = call(t, s, "admin", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates/"+oldID+":disable", map[string]any{}); r.status != 200 {
		t.Fatalf("disable old: %d %s", r.status, r.raw)
	}
	time.Sleep(200 * time.Millisecond) // the running deployment still uses the disabled certificate
	deploy(t, s, backend.URL, vars, "$env(BACKEND_MTLS_CERT)")
	eventually(t, url, "CN=client-v3")
	if r = call(t, s, "admin", "DELETE", "/v1/accounts/acme/projects/shop/mtls-certificates/"+oldID, nil); r.status != 200 {
		t.Fatalf("delete old after the deploy: %d %s", r.status, r.raw)
	}
	time.Sleep(200 * time.Millisecond)
	l.finish(t, "five-step rotation")
	if body := l.lastBody.Load().(string); !strings.Contains(body, "CN=client-v3") {
		t.Fatalf("after the rotation the backend saw %s", body)
	}

	// Status and metrics show what is in use.
	req, _ := http.NewRequest("GET", s.EdgeAdminURL+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(status), "myBackendCertV3") || strings.Contains(string(status), oldID) {
		t.Fatalf("status: %d %s", resp.StatusCode, status)
	}
	if resp, _ := http.Get(s.EdgeAdminURL + "/v1/status"); resp.StatusCode != 401 {
		t.Fatalf("status without a key: %d", resp.StatusCode)
	}
	resp, err = http.Get(s.EdgeAdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`certbind_edge_requests_total{code="200",route="/api/*"}`, "certbind_edge_backend_tls_handshakes_total", "certbind_edge_certificate_version", "certbind_edge_stream_lag_seconds"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestEdgeRefusesWithoutCertificate: a route whose certificate is gone
// answers 502 naming it and sends nothing; a backend that wants another
// client certificate, or whose certificate is not trusted, is a clear 502.
func TestEdgeBackendFailures(t *testing.T) {
	s := start(t, "admin")
	p := newPKI(t)
	otherCA := testpki.NewCA(t, "Other Client CA")
	picky := mtlsBackend(t, p.backendCert, otherCA) // wants certificates from another CA
	call(t, s, "admin", "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client"}))
	deploy(t, s, picky.URL, nil, "myBackendCert")
	url := s.EdgeURL + "/acme/shop/production/api/x"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 502 && strings.Contains(string(body), "backend_rejected_client_certificate") && strings.Contains(string(body), "myBackendCert") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 502 backend_rejected_client_certificate, got %d %s", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A backend whose certificate the route's CA did not sign.
	stranger := testpki.NewCA(t, "Stranger")
	untrusted := mtlsBackend(t, stranger.Issue(t, testpki.Options{CommonName: "127.0.0.1", IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}), p.clientCA)
	deploy(t, s, untrusted.URL, nil, "myBackendCert")
	eventuallyStatus(t, url, 502, "backend_certificate_not_trusted")
}

func eventuallyStatus(t *testing.T, url string, code int, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == code && strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d %s, got %d %s", code, want, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
