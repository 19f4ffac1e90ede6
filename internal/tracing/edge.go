package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Edge traces the requests an edge forwards to backends: each is the root
// of a new trace (the edge never continues a client's context; see
// services/edge/proxy/trace.go), and the backend is sent the traceparent
// of the edge's span.
type Edge struct {
	tracer trace.Tracer
}

// Edge returns the edge's request tracer, or nil when tracing is off.
func (t *Tracing) Edge() *Edge {
	if t == nil {
		return nil
	}
	return &Edge{tracer: t.Tracer("github.com/certbind/certbind/services/edge/proxy")}
}

// Start begins the span of one forwarded request.
func (e *Edge) Start(ctx context.Context, account, deployment, route, method, backend string) (string, func(int)) {
	ctx, span := e.tracer.Start(ctx, "edge "+method+" "+route, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("certbind.account", account),
			attribute.String("certbind.deployment.id", deployment),
			attribute.String("http.route", route),
			attribute.String("http.request.method", method),
			attribute.String("certbind.backend", backend),
		))
	return Traceparent(ctx), func(status int) {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}
}
