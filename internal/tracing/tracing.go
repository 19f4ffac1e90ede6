// Package tracing is certbind's OpenTelemetry tracing: off unless an OTLP
// endpoint is given, and then one span per REST request, gRPC call, store
// transaction and forwarded edge request, carried between the parts in the
// W3C traceparent header (gRPC metadata of the same name).
//
//	var f tracing.Flags
//	f.AddFlags(fs)
//	tr, err := tracing.Start(ctx, f, "certmgr")
//	defer tr.Shutdown(context.Background())
//	srv := grpc.NewServer(tr.ServerOptions()...)
//
// A nil *Tracing, like one made from Flags without an endpoint, is tracing
// off: its options are empty and its tracer records nothing.
//
// Spans carry ids only (account, project, certificate or deployment id and
// name, route, backend origin): never key material, an API key, a header
// value or a body.
package tracing

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
)

// Tracing is one process's tracer provider and the options that use it.
type Tracing struct {
	provider trace.TracerProvider
	// shutdown flushes and stops the exporter; nil when New was given a
	// provider the caller owns.
	shutdown func(context.Context) error
}

// propagator is the only context format certbind reads and writes: W3C
// trace context. Baggage is not propagated: it would carry whatever a
// client put in it to every part.
var propagator = propagation.TraceContext{}

// New returns tracing that records into provider, which the caller shuts
// down (tests pass an SDK provider with an in-memory exporter). A nil
// provider is tracing off.
func New(provider trace.TracerProvider) *Tracing {
	if provider == nil {
		return nil
	}
	return &Tracing{provider: provider}
}

// Enabled reports whether t records spans.
func (t *Tracing) Enabled() bool { return t != nil }

// TracerProvider returns t's provider, or a no-op one when tracing is off.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Tracer returns the tracer named name (a package path).
func (t *Tracing) Tracer(name string) trace.Tracer { return t.TracerProvider().Tracer(name) }

// Shutdown sends the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

func (t *Tracing) grpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{otelgrpc.WithTracerProvider(t.provider), otelgrpc.WithPropagators(propagator)}
}

// ServerOptions make a gRPC server continue the caller's trace and record
// a span per call; none when tracing is off.
func (t *Tracing) ServerOptions() []grpc.ServerOption {
	if t == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(t.grpcOptions()...))}
}

// DialOptions make a gRPC client record a span per call and send its
// context in the call's metadata; none when tracing is off.
func (t *Tracing) DialOptions() []grpc.DialOption {
	if t == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(t.grpcOptions()...))}
}

// Inject writes ctx's span context into h as a traceparent header (the CLI
// does so on its requests to the REST facade). It writes nothing when
// tracing is off or ctx has no span.
func (t *Tracing) Inject(ctx context.Context, h http.Header) {
	if t == nil {
		return
	}
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// Traceparent returns the traceparent header value of span's context.
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

var _ trace.TracerProvider = (*sdktrace.TracerProvider)(nil)

// stopTimeout bounds how long Stop waits to send the last spans.
const stopTimeout = 5 * time.Second

// Stop sends the spans still buffered, waiting at most 5 seconds, and
// stops the exporter: what a process does last.
func (t *Tracing) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	t.Shutdown(ctx)
}
