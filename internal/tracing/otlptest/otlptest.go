// Package otlptest is an OTLP/gRPC trace receiver for tests: a real gRPC
// server on loopback that keeps every span sent to it, so that a test can
// run certbind's parts with --otlp-endpoint and read back what they
// exported.
package otlptest

import (
	"context"
	"encoding/hex"
	"net"
	"strconv"
	"sync"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is a received span, flattened.
type Span struct {
	Service      string
	Name         string
	TraceID      string
	SpanID       string
	ParentSpanID string
	Kind         tracepb.Span_SpanKind
	Attributes   map[string]string
}

// Receiver collects the spans exported to it.
type Receiver struct {
	collectorpb.UnimplementedTraceServiceServer
	// Addr is where it listens (127.0.0.1:PORT), plaintext.
	Addr string

	mu    sync.Mutex
	spans []Span
	added chan struct{}
}

// Start runs a receiver until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Addr: lis.Addr().String(), added: make(chan struct{}, 1)}
	srv := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(srv, r)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return r
}

// Export keeps the spans of one request.
func (r *Receiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range s.GetAttributes() {
					attrs[kv.GetKey()] = anyString(kv.GetValue())
				}
				r.spans = append(r.spans, Span{
					Service: service, Name: s.GetName(), Kind: s.GetKind(), Attributes: attrs,
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
				})
			}
		}
	}
	r.mu.Unlock()
	select {
	case r.added <- struct{}{}:
	default:
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func anyString(v interface {
	GetStringValue() string
	GetIntValue() int64
	GetBoolValue() bool
}) string {
	if s := v.GetStringValue(); s != "" {
		return s
	}
	if i := v.GetIntValue(); i != 0 {
		return strconv.FormatInt(i, 10)
	}
	if v.GetBoolValue() {
		return "true"
	}
	return ""
}

// Spans returns what was received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Wait returns the spans once done says they are all there, or fails the
// test when ctx ends first.
func (r *Receiver) Wait(ctx context.Context, t testing.TB, done func([]Span) bool) []Span {
	t.Helper()
	for {
		spans := r.Spans()
		if done(spans) {
			return spans
		}
		select {
		case <-r.added:
		case <-ctx.Done():
			t.Fatalf("the spans awaited did not arrive; received %d: %+v", len(spans), spans)
		}
	}
}
