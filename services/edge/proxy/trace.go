package proxy

import (
	"context"
	"net/http"

	"github.com/certbind/certbind/services/edge/state"
)

// Tracer traces the requests the edge forwards (Config.Tracer).
//
// The edge never continues a client's trace context: a traceparent is
// whatever the client chose to send, and continuing it would let anyone
// on the internet put the edge's spans (which name an account, its
// deployment and its backend) under a trace id of their choosing, or in
// another tenant's trace. So with tracing on, each forwarded request is
// the root of a new trace; the client's traceparent and tracestate are
// dropped, in any spelling, and the backend receives the edge's own
// traceparent, so the backend's spans continue the edge's trace.
//
// With tracing off (no Tracer) the edge takes no part in tracing and
// passes both fields on as it does any end-to-end field: what the client
// sent reaches only the backend of the route the client asked for, which
// belongs to the route's account.
type Tracer interface {
	// Start begins the span of one request forwarded to backend (its
	// origin, scheme://host:port) for route of a deployment of account.
	// It returns the traceparent to send the backend and the function
	// that ends the span with the status the client was answered.
	Start(ctx context.Context, account, deployment, route, method, backend string) (traceparent string, end func(status int))
}

// traceFields are the trace context fields of a client's request, which a
// traced edge replaces with its own.
var traceFields = newFieldSet(false, []string{"traceparent", "tracestate"})

// trace starts the span of o, drops the client's trace context from it and
// adds the edge's traceparent. It returns the function ending the span.
func (h *Handler) trace(o *outgoing, r *http.Request, d *state.Deployment, route *state.Route, backend string) func(int) {
	traceparent, end := h.tracer.Start(r.Context(), d.Account, d.ID, route.Path, r.Method, backend)
	drop := o.drop
	o.drop = func(name string) bool { return traceFields.has(name) || drop(name) }
	if traceparent != "" {
		o.extra = append(o.extra, field{"Traceparent", traceparent})
	}
	return end
}
