package provider

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-siem/sluice/internal/tracing"
)

// This file keeps the traces head sampling let go when they turn out to matter: a
// batch that failed or was slow. Head sampling decides when a batch's first span
// starts, before anyone knows how the batch will go; so when keeping is on, the
// batches head sampling drops are still recorded (RecordOnly: their spans are built,
// which costs a few microseconds per batch, not per event, and are not sent), and
// the keeper holds each such local trace's spans until its local root (the batch's
// first span in this process) ends. It then sends the whole local trace, marked
// sampled, when one of its spans ended with an error status or the root took
// keep_slow or longer, and forgets it otherwise.
//
// Local traces are told apart by trace ID: batches that share one (a client sending
// many requests under one unsampled traceparent) are decided together, the first
// root to end deciding for the spans held and the next few seconds' spans.
//
// What is kept is this process's part of the trace: a gateway does not know, when
// it writes a batch's records, that the transformer will find the batch slow, so an
// unsampled batch carries no trace context across the stream, and the two tiers keep
// their parts of a failed batch as two traces. The bounds (traces held, spans per
// trace, decisions remembered for spans that end after their root) hold memory to a
// few megabytes whatever the load; what they drop is counted (KeeperStats).

// Keeper bounds.
const (
	// keepMaxTraces is how many undecided local traces are held at once; past it the
	// oldest is forgotten (its spans dropped).
	keepMaxTraces = 4096
	// keepMaxSpans is how many spans one held trace keeps; later ones are dropped.
	keepMaxSpans = 256
	// keepDecisions is how many decisions are remembered, for spans that end after
	// their root (a write that outlives its batch span).
	keepDecisions = 4096
)

// Sampler is the head sampler of cfg: a client's or an upstream tier's sampled trace
// context is followed, other batches are sampled at cfg.SampleRatio; when keeping is
// on (cfg.Keeps), the batches not sampled are recorded for the keeper rather than
// dropped.
func Sampler(cfg tracing.Config) sdktrace.Sampler {
	head := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))
	if !cfg.Keeps() {
		return head
	}
	return recordAll{head}
}

// recordAll records what its head sampler drops.
type recordAll struct{ head sdktrace.Sampler }

func (r recordAll) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	res := r.head.ShouldSample(p)
	if res.Decision == sdktrace.Drop {
		res.Decision = sdktrace.RecordOnly
	}
	return res
}

func (r recordAll) Description() string {
	return "RecordUnsampled{" + r.head.Description() + "}"
}

// Keeper is the span processor in front of next (the exporter's batcher) that sends
// the sampled spans on and keeps the unsampled local traces that failed or were slow
// (see the file comment). Make one with NewKeeper.
type Keeper struct {
	next        sdktrace.SpanProcessor
	keepErrors  bool
	slow        time.Duration
	maxTraces   int
	maxSpans    int
	maxDecision int

	mu      sync.Mutex
	pending map[trace.TraceID]*heldTrace
	decided map[trace.TraceID]bool
	order   []trace.TraceID // decided's keys, oldest first (a ring from head)
	head    int

	keptErrors, keptSlow, dropped atomic.Int64
}

// heldTrace is an undecided local trace.
type heldTrace struct {
	first  time.Time // when its first span ended, to forget the oldest
	spans  []sdktrace.ReadOnlySpan
	failed bool
}

// NewKeeper returns the keeper of cfg in front of next.
func NewKeeper(next sdktrace.SpanProcessor, cfg tracing.Config) *Keeper {
	return &Keeper{
		next: next, keepErrors: cfg.KeepErrors, slow: cfg.KeepSlow,
		maxTraces: keepMaxTraces, maxSpans: keepMaxSpans, maxDecision: keepDecisions,
		pending: map[trace.TraceID]*heldTrace{}, decided: map[trace.TraceID]bool{},
	}
}

// KeeperStats counts what a Keeper did.
type KeeperStats struct {
	// KeptErrors and KeptSlow count the unsampled local traces sent because a span
	// failed, or because the root was slow (and none failed).
	KeptErrors, KeptSlow int64
	// Dropped counts the spans of unsampled traces dropped by the bounds before
	// their trace was decided.
	Dropped int64
}

// Stats returns the counts so far.
func (k *Keeper) Stats() KeeperStats {
	return KeeperStats{KeptErrors: k.keptErrors.Load(), KeptSlow: k.keptSlow.Load(), Dropped: k.dropped.Load()}
}

