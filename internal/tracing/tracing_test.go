package tracing

import (
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestTraceParentRoundTrip(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc, ok := Parent(tp)
	if !ok || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" || !sc.IsSampled() {
		t.Fatalf("Parent(%q) = %v %v", tp, sc, ok)
	}
	if got := TraceParent(sc); got != tp {
		t.Fatalf("TraceParent = %q, want %q", got, tp)
	}
	unsampled := sc.WithTraceFlags(0)
	if got := TraceParent(unsampled); got != "" {
		t.Errorf("an unsampled context gave %q", got)
	}
	for _, bad := range []string{"", "00-zz-00f067aa0ba902b7-01", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if _, ok := Parent(bad); ok {
			t.Errorf("Parent(%q) accepted", bad)
		}
	}
	if got := TraceParent(trace.SpanContext{}); got != "" {
		t.Errorf("an empty context gave %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for ratio, ok := range map[float64]bool{0: true, 0.01: true, 1: true, -0.1: false, 1.5: false} {
		if err := (Config{SampleRatio: ratio}).Validate(); (err == nil) != ok {
			t.Errorf("sample_ratio %g: %v", ratio, err)
		}
	}
}
