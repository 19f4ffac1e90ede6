package certs

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/certbind/certbind/services/certmgr/store"
)

// tracerName names the spans of certificate store transactions.
const tracerName = "github.com/certbind/certbind/services/certmgr/certs"

// storeSpan starts the span of one store transaction, op, as a child of
// the request's span in ctx. Its attributes are ids, never material: the
// certificate's account, project and id (and, at its end, the change and
// revision it made).
func (m *Manager) storeSpan(ctx context.Context, op, account, project, id string) trace.Span {
	if ctx == nil {
		ctx = context.Background()
	}
	_, span := m.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
		attribute.String("certbind.account", account),
		attribute.String("certbind.project", project),
		attribute.String("certbind.certificate.id", id),
	))
	return span
}

// endSpan ends a store transaction's span with what it did: the change's
// type, revision and the certificate's name, or the error.
func endSpan(span trace.Span, ch store.Change, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else if ch.Revision != 0 {
		span.SetAttributes(attribute.String("certbind.change", ch.Type), attribute.Int64("certbind.revision", int64(ch.Revision)))
		if c := ch.After; c != nil {
			span.SetAttributes(attribute.String("certbind.certificate.name", c.Name))
		}
	}
	span.End()
}
