package transform_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sluice-siem/sluice/internal/tracing"
	"github.com/sluice-siem/sluice/internal/tracing/provider"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform"
)

// TestBatchSpanJoinsTheGatewayTrace: a batch whose records carry the gateway's
// traceparent is transformed in a span of that trace, linked to the other traces
// among its records, with child spans for the pipelines and the sink's write.
func TestBatchSpanJoinsTheGatewayTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	tr, err := transform.New(&recordingSink{}, transform.Options{Tracer: tp.Tracer("test")})
	if err != nil {
		t.Fatal(err)
	}
	const a = "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01"
	const b = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	recs := []stream.Delivered{
		{Record: stream.Record{Data: stream.AppendEnvelope(nil, "firewall", "", at, []byte(`{"message":"untraced"}`))}},
		{Record: stream.Record{Data: stream.AppendEnvelopeTraced(nil, nil, "firewall", "", at, []byte(`{"message":"a"}`), a)}},
		{Record: stream.Record{Data: stream.AppendEnvelopeTraced(nil, nil, "firewall", "", at, []byte(`{"message":"b"}`), b)}},
		{Record: stream.Record{Data: stream.AppendEnvelopeTraced(nil, nil, "firewall", "", at, []byte(`{"message":"a2"}`), a)}},
		{Record: stream.Record{Data: []byte("not an envelope")}},
	}
	for i := range recs {
		recs[i].Stream, recs[i].Shard, recs[i].Sequence = "s", "shardId-0", "1"
	}
	if err := tr.Handle(context.Background(), stream.Batch{Stream: "s", Shard: "shardId-0", Records: recs}); err != nil {
		t.Fatal(err)
	}
	names := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		names[s.Name()] = s
	}
	batch := names["sluice.transform.batch"]
	pa, _ := tracing.Parent(a)
	pb, _ := tracing.Parent(b)
	if batch == nil || batch.SpanContext().TraceID() != pa.TraceID() || batch.Parent().SpanID() != pa.SpanID() {
		t.Fatalf("batch span %v: not the child of the first traced record's span", batch)
	}
	if l := batch.Links(); len(l) != 1 || l[0].SpanContext.TraceID() != pb.TraceID() {
		t.Fatalf("links %v, want the other trace once", l)
	}
	if ev := names["sluice.transform.pipelines"].Events(); len(ev) != 1 || ev[0].Name != "dead_letter" {
		t.Errorf("pipelines span events %v, want the dead letter", ev)
	}
	for _, child := range []string{"sluice.transform.pipelines", "sluice.sink.write"} {
		if s := names[child]; s == nil || s.Parent().SpanID() != batch.SpanContext().SpanID() {
			t.Errorf("%s: missing, or not a child of the batch span", child)
		}
	}

	// No traced record: the tracer's sampler decides (never here): nothing recorded.
	rec2 := tracetest.NewSpanRecorder()
	tp.RegisterSpanProcessor(rec2)
	if err := tr.Handle(context.Background(), stream.Batch{Stream: "s", Shard: "shardId-0", Records: recs[:1]}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec2.Ended()); n != 0 {
		t.Errorf("%d spans recorded for an untraced batch", n)
	}
}

// BenchmarkHandleTracing is Handle of batches of 500 firewall events whose envelopes
// carry a sampled traceparent in 1% of the batches, with tracing off, with the SDK on
// (spans to a no-op exporter through its batcher), and with the SDK on and the
// failed and slow batches kept (every other batch recorded, then let go by the
// keeper): what tracing costs per event.
//
//	go test -run '^$' -bench HandleTracing -cpu 1 -count 3 ./transform/
func BenchmarkHandleTracing(b *testing.B) {
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	const size = 500
	untraced, traced := make([]stream.Delivered, size), make([]stream.Delivered, size)
	for i := range size {
		ev := []byte(fmt.Sprintf(`{"message":"DROP SRC=203.0.113.%d DST=10.1.2.3 PROTO=TCP SPT=%d DPT=22","host":{"name":"fw01"}}`, i%250, 1024+i))
		untraced[i] = stream.Delivered{Record: stream.Record{Data: stream.AppendEnvelope(nil, "firewall", "", at, ev)}, Stream: "s", Shard: "sh", Sequence: fmt.Sprint(i)}
		traced[i] = stream.Delivered{Record: stream.Record{Data: stream.AppendEnvelopeTraced(nil, nil, "firewall", "", at, ev, "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01")}, Stream: "s", Shard: "sh", Sequence: fmt.Sprint(i)}
	}
	for _, mode := range []string{"off", "on,1%-traced-batches", "on,1%-traced-batches,keep-failed-and-slow"} {
		b.Run(mode, func(b *testing.B) {
			var opts transform.Options
			if mode != "off" {
				cfg := tracing.Config{Enabled: true}
				if strings.HasSuffix(mode, "keep-failed-and-slow") {
					cfg.KeepErrors, cfg.KeepSlow = true, 5*time.Second
				}
				// As provider.Setup builds it, with a no-op exporter.
				var spans sdktrace.SpanProcessor = sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter())
				if cfg.Keeps() {
					spans = provider.NewKeeper(spans, cfg)
				}
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(provider.Sampler(cfg)))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				opts.Tracer = tp.Tracer("bench")
			}
			tr, err := transform.New(discardSink{}, opts)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for b.Loop() {
				recs := untraced
				if n%100 == 0 {
					recs = traced
				}
				n++
				if err := tr.Handle(context.Background(), stream.Batch{Stream: "s", Shard: "sh", Records: recs}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
		})
	}
}
