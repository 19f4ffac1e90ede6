package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/certbind/certbind/internal/tracing"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

// clientTrace is a trace context a client makes up.
const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent  = "00-" + clientTraceID + "-00f067aa0ba902b7-01"
)

// With tracing off the edge takes no part: a client's trace context
// reaches the backend as it was sent, like any end-to-end field.
func TestTracingOffPassesTraceContextOn(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	e := newEdge(t, certPool(p.root))
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)

	got := e.do(t, http.MethodGet, e.url("/x"), http.Header{"Traceparent": {clientParent}, "Tracestate": {"vendor=1"}}).echo(t)
	if v := got.Header["Traceparent"]; len(v) != 1 || v[0] != clientParent {
		t.Errorf("backend got Traceparent %q, want the client's %q", v, clientParent)
	}
	if v := got.Header["Tracestate"]; len(v) != 1 || v[0] != "vendor=1" {
		t.Errorf("backend got Tracestate %q", v)
	}
}

// With tracing on, each forwarded request is the root of a new trace: the
// client's trace context, in any spelling, is dropped and the backend
// receives the edge span's traceparent.
func TestTracedRequestStartsItsOwnTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	e := newEdge(t, certPool(p.root), func(c *proxy.Config) { c.Tracer = tracing.New(tp).Edge() })
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)

	got := e.do(t, http.MethodGet, e.url("/x"), http.Header{
		"Traceparent": {clientParent}, "Tracestate": {"vendor=1"},
		"traceparent": {clientParent}, "TRACESTATE": {"other=2"},
	}).echo(t)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	span := spans[0]
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	var sent []string
	for name, values := range got.Header {
		switch strings.ToLower(name) {
		case "traceparent":
			sent = append(sent, values...)
		case "tracestate":
			t.Errorf("the client's %s %q reached the backend", name, values)
		}
	}
	if len(sent) != 1 || sent[0] != want {
		t.Fatalf("backend got traceparent %q, want the edge span's %q", sent, want)
	}
	if span.SpanContext().TraceID().String() == clientTraceID || span.Parent().IsValid() {
		t.Errorf("the edge's span continued the client's trace (parent %v)", span.Parent())
	}
	attrs := map[string]string{}
	for _, kv := range span.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["certbind.account"] != "acme" || attrs["http.route"] != "/*" || attrs["http.response.status_code"] != "200" || attrs["certbind.backend"] != be.URL {
		t.Errorf("span attributes %v", attrs)
	}
}

// BenchmarkTracing compares BenchmarkProxySmall's request with tracing off
// and on (spans recorded and dropped, no exporter): what tracing costs a
// request. Off, the request path is the untraced one.
func BenchmarkTracing(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			p := newPKI(b)
			be := newBackend(b, p.root, p.root, func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
			var opts []edgeOption
			if on {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
				opts = append(opts, func(c *proxy.Config) { c.Tracer = tracing.New(tp).Edge() })
			}
			e := newEdge(b, certPool(p.root), opts...)
			cert := p.clientCert(b, "crt_1", "myBackendCert", "client", 1)
			e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)
			url := e.url("/data")
			b.ResetTimer()
			for b.Loop() {
				resp, err := e.client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
