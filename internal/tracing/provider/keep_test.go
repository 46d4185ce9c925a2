package provider

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-siem/sluice/internal/tracing"
)

// keeperProvider is an SDK tracer provider sampling nothing by ratio, with the keeper
// of cfg in front of an in-memory exporter (synchronous, so that what OnEnd sends is
// exported when End returns).
func keeperProvider(t *testing.T, cfg tracing.Config) (*sdktrace.TracerProvider, *Keeper, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	k := NewKeeper(sdktrace.NewSimpleSpanProcessor(exp), cfg)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(k), sdktrace.WithSampler(Sampler(cfg)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, k, exp
}

// batch starts a root span and a child at start, ends the child after childDur (with
// an error when failed) and the root after rootDur.
func batch(tr trace.Tracer, parent context.Context, start time.Time, childDur, rootDur time.Duration, failed bool) trace.SpanContext {
	ctx, root := tr.Start(parent, "batch", trace.WithTimestamp(start))
	_, child := tr.Start(ctx, "write", trace.WithTimestamp(start))
	if failed {
		child.SetStatus(codes.Error, "bulk request failed")
	}
	child.End(trace.WithTimestamp(start.Add(childDur)))
	root.End(trace.WithTimestamp(start.Add(rootDur)))
	return root.SpanContext()
}

// TestKeeperKeepsFailedAndSlowBatches: with nothing sampled by ratio, a batch whose
// child span failed is exported whole (both spans, marked sampled, the child still the
// root's child), a slow batch too, a quick successful one not at all; the counts say
// why each was kept.
func TestKeeperKeepsFailedAndSlowBatches(t *testing.T) {
	tp, k, exp := keeperProvider(t, tracing.Config{Enabled: true, KeepErrors: true, KeepSlow: time.Second})
	tr := tp.Tracer("test")
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

	batch(tr, context.Background(), at, time.Millisecond, 2*time.Millisecond, false)
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("a quick successful batch: %d spans exported, want none", n)
	}

	failed := batch(tr, context.Background(), at, time.Millisecond, 2*time.Millisecond, true)
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("a failed batch: %d spans exported, want its 2", len(spans))
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if s.SpanContext.TraceID() != failed.TraceID() || !s.SpanContext.IsSampled() {
			t.Errorf("%s: trace %s sampled %v, want the failed batch's trace, sampled", s.Name, s.SpanContext.TraceID(), s.SpanContext.IsSampled())
		}
		byName[s.Name] = s
	}
	if byName["write"].Parent.SpanID() != byName["batch"].SpanContext.SpanID() || byName["write"].Status.Code != codes.Error {
		t.Errorf("write span %+v: want the failed child of the batch span", byName["write"])
	}
	exp.Reset()

	slow := batch(tr, context.Background(), at, time.Millisecond, 1500*time.Millisecond, false)
	if spans := exp.GetSpans(); len(spans) != 2 || spans[0].SpanContext.TraceID() != slow.TraceID() {
		t.Fatalf("a slow batch: %d spans exported, want its 2", len(spans))
	}
	if st := k.Stats(); st.KeptErrors != 1 || st.KeptSlow != 1 || st.Dropped != 0 {
		t.Errorf("stats %+v, want one kept for its error, one for its time, none dropped", st)
	}
}

// TestKeeperSampledAndLateSpans: a sampled batch passes straight through; a span that
// ends after its root follows the root's decision; a root under a client's unsampled
// traceparent (a remote parent) decides its local trace.
func TestKeeperSampledAndLateSpans(t *testing.T) {
	tp, _, exp := keeperProvider(t, tracing.Config{Enabled: true, KeepErrors: true})
	tr := tp.Tracer("test")
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

	var traces byte
	remote := func(sampled bool) context.Context {
		traces++
		traceID := trace.TraceID{1, 2, 3, 15: traces} // each batch a trace of its own
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: traceID, SpanID: trace.SpanID{4, 5, 6}, Remote: true,
			TraceFlags: trace.TraceFlags(0).WithSampled(sampled),
		})
		return trace.ContextWithRemoteSpanContext(context.Background(), sc)
	}
	batch(tr, remote(true), at, time.Millisecond, time.Millisecond, false)
	if n := len(exp.GetSpans()); n != 2 {
		t.Fatalf("a batch under a sampled traceparent: %d spans, want 2", n)
	}
	exp.Reset()

	for _, failed := range []bool{true, false} {
		ctx, root := tr.Start(remote(false), "batch")
		_, late := tr.Start(ctx, "write")
		if failed {
			root.SetStatus(codes.Error, "pipeline failed")
		}
		root.End()
		late.End()
		want := 0
		if failed {
			want = 2
		}
		if n := len(exp.GetSpans()); n != want {
			t.Errorf("root failed %v, child ended after it: %d spans exported, want %d", failed, n, want)
		}
		exp.Reset()
	}
}

