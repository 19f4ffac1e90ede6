package suite_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/internal/tracing"
)

// startTraced starts a suite whose spans go to an in-memory recorder.
func startTraced(t *testing.T, adminKey string) (*suite.Suite, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := suite.Start(ctx, suite.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		AdminKey: adminKey, Tracing: tracing.New(tp)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, rec
}

// waiter returns a function that pauses a little on each call but the
// first, and reports false once a minute has passed: a bound on waiting
// for spans that end just after an answer, not an assertion on speed.
func waiter(t *testing.T) func() bool {
	deadline := time.Now().Add(time.Minute)
	first := true
	return func() bool {
		if !first {
			time.Sleep(5 * time.Millisecond)
		}
		first = false
		return time.Now().Before(deadline)
	}
}

func spanNamed(spans []sdktrace.ReadOnlySpan, name string, parent trace.SpanID) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name && s.Parent().SpanID() == parent {
			return s
		}
	}
	return nil
}

// A REST create with a caller's traceparent is one trace in the suite:
// the REST span under the caller's, the gRPC client and server spans, and
// the store transaction, all with the caller's trace id.
func TestRESTCreateIsOneTrace(t *testing.T) {
	const admin = "admin-0123456789abcdef0123456789abcdef"
	s, rec := startTraced(t, admin)
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "traced"})
	body := fmt.Sprintf(`{"name":"tracedCert","environmentTypes":["production"],"certificatePem":%q,"privateKeyPem":%q}`, leaf.CertPEM, leaf.KeyPEM)
	req, _ := http.NewRequest("POST", s.HTTPURL+"/v1/accounts/acme/projects/shop/mtls-certificates", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	// The spans end just after the answer is on its way: wait for them.
	caller, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	rpc := "certbind.certmgr.v1.CertificateService/CreateCertificate"
	var restSpan, client, server, store sdktrace.ReadOnlySpan
	for wait := waiter(t); wait(); {
		spans := rec.Ended()
		if restSpan = spanNamed(spans, "REST POST", caller); restSpan != nil {
			if client = spanNamed(spans, rpc, restSpan.SpanContext().SpanID()); client != nil {
				if server = spanNamed(spans, rpc, client.SpanContext().SpanID()); server != nil {
					if store = spanNamed(spans, "store.CreateCertificate", server.SpanContext().SpanID()); store != nil {
						break
					}
				}
			}
		}
	}
	if store == nil {
		t.Fatalf("no chain REST → gRPC client → gRPC server → store among %d spans", len(rec.Ended()))
	}
	for _, sp := range []sdktrace.ReadOnlySpan{restSpan, client, server, store} {
		if got := sp.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %s has trace %s, want the caller's", sp.Name(), got)
		}
	}
}

// Through the suite's edge with tracing on, the backend receives the
// edge's traceparent, not the one the client sent, and the edge's span is
// the root of its own trace.
func TestEdgeSendsItsOwnTraceparent(t *testing.T) {
	const admin = "admin-0123456789abcdef0123456789abcdef"
	s, rec := startTraced(t, admin)
	p := newPKI(t)
	got := make(chan string, 16)
	pool := x509.NewCertPool()
	pool.AddCert(p.clientCA.Cert)
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- strings.Join(r.Header.Values("Traceparent"), " | "):
		default:
		}
		fmt.Fprintf(w, "subject=%s", r.TLS.PeerCertificates[0].Subject)
	}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{p.backendCert.DER}, PrivateKey: p.backendCert.Key}},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	backend.StartTLS()
	defer backend.Close()
	r := call(t, s, admin, "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	if r.status != 200 {
		t.Fatalf("CA upload: %d %s", r.status, r.raw)
	}
	upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client"}))
	deploy(t, s, backend.URL, nil, "myBackendCert")
	url := s.EdgeURL + "/acme/shop/production/api/x"
	e2etest.Eventually(t, url, 200, "CN=client")
	for len(got) > 0 {
		<-got
	}
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sent := <-got
	if strings.Contains(sent, clientTrace) || strings.Contains(sent, "|") || len(sent) != 55 {
		t.Fatalf("backend got traceparent %q: want the edge's own, one value", sent)
	}
	var edgeSpan sdktrace.ReadOnlySpan
	for wait := waiter(t); edgeSpan == nil && wait(); {
		for _, sp := range rec.Ended() {
			if strings.HasPrefix(sp.Name(), "edge GET") && sp.SpanContext().TraceID().String() == sent[3:35] {
				edgeSpan = sp
			}
		}
	}
	if edgeSpan == nil {
		t.Fatalf("no edge span of trace %s", sent[3:35])
	}
	if edgeSpan.Parent().IsValid() || sent[36:52] != edgeSpan.SpanContext().SpanID().String() {
		t.Errorf("edge span parent %v, id %s; backend's parent %s", edgeSpan.Parent(), edgeSpan.SpanContext().SpanID(), sent[36:52])
	}
}

// A deploy with a caller's traceparent reaches the deploytracker's store
// in the same trace: its in-progress record and its commit are spans
// under the deploytracker's gRPC server span, beside the call it makes to
// certmgr to resolve the certificates.
func TestDeployIsOneTrace(t *testing.T) {
	const admin = "admin-0123456789abcdef0123456789abcdef"
	s, rec := startTraced(t, admin)
	p := newPKI(t)
	r := call(t, s, admin, "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{"name": "backendCa",
		"ca": true, "environmentTypes": []string{"production"}, "certificatePem": string(p.backendCA.CertPEM)})
	if r.status != 200 {
		t.Fatalf("CA upload: %d %s", r.status, r.raw)
	}
	upload(t, s, "myBackendCert", p.clientCA.Issue(t, testpki.Options{CommonName: "client"}))
	body := `{"environment":"production","environmentType":"production","config":{"routes":[{"path":"/api/*","handler":{"export":"UrlForwardHandler",` +
		`"options":{"baseUrl":"https://127.0.0.1:9","mtlsCertificate":"myBackendCert","caCertificate":"backendCa"}}}]}}`
	req, _ := http.NewRequest("POST", s.HTTPURL+"/v1/accounts/acme/projects/shop/deployments", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Traceparent", "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("deploy: %d %s", resp.StatusCode, msg)
	}
	rpc := "certbind.deploytracker.v1.DeploymentService/Deploy"
	caller, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	var begin, commit sdktrace.ReadOnlySpan
	for wait := waiter(t); (begin == nil || commit == nil) && wait(); {
		spans := rec.Ended()
		restSpan := spanNamed(spans, "REST POST", caller)
		if restSpan == nil {
			continue
		}
		client := spanNamed(spans, rpc, restSpan.SpanContext().SpanID())
		if client == nil {
			continue
		}
		server := spanNamed(spans, rpc, client.SpanContext().SpanID())
		if server == nil {
			continue
		}
		begin = spanNamed(spans, "store.BeginDeploy", server.SpanContext().SpanID())
		commit = spanNamed(spans, "store.CommitDeploy", server.SpanContext().SpanID())
	}
	if begin == nil || commit == nil {
		t.Fatalf("no store.BeginDeploy and store.CommitDeploy under the Deploy call among %d spans", len(rec.Ended()))
	}
	for _, sp := range []sdktrace.ReadOnlySpan{begin, commit} {
		if sp.SpanContext().TraceID().String() != "5bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %s is in trace %s", sp.Name(), sp.SpanContext().TraceID())
		}
		for _, kv := range sp.Attributes() {
			if strings.Contains(kv.Value.String(), "routes") {
				t.Errorf("span %s carries the gateway config in %s", sp.Name(), kv.Key)
			}
		}
	}
}
