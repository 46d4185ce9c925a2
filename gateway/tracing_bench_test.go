package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/tracing"
	"github.com/sluice-siem/sluice/internal/tracing/provider"
	"github.com/sluice-siem/sluice/stream"
)

// discardProducer takes every record at once.
type discardProducer struct{}

func (discardProducer) Put(context.Context, string, []stream.Record) error { return nil }

// benchBatch returns n firewall events, as the Ingest benchmarks send them.
func benchBatch(n int) []gateway.Event {
	events := make([]gateway.Event, n)
	for i := range events {
		events[i] = gateway.Event{Type: "firewall", Doc: fmt.Appendf(nil, `{"message":"<134>Nov 26 07:00:00 fw01 kernel: DROP SRC=203.0.113.%d DST=198.51.100.7 PROTO=TCP SPT=%d DPT=443","host":{"name":"fw%02d"}}`, i%250, 1024+i, i%16)}
	}
	return events
}

// benchIngest runs Ingest of events, as one batch, with opts until the benchmark
// ends, and reports the time per event.
func benchIngest(b *testing.B, opts gateway.Options, events []gateway.Event) {
	cfg := gateway.DefaultConfig()
	cfg.Auth.Disabled = true
	g, err := gateway.New(cfg, discardProducer{}, opts)
	if err != nil {
		b.Fatal(err)
	}
	batch := gateway.Batch{Receiver: "bench", Events: events}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := g.Ingest(context.Background(), batch); err != nil || res.Accepted != len(events) {
			b.Fatalf("Ingest = %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}

// BenchmarkIngestTracing is Ingest of batches of 500 events with tracing off, with the
// SDK sampling 1% of batches (alone, and keeping the failed and slow others, which
// records every batch) and all of them (spans exported to a no-op exporter through
// the SDK's batcher, as in production): what tracing costs per event.
//
//	go test -run '^$' -bench IngestTracing -cpu 1 -count 3 ./gateway/
func BenchmarkIngestTracing(b *testing.B) {
	events := benchBatch(500)
	for _, v := range []struct {
		name  string
		ratio float64
		keep  bool
	}{{"off", -1, false}, {"sampled=1%", 0.01, false}, {"sampled=1%,keep-failed-and-slow", 0.01, true}, {"sampled=100%", 1, false}} {
		b.Run(v.name, func(b *testing.B) {
			var tracer trace.Tracer
			if v.ratio >= 0 {
				// As provider.Setup builds it, with a no-op exporter.
				cfg := tracing.Config{Enabled: true, SampleRatio: v.ratio}
				if v.keep {
					cfg.KeepErrors, cfg.KeepSlow = true, 5*time.Second
				}
				var spans sdktrace.SpanProcessor = sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter())
				if cfg.Keeps() {
					spans = provider.NewKeeper(spans, cfg)
				}
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(provider.Sampler(cfg)))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				tracer = tp.Tracer("bench")
			}
			benchIngest(b, gateway.Options{Tracer: tracer}, events)
		})
	}
}

// BenchmarkIngestTypeField is Ingest of batches of 500 events that name their log
// type in a field, as Filebeat's do (fields.log_type, gateway.routing's default type
// field): with their top-level members known, as the lumberjack receiver hands them
// over, and without, as the HTTP and gRPC receivers do. What finding the type costs
// per event.
//
//	go test -run '^$' -bench IngestTypeField -cpu 1 -count 3 ./gateway/
func BenchmarkIngestTypeField(b *testing.B) {
	for _, known := range []bool{true, false} {
		name := "top=unknown"
		if known {
			name = "top=known"
		}
		b.Run(name, func(b *testing.B) {
			events := benchBatch(500)
			sc := jsonx.NewScanner(jsonx.DefaultMaxDepth)
			for i := range events {
				ev := &events[i]
				ev.Type = ""
				ev.Doc = append(ev.Doc[:len(ev.Doc)-1], `,"input":{"type":"filestream"},"ecs":{"version":"8.0.0"},"fields":{"log_type":"firewall"}}`...)
				if !known {
					continue
				}
				if err := sc.Scan(ev.Doc, func(ks, ke, ve int) {
					ev.Top = append(ev.Top, jsonx.Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve})
				}); err != nil {
					b.Fatal(err)
				}
			}
			benchIngest(b, gateway.Options{}, events)
		})
	}
}
