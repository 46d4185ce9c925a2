package gateway_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/tracing"
	"github.com/sluice-siem/sluice/stream"
)

// TestIngestTraced: a batch that arrives with a client's sampled traceparent is
// ingested in a span of that trace, with a child span for the stream put, and each
// of its envelopes carries the ingest span's traceparent for the transformer; an
// unsampled one leaves the envelopes without.
func TestIngestTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	p := &producer{}
	cfg := gateway.DefaultConfig()
	cfg.Routing.DefaultStream = "default"
	g, err := gateway.New(cfg, p, gateway.Options{Tracer: tp.Tracer("test")})
	if err != nil {
		t.Fatal(err)
	}
	const client = "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01"
	parent, _ := tracing.Parent(client)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	b := gateway.Batch{Receiver: "http", Events: []gateway.Event{{Type: "firewall", Doc: []byte(`{"message":"a"}`)}, {Type: "firewall", Doc: []byte(`{"message":"b"}`)}}}
	if _, err := g.Ingest(ctx, b); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "sluice.stream.put" || spans[1].Name() != "sluice.gateway.ingest" {
		t.Fatalf("spans %v", spans)
	}
	ingest := spans[1]
	if ingest.SpanContext().TraceID() != parent.TraceID() || ingest.Parent().SpanID() != parent.SpanID() || spans[0].Parent().SpanID() != ingest.SpanContext().SpanID() {
		t.Fatalf("ingest span not in the client's trace, or put not its child")
	}
	want := tracing.TraceParent(ingest.SpanContext())
	for _, r := range p.puts["default"] {
		if got := stream.TraceParent(r.Data); got != want {
			t.Fatalf("envelope trace %q, want the ingest span's %q", got, want)
		}
	}

	// Not sampled (no client trace, and the sampler says never): no trace member.
	p.puts = nil
	if _, err := g.Ingest(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for _, r := range p.puts["default"] {
		if got := stream.TraceParent(r.Data); got != "" {
			t.Fatalf("an untraced batch's envelope carries %q", got)
		}
	}
}
