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
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Config is the tracing section.
type Config struct {
	Enabled bool `yaml:"enabled" doc:"export traces over OTLP; endpoint, headers and protocol from the standard OTEL_EXPORTER_OTLP_* variables"`
	// SampleRatio is the share of batches traced that arrive without a sampled
	// traceparent; a client's sampled one is always followed.
	SampleRatio float64 `yaml:"sample_ratio" doc:"share of batches traced (0 to 1); a client's sampled traceparent is always followed"`
	// KeepErrors and KeepSlow keep, besides the sampled batches, the batches whose
	// spans in this process ended with an error, or whose first span here took
	// KeepSlow or longer (0s: no slow batches kept). The batches not sampled are then
	// recorded until they end (a few microseconds a batch) and exported if kept.
	KeepErrors bool          `yaml:"keep_errors" doc:"also export the batches not sampled whose spans in this process ended in an error"`
	KeepSlow   time.Duration `yaml:"keep_slow" doc:"also export the batches not sampled whose first span in this process took this long or longer (0s: off)"`
}

// DefaultConfig returns the defaults: off; when on, one batch in a hundred, and
// every batch that failed or took 5 seconds or more.
func DefaultConfig() Config {
	return Config{SampleRatio: 0.01, KeepErrors: true, KeepSlow: 5 * time.Second}
}

// Keeps reports whether batches not sampled are kept when they fail or are slow.
func (c Config) Keeps() bool { return c.KeepErrors || c.KeepSlow > 0 }

// Validate reports the problems of c.
func (c Config) Validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("sample_ratio: want 0 to 1, not %g", c.SampleRatio)
	}
	if c.KeepSlow < 0 {
		return fmt.Errorf("keep_slow: want 0 (off) or more, not %s", c.KeepSlow)
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
