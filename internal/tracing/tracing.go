// Package tracing sets up the process's OpenTelemetry traces: an OTLP exporter
// configured by the standard OTEL_EXPORTER_OTLP_* variables, head sampling of
// batches by ratio (a client's sampled W3C traceparent is followed), and the helpers
// the tiers share to carry a batch's trace context in its records' envelopes, so
// that one trace spans the gateway that received a batch and the transformer that
// indexed it. The exporter and the SDK are in tracing/provider, which only the
// command links; off, the gateway and the transformer make no span at all.
package tracing

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Config is the tracing section.
type Config struct {
	Enabled bool `yaml:"enabled" doc:"export traces over OTLP; endpoint, headers and protocol from the standard OTEL_EXPORTER_OTLP_* variables"`
	// SampleRatio is the share of batches traced that arrive without a sampled
	// traceparent; a client's sampled one is always followed.
	SampleRatio float64 `yaml:"sample_ratio" doc:"share of batches traced (0 to 1); a client's sampled traceparent is always followed"`
}

// DefaultConfig returns the defaults: off; when on, one batch in a hundred.
func DefaultConfig() Config { return Config{SampleRatio: 0.01} }

// Validate reports the problems of c.
func (c Config) Validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("sample_ratio: want 0 to 1, not %g", c.SampleRatio)
	}
	return nil
}

// Propagator reads and writes W3C trace context (traceparent, tracestate).
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Parent is the trace context a W3C traceparent names, for a span to continue; ok is
// false when traceparent is empty or malformed.
func Parent(traceparent string) (trace.SpanContext, bool) {
	if traceparent == "" {
		return trace.SpanContext{}, false
	}
	ctx := Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	sc := trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}

// TraceParent is the W3C traceparent of a span's context when it is sampled, else
// "": what the gateway writes into the envelopes of a traced batch.
func TraceParent(sc trace.SpanContext) string {
	if !sc.IsSampled() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	Propagator.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	return carrier["traceparent"]
}
