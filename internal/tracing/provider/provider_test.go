package provider

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sluice-siem/sluice/internal/tracing"
)

// TestSetup: off gives the no-op tracer (which the gateway and the transformer skip);
// on builds an SDK provider without connecting (the exporter dials lazily), and a
// protocol sluice does not export is refused.
func TestSetup(t *testing.T) {
	ctx := context.Background()
	off, err := Setup(ctx, tracing.Config{}, "sluice-test", "v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := off.Tracer("x").(noop.Tracer); !ok {
		t.Errorf("tracing off: tracer %T, want the no-op one", off.Tracer("x"))
	}
	if err := off.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	on, err := Setup(ctx, tracing.Config{Enabled: true, SampleRatio: 1}, "sluice-test", "v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := on.Tracer("x").(noop.Tracer); ok {
		t.Error("tracing on: the no-op tracer")
	}
	_ = on.Shutdown(ctx) // nothing listens: the flush may fail, that is all
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if _, err := Setup(ctx, tracing.Config{Enabled: true}, "sluice-test", "v0", nil); err == nil {
		t.Error("protocol http/json: no error")
	}
}
