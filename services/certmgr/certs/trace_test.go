package certs

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Each certificate write is one store span under the request's span,
// carrying ids and never the material.
func TestStoreSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	st, err := store.Open(filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	m := New(Config{Store: st, Sealer: s, Tracer: tp})

	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "traced"})
	c, err := m.Create(ctx, "test", CreateInput{Account: "acme", Project: "shop", Name: "traced", EnvironmentTypes: []string{"production"},
		Material: material.Input{CertificatePEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Disable(ctx, "test", "acme", "shop", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Disable(ctx, "test", "acme", "shop", NewID()); err == nil {
		t.Fatal("disable of a missing certificate succeeded")
	}
	parent.End()

	spans := rec.Ended()
	var names []string
	for _, sp := range spans {
		if sp.Name() == "request" {
			continue
		}
		names = append(names, sp.Name())
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() || sp.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %s is not a child of the request's span", sp.Name())
		}
		attrs := map[string]string{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
			if v := kv.Value.String(); strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, "CERTIFICATE") {
				t.Errorf("span %s attribute %s carries material", sp.Name(), kv.Key)
			}
		}
		if attrs["certbind.account"] != "acme" || attrs["certbind.project"] != "shop" {
			t.Errorf("span %s attributes %v", sp.Name(), attrs)
		}
	}
	want := []string{"store.CreateCertificate", "store.UpdateCertificate", "store.UpdateCertificate"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("store spans %v, want %v", names, want)
	}
	create, failed := spans[0], spans[2]
	got := map[string]string{}
	for _, kv := range create.Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	if got["certbind.certificate.id"] != c.ID || got["certbind.certificate.name"] != "traced" || got["certbind.change"] == "" || got["certbind.revision"] == "" {
		t.Errorf("create span attributes %v", got)
	}
	if failed.Status().Code.String() != "Error" {
		t.Errorf("the failed update's span has status %v", failed.Status())
	}
}