// TestKeeperBounds: local traces whose roots never end here are held up to the bound,
// the oldest forgotten first and counted, and a trace's spans past its own bound are
// dropped and counted; memory stays bounded whatever the spans do.
func TestKeeperBounds(t *testing.T) {
	tp, k, exp := keeperProvider(t, tracing.Config{Enabled: true, KeepErrors: true})
	k.maxTraces, k.maxSpans, k.maxDecision = 3, 4, 2
	tr := tp.Tracer("test")
	var roots []trace.Span
	for range 5 {
		ctx, root := tr.Start(context.Background(), "batch")
		_, child := tr.Start(ctx, "write")
		child.End()
		roots = append(roots, root)
	}
	if len(k.pending) != 3 {
		t.Errorf("%d traces held, want the bound, 3", len(k.pending))
	}
	if st := k.Stats(); st.Dropped != 2 {
		t.Errorf("dropped %d spans, want the 2 of the 2 oldest traces", st.Dropped)
	}

	ctx, root := tr.Start(context.Background(), "batch")
	for range 6 {
		_, child := tr.Start(ctx, "write")
		child.SetStatus(codes.Error, "failed")
		child.End()
	}
	root.End()
	if n := len(exp.GetSpans()); n != 5 {
		t.Errorf("a failed trace of 7 spans: %d exported, want the 4 held and its root", n)
	}
	if st := k.Stats(); st.Dropped != 2+1+2 {
		t.Errorf("dropped %d spans, want 5 (3 forgotten traces' spans, 2 of the failed trace past its bound)", st.Dropped)
	}
	for _, r := range roots {
		r.End()
	}
	if len(k.decided) > 2 || len(k.pending) > 3 {
		t.Errorf("%d decisions, %d traces held: past the bounds", len(k.decided), len(k.pending))
	}
}

// TestSamplerWithoutKeeping: keeping off, the head sampler drops what it does not
// sample (nothing is recorded, so nothing costs); on, it records it.
func TestSamplerWithoutKeeping(t *testing.T) {
	params := sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: trace.TraceID{9}, Name: "batch"}
	if d := Sampler(tracing.Config{SampleRatio: 0}).ShouldSample(params).Decision; d != sdktrace.Drop {
		t.Errorf("keeping off: decision %v, want Drop", d)
	}
	if d := Sampler(tracing.Config{SampleRatio: 0, KeepSlow: time.Second}).ShouldSample(params).Decision; d != sdktrace.RecordOnly {
		t.Errorf("keeping slow batches: decision %v, want RecordOnly", d)
	}
	if d := Sampler(tracing.Config{SampleRatio: 1, KeepErrors: true}).ShouldSample(params).Decision; d != sdktrace.RecordAndSample {
		t.Errorf("ratio 1: decision %v, want RecordAndSample", d)
	}
	if err := (tracing.Config{KeepSlow: -time.Second}).Validate(); err == nil || !errors.Is(err, err) {
		t.Error("a negative keep_slow is accepted")
	}
}

// TestKeeperMetrics: the keeper's counts are exported as counters, kept traces by
// reason.
func TestKeeperMetrics(t *testing.T) {
	tp, k, _ := keeperProvider(t, tracing.Config{Enabled: true, KeepErrors: true, KeepSlow: time.Second})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	if err := k.RegisterMetrics(mp.Meter("test")); err != nil {
		t.Fatal(err)
	}
	tr := tp.Tracer("test")
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	batch(tr, context.Background(), at, time.Millisecond, 2*time.Millisecond, true)
	batch(tr, context.Background(), at, time.Millisecond, 2*time.Millisecond, true)
	batch(tr, context.Background(), at, time.Millisecond, 2*time.Second, false)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				reason, _ := dp.Attributes.Value("reason")
				got[m.Name+" "+reason.AsString()] = dp.Value
			}
		}
	}
	want := map[string]int64{"sluice_tracing_kept_traces_total error": 2, "sluice_tracing_kept_traces_total slow": 1, "sluice_tracing_dropped_spans_total ": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
