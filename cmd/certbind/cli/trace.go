package cli

import (
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/certbind/certbind/internal/tracing"
)

// traceCommands makes every command that calls the API (not dev, version
// or config, which have their own or none) run in a span of its own when
// --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on: the
// span is named by the command ("certbind mtls-certificate create"), and
// its traceparent goes with every request the command sends, so the REST
// facade, the gRPC services and the store continue the same trace.
func traceCommands(cmd *cobra.Command, g *GlobalOptions) {
	for _, sub := range cmd.Commands() {
		traceCommands(sub, g)
	}
	if cmd.RunE == nil || cmd.HasSubCommands() || cmd.Annotations[offlineAnnotation] == "true" {
		return
	}
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) (err error) {
		tr, err := tracing.Start(c.Context(), g.Trace, "certbind-cli")
		if err != nil {
			return usageError(err)
		}
		if tr == nil {
			return run(c, args)
		}
		g.tracing = tr
		// Last, the span is handed to the collector (at most 5 s).
		defer func() {
			tr.Stop()
			g.tracing = nil
		}()
		ctx, span := tr.Tracer("github.com/certbind/certbind/cmd/certbind/cli").Start(c.Context(), c.CommandPath(), trace.WithSpanKind(trace.SpanKindClient))
		defer func() {
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}()
		c.SetContext(ctx)
		return run(c, args)
	}
}