// RegisterMetrics exports the keeper's counts with meter:
// sluice_tracing_kept_traces_total by reason (error, slow) and
// sluice_tracing_dropped_spans_total, so that an operator sees what was kept, and what
// the bounds lost.
func (k *Keeper) RegisterMetrics(meter metric.Meter) error {
	kept, err := meter.Int64ObservableCounter("sluice_tracing_kept_traces_total", metric.WithUnit("{trace}"),
		metric.WithDescription("Local traces head sampling did not take, exported whole because a span failed (reason error) or the batch was slow (reason slow)."))
	if err != nil {
		return fmt.Errorf("tracing metrics: %w", err)
	}
	dropped, err := meter.Int64ObservableCounter("sluice_tracing_dropped_spans_total", metric.WithUnit("{span}"),
		metric.WithDescription("Spans of undecided traces dropped by the keeper's bounds (4,096 traces, 256 spans each) before their trace was decided."))
	if err != nil {
		return fmt.Errorf("tracing metrics: %w", err)
	}
	errorAttr, slowAttr := metric.WithAttributes(attribute.String("reason", "error")), metric.WithAttributes(attribute.String("reason", "slow"))
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := k.Stats()
		o.ObserveInt64(kept, st.KeptErrors, errorAttr)
		o.ObserveInt64(kept, st.KeptSlow, slowAttr)
		o.ObserveInt64(dropped, st.Dropped)
		return nil
	}, kept, dropped)
	if err != nil {
		return fmt.Errorf("tracing metrics: %w", err)
	}
	return nil
}

// OnStart passes the start on.
func (k *Keeper) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) { k.next.OnStart(parent, s) }

// OnEnd sends a sampled span on, and holds or decides an unsampled one.
func (k *Keeper) OnEnd(s sdktrace.ReadOnlySpan) {
	sc := s.SpanContext()
	if sc.IsSampled() {
		k.next.OnEnd(s)
		return
	}
	for _, kept := range k.hold(s) {
		k.next.OnEnd(sampled{kept})
	}
}

// hold files s with its trace and returns the spans to send, if this decided their
// trace for keeping.
func (k *Keeper) hold(s sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	id := s.SpanContext().TraceID()
	failed := k.keepErrors && s.Status().Code == codes.Error
	root := !s.Parent().IsValid() || s.Parent().IsRemote()
	k.mu.Lock()
	defer k.mu.Unlock()
	if keep, ok := k.decided[id]; ok {
		// A span that ended after its root.
		if keep {
			return []sdktrace.ReadOnlySpan{s}
		}
		return nil
	}
	t := k.pending[id]
	if t == nil {
		if len(k.pending) >= k.maxTraces {
			k.forgetOldest()
		}
		t = &heldTrace{first: time.Now()}
		k.pending[id] = t
	}
	t.failed = t.failed || failed
	if len(t.spans) < k.maxSpans || root { // the root is kept past the bound
		t.spans = append(t.spans, s)
	} else {
		k.dropped.Add(1)
	}
	if !root {
		return nil
	}
	delete(k.pending, id)
	slow := k.slow > 0 && s.EndTime().Sub(s.StartTime()) >= k.slow
	keep := t.failed || slow
	k.remember(id, keep)
	switch {
	case t.failed:
		k.keptErrors.Add(1)
	case slow:
		k.keptSlow.Add(1)
	default:
		return nil
	}
	return t.spans
}

// forgetOldest drops the undecided trace held longest (its root never ended here, or
// not yet); called with mu held, when pending is full.
func (k *Keeper) forgetOldest() {
	var oldest trace.TraceID
	var at time.Time
	for id, t := range k.pending {
		if at.IsZero() || t.first.Before(at) {
			oldest, at = id, t.first
		}
	}
	k.dropped.Add(int64(len(k.pending[oldest].spans)))
	delete(k.pending, oldest)
}

// remember records a trace's decision, forgetting the oldest past maxDecision;
// called with mu held.
func (k *Keeper) remember(id trace.TraceID, keep bool) {
	if len(k.order) < k.maxDecision {
		k.order = append(k.order, id)
	} else {
		delete(k.decided, k.order[k.head])
		k.order[k.head] = id
		k.head = (k.head + 1) % len(k.order)
	}
	k.decided[id] = keep
}

// Shutdown shuts next down; held traces are dropped (their roots did not end).
func (k *Keeper) Shutdown(ctx context.Context) error { return k.next.Shutdown(ctx) }

// ForceFlush flushes next.
func (k *Keeper) ForceFlush(ctx context.Context) error { return k.next.ForceFlush(ctx) }

// sampled is a kept span shown as sampled, so that the batcher and the exporter, which
// send only sampled spans, send it.
type sampled struct{ sdktrace.ReadOnlySpan }

func (s sampled) SpanContext() trace.SpanContext {
	sc := s.ReadOnlySpan.SpanContext()
	return sc.WithTraceFlags(sc.TraceFlags().WithSampled(true))
}
