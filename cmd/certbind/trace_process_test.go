package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/internal/tracing/otlptest"
)

// TestCreateIsOneTrace runs `certbind dev` and `certbind mtls-certificate
// create` as real processes, both exporting to a real OTLP receiver, and
// checks that the create is one trace: the CLI's span, the REST facade's
// under it, the gRPC call's client and server spans under that, and the
// certificate store transaction under the server's span. No span carries
// key material or the API key.
func TestCreateIsOneTrace(t *testing.T) {
	recv := otlptest.Start(t)
	endpoint := "http://" + recv.Addr
	bin := binaries(t)
	certbind := filepath.Join(bin, "certbind")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	_, url := startDev(t, certbind, data, "--otlp-endpoint", endpoint)
	keyBytes, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(keyBytes))
	leaf := testpki.NewCA(t, "Trace Root").Issue(t, testpki.Options{CommonName: "client"})
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
	os.WriteFile(certFile, leaf.CertPEM, 0o600)
	os.WriteFile(keyFile, leaf.KeyPEM, 0o600)
	out, err := runBin(t, certbind, url, key, "mtls-certificate", "create", "--cert", certFile, "--key", keyFile,
		"--name", "tracedCert", "--account", "acme", "--project", "shop", "--environment-type", "production",
		"--output", "json", "--otlp-endpoint", endpoint)
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var cli otlptest.Span
	find := func(spans []otlptest.Span, service, name, parent string) (otlptest.Span, bool) {
		for _, s := range spans {
			if s.Service == service && s.Name == name && (parent == "" || s.ParentSpanID == parent) && (cli.TraceID == "" || s.TraceID == cli.TraceID) {
				return s, true
			}
		}
		return otlptest.Span{}, false
	}
	const createRPC = "certbind.certmgr.v1.CertificateService/CreateCertificate"
	var rest, client, server, store otlptest.Span
	spans := recv.Wait(ctx, t, func(spans []otlptest.Span) bool {
		var ok bool
		cli = otlptest.Span{}
		if cli, ok = find(spans, "certbind-cli", "certbind mtls-certificate create", ""); !ok {
			return false
		}
		if rest, ok = find(spans, "certbind-dev", "REST POST", cli.SpanID); !ok {
			return false
		}
		if client, ok = find(spans, "certbind-dev", createRPC, rest.SpanID); !ok {
			return false
		}
		if server, ok = find(spans, "certbind-dev", createRPC, client.SpanID); !ok {
			return false
		}
		store, ok = find(spans, "certbind-dev", "store.CreateCertificate", server.SpanID)
		return ok
	})
	if cli.ParentSpanID != "" {
		t.Errorf("the CLI's span has a parent %s: it should start the trace", cli.ParentSpanID)
	}
	if rest.Attributes["url.path"] != "/v1/accounts/acme/projects/shop/mtls-certificates" || rest.Attributes["http.response.status_code"] != "200" {
		t.Errorf("REST span attributes %v", rest.Attributes)
	}
	if store.Attributes["certbind.account"] != "acme" || store.Attributes["certbind.certificate.name"] != "tracedCert" || !strings.HasPrefix(store.Attributes["certbind.certificate.id"], "crt_") {
		t.Errorf("store span attributes %v", store.Attributes)
	}
	for _, s := range spans {
		for k, v := range s.Attributes {
			if strings.Contains(v, key) || strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, "BEGIN CERTIFICATE") {
				t.Errorf("span %q attribute %s carries a secret or material", s.Name, k)
			}
		}
	}
	t.Logf("trace %s: %d spans received in all", cli.TraceID, len(spans))
}

// restartWith stops a process of the cluster and starts it with extra
// flags.
func (c *cluster) restartWith(name string, extra ...string) {
	c.t.Helper()
	if p := c.procs[name]; p != nil {
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
		delete(c.procs, name)
	}
	c.startWith(name, extra...)
}

// TestSeparateProcessesTraceACreate: with certmgr and the REST facade as
// processes of their own, each exporting as itself, one create is still
// one trace from the CLI down to certmgr's store.
func TestSeparateProcessesTraceACreate(t *testing.T) {
	recv := otlptest.Start(t)
	endpoint := "http://" + recv.Addr
	c := startCluster(t)
	c.restartWith("certmgr", "--otlp-endpoint", endpoint)
	c.restartWith("restapi", "--otlp-endpoint", endpoint)
	leaf := testpki.NewCA(t, "Trace Root").Issue(t, testpki.Options{CommonName: "client"})
	certFile, keyFile := filepath.Join(c.dir, "c.pem"), filepath.Join(c.dir, "c.key")
	os.WriteFile(certFile, leaf.CertPEM, 0o600)
	os.WriteFile(keyFile, leaf.KeyPEM, 0o600)
	// The variable, not the flag, turns the CLI's tracing on here.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	out, err := runBin(t, filepath.Join(c.bin, "certbind"), c.restURL, c.adminKey, "mtls-certificate", "create", "--cert", certFile, "--key", keyFile,
		"--name", "tracedCert", "--account", "acme", "--project", "shop", "--environment-type", "production")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	const createRPC = "certbind.certmgr.v1.CertificateService/CreateCertificate"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	find := func(spans []otlptest.Span, service, name, parent string) (otlptest.Span, bool) {
		for _, s := range spans {
			if s.Service == service && s.Name == name && (parent == "" || s.ParentSpanID == parent) {
				return s, true
			}
		}
		return otlptest.Span{}, false
	}
	var cli, store otlptest.Span
	recv.Wait(ctx, t, func(spans []otlptest.Span) bool {
		var ok bool
		var rest, client, server otlptest.Span
		if cli, ok = find(spans, "certbind-cli", "certbind mtls-certificate create", ""); !ok {
			return false
		}
		if rest, ok = find(spans, "restapi", "REST POST", cli.SpanID); !ok {
			return false
		}
		if client, ok = find(spans, "restapi", createRPC, rest.SpanID); !ok {
			return false
		}
		if server, ok = find(spans, "certmgr", createRPC, client.SpanID); !ok {
			return false
		}
		store, ok = find(spans, "certmgr", "store.CreateCertificate", server.SpanID)
		return ok
	})
	if store.TraceID != cli.TraceID {
		t.Errorf("the store span is in trace %s, the CLI's in %s", store.TraceID, cli.TraceID)
	}
}
