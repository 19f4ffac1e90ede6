package deploy

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/certbind/certbind/services/deploytracker/store"
)

// tracerName names the spans of deployment store writes.
const tracerName = "github.com/certbind/certbind/services/deploytracker/deploy"

// storeSpan starts the span of one store write, op, as a child of the
// request's span in ctx, with ids only: account, project and environment
// (never the gateway config or its variables, which may hold secrets).
func (t *Tracker) storeSpan(ctx context.Context, op, account, project, environment string) trace.Span {
	attrs := []attribute.KeyValue{attribute.String("certbind.account", account), attribute.String("certbind.project", project)}
	if environment != "" {
		attrs = append(attrs, attribute.String("certbind.environment", environment))
	}
	_, span := t.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	return span
}

// endSpan ends a store write's span with the deployment id and revision it
// wrote, or its error.
func endSpan(span trace.Span, ch store.Change, err error) {
	if span.IsRecording() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		} else if ch.Revision != 0 {
			span.SetAttributes(attribute.String("certbind.deployment.id", ch.DeploymentID), attribute.Int64("certbind.revision", int64(ch.Revision)))
		}
	}
	span.End()
}
