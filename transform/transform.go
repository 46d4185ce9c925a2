// Package transform is the transform step of the data path (step 5, between consume
// and index): it turns the records a stream consumer delivers into documents for a
// sink. Each record's envelope is decoded, its event gets the fields every document
// must have (@timestamp, event.dataset), and the batch is written to the sink with one
// call, whose success acknowledges the batch.
//
// Between decoding and finishing, the event runs through the pipeline of its log type
// (Options.Pipelines, built by transform/pipeline): parsers, enrichment, ECS fields. A
// pipeline never fails an event (failures are recorded in it); an event it drops is
// acknowledged with its batch and not written. Records that cannot be decoded are never
// dropped and never block their shard: they are written as dead letters of type
// DeadLetterType.
package transform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sluice-siem/sluice/internal/console"
	"github.com/sluice-siem/sluice/internal/instruments"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/tracing"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
	evt "github.com/sluice-siem/sluice/transform/event"
)

// DeadLetterType is the document type of records that could not be transformed. It
// starts with '_' so that no routed log type (see stream.ValidType) can collide with it;
// sinks accept it by name.
const DeadLetterType = "_dead_letter"

// Sink is where the transformer writes documents. Write must return nil only once every
// document is durably handed off, because the transformer's caller then acknowledges
// the batch; it must not keep docs after it returns.
type Sink interface {
	Write(ctx context.Context, docs []sink.Document) error
}

// Options holds the transformer's optional dependencies.
type Options struct {
	// Logger receives a warning per dead letter. Nil discards logs.
	Logger *slog.Logger
	// Meter creates the transformer's counters. Nil means a no-op meter.
	Meter metric.Meter
	// Now is the clock for dead letters' @timestamp and for events whose record carries
	// no time at all. Nil means time.Now.
	Now func() time.Time
	// Pipelines gives each log type's pipeline. Nil: every event passes through as
	// shipped.
	Pipelines Pipelines
	// MaxDepth bounds how deeply an event may nest (limits.max_depth): deeper records
	// become dead letters before any recursion over them. 0 means jsonx.DefaultMaxDepth.
	MaxDepth int
	// Tracer makes a span per batch, continuing the trace of the batch's first traced
	// record (the gateway's, from its envelope) and linking the others, with spans for
	// the pipelines and the sink's write. Nil: no tracing.
	Tracer trace.Tracer
	// Watch, when set, is told the events pipelines failed on and the records that
	// became dead letters, and shown the documents made and indexed (the console,
	// internal/console): asked once per batch whether anyone watches.
	Watch Watcher
}

// Watcher is the console as the transformer uses it (internal/console).
type Watcher interface {
	// Watching reports whether anyone watches the point: one atomic load.
	Watching(point string) bool
	// Sample offers a document; it copies what it keeps and never blocks. more false:
	// no one takes another document now (the rest of the batch is not offered).
	Sample(point, logType, source string, doc []byte) (more bool)
	// Failed records a failure; it keeps nothing of f's.
	Failed(f console.Failure)
}

// Transformer transforms batches of stream records and writes them to a Sink. It is
// safe for concurrent use, so one Transformer can serve every shard of a consumer.
type Transformer struct {
	sink      Sink
	log       *slog.Logger
	now       func() time.Time
	pipelines Pipelines
	maxDepth  int
	tracer    trace.Tracer // nil: tracing off, no span made
	watch     Watcher      // nil: no console
	// objects holds *evt.Objects: the recycled objects of events, one set per Handle
	// call, since a call transforms its records one at a time.
	objects sync.Pool

	events      metric.Int64Counter
	deadLetters metric.Int64Counter
	// The hops of a batch, for the whole chain's latency (see New).
	readDelay, deliveryDelay, pipelineTime, writeTime metric.Float64Histogram
}

// Bucket bounds, in seconds: delays since the gateway's acknowledgement (a stream
// backlog makes them minutes), and the times of one batch's steps.
var (
	delayBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	stepBuckets  = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// New returns a Transformer writing to s.
func New(s Sink, opts Options) (*Transformer, error) {
	if s == nil {
		return nil, errors.New("new transformer: sink is nil")
	}
	t := &Transformer{sink: s, log: opts.Logger, now: opts.Now, pipelines: opts.Pipelines, maxDepth: opts.MaxDepth, tracer: opts.Tracer, watch: opts.Watch}
	if _, noop := t.tracer.(tracenoop.Tracer); noop {
		t.tracer = nil // nothing to record: skip the spans altogether
	}
	if t.maxDepth <= 0 {
		t.maxDepth = jsonx.DefaultMaxDepth
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	in := instruments.New(opts.Meter, "github.com/sluice-siem/sluice/transform")
	t.events = in.Counter("sluice_transform_events_total", "{event}", "Events transformed and written to the sink, by log type (dead letters excluded).")
	t.deadLetters = in.Counter("sluice_transform_dead_letters_total", "{record}", "Records that could not be transformed and were written as dead letters.")
	// One observation per batch each, of the batch's oldest event for the delays:
	// the hops of the chain from the gateway's acknowledgement to the sink's.
	t.readDelay = in.Histogram("sluice_transform_read_delay_seconds", "s",
		"Per batch, how long its oldest event waited from the gateway's acceptance to the transformer's read: the gateway's linger and put, the stream, the consumer's polling.", delayBuckets...)
	t.pipelineTime = in.Histogram("sluice_transform_batch_pipelines_seconds", "s",
		"Per batch, the time to decode its records, run their pipelines and encode the documents.", stepBuckets...)
	t.writeTime = in.Histogram("sluice_transform_batch_write_seconds", "s",
		"Per batch, the time the sink took to acknowledge its documents (gathering them with others, the requests).", stepBuckets...)
	t.deliveryDelay = in.Histogram("sluice_transform_delivery_delay_seconds", "s",
		"Per batch, how long its oldest event took from the gateway's acceptance to the sink's acknowledgement (searchable after the engine's refresh).", delayBuckets...)
	if err := in.Err("transformer"); err != nil {
		return nil, err
	}
	return t, nil
}

// Handle transforms one batch and writes it to the sink with a single Write call, one
// document per record in record order (none for a record whose pipeline dropped its
// event). It is the handler given to a stream's Consume:
// returning nil acknowledges the batch, and the consumer may then checkpoint or forget
// it. A record that cannot be decoded becomes a dead letter rather than an error, so
// the only error is the sink's (wrapped), and the batch must then be delivered again.
// Handle does not keep b or its records' data after it returns. An empty batch, or one
// whose events were all dropped, is acknowledged without calling the sink. A record
// with NoEvent set (a CloudWatch Logs control message's position) makes no document.
func (t *Transformer) Handle(ctx context.Context, b stream.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	if t.tracer != nil {
		return t.tracedHandle(ctx, b)
	}
	return t.handle(ctx, b)
}

// tracedHandle is handle in the batch's span.
func (t *Transformer) tracedHandle(ctx context.Context, b stream.Batch) error {
	ctx, span := t.startBatch(ctx, b)
	defer span.End()
	err := t.handle(ctx, b)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// maxDeadLetterEvents bounds the dead_letter events of a batch's pipelines span (the
// count is an attribute).
const maxDeadLetterEvents = 10

// maxLinks bounds the links of a batch span to other traced records' traces.
const maxLinks = 32

// startBatch starts the batch's span: the child of its first traced record's span
// (the gateway's), linked to the other traces among its records. Untraced batches
// get the tracer's own sampling (a no-op span when tracing is off).
func (t *Transformer) startBatch(ctx context.Context, b stream.Batch) (context.Context, trace.Span) {
	var parent trace.SpanContext
	var links []trace.Link
	for i := range b.Records {
		sc, ok := tracing.Parent(stream.TraceParent(b.Records[i].Data))
		if !ok {
			continue
		}
		if !parent.IsValid() {
			parent = sc
		} else if sc.TraceID() != parent.TraceID() && len(links) < maxLinks && !slices.ContainsFunc(links, func(l trace.Link) bool { return l.SpanContext.TraceID() == sc.TraceID() }) {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return t.tracer.Start(ctx, "sluice.transform.batch", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("sluice.stream", b.Stream), attribute.String("sluice.shard", b.Shard), attribute.Int("sluice.records", len(b.Records))))
}

func (t *Transformer) handle(ctx context.Context, b stream.Batch) error {
	start := t.now()
	// oldest is when the batch's oldest event was accepted by the gateway (zero: no
	// event with a time decoded), for the delay histograms.
	var oldest time.Time
	size := 0
	for i := range b.Records {
		size += len(b.Records[i].Data)
	}
	enc := newEncoder(size)
	defer enc.release() // the sink and the console's tap keep nothing of the documents
	objs := t.getObjects()
	defer t.objects.Put(objs)
	pipelines := t.startSpan(ctx, "sluice.transform.pipelines")
	docs := make([]sink.Document, 0, len(b.Records))
	var dead int64
	for i := range b.Records {
		rec := &b.Records[i]
		if rec.NoEvent {
			continue
		}
		doc, keep, err := t.transform(ctx, rec, enc, objs, &oldest)
		if err == nil && !keep {
			continue // dropped by its pipeline
		}
		if err != nil {
			t.log.WarnContext(ctx, "record sent to dead letter",
				"stream", rec.Stream, "shard", rec.Shard, "sequence", rec.Sequence, "err", err)
			if pipelines != nil && dead < maxDeadLetterEvents {
				pipelines.AddEvent("dead_letter", trace.WithAttributes(attribute.String("sluice.sequence", rec.Sequence), attribute.String("error", err.Error())))
			}
			if t.watch != nil {
				t.watch.Failed(console.Failure{Type: doc.Type, Error: err.Error(), Event: string(rec.Data), DeadLetter: true})
			}
			doc, err = t.deadLetter(rec, doc.ID, err, enc)
			if err != nil {
				return err
			}
			dead++
		}
		docs = append(docs, doc)
	}
	if pipelines != nil {
		pipelines.SetAttributes(attribute.Int("sluice.documents", len(docs)), attribute.Int64("sluice.dead_letters", dead))
		pipelines.End()
	}
	transformed := t.now()
	t.pipelineTime.Record(ctx, transformed.Sub(start).Seconds())
	if !oldest.IsZero() {
		t.readDelay.Record(ctx, max(start.Sub(oldest), 0).Seconds())
	}
	if len(docs) == 0 {
		return nil
	}
	t.show(console.PointTransformed, docs)
	if err := t.write(ctx, docs); err != nil {
		return fmt.Errorf("write %d documents: %w", len(docs), err)
	}
	t.show(console.PointIndexed, docs)
	written := t.now()
	t.writeTime.Record(ctx, written.Sub(transformed).Seconds())
	if !oldest.IsZero() {
		t.deliveryDelay.Record(ctx, max(written.Sub(oldest), 0).Seconds())
	}
	t.count(ctx, docs, dead)
	return nil
}

// show offers the documents to the console's tap at point, if anyone watches it.
func (t *Transformer) show(point string, docs []sink.Document) {
	if t.watch == nil || !t.watch.Watching(point) {
		return
	}
	for i := range docs {
		if !t.watch.Sample(point, docs[i].Type, "", docs[i].Body) {
			return
		}
	}
}

// failed tells the console that the pipeline of rec's event failed on it, with the
// event as shipped (from the record's envelope).
func (t *Transformer) failed(rec *stream.Delivered, typ string, err error) {
	event := rec.Data
	if env, perr := stream.ParseEnvelopeDepth(rec.Data, t.maxDepth); perr == nil {
		event = env.Event
	}
	f := console.Failure{Type: typ, Error: err.Error(), Event: string(event)} // one copy, not the record's and then the event's
	var step interface{ Step() string }
	if errors.As(err, &step) {
		f.Processor = step.Step()
	}
	t.watch.Failed(f)
}

// startSpan starts a child span of ctx's when tracing is on; nil when off.
func (t *Transformer) startSpan(ctx context.Context, name string) trace.Span {
	if t.tracer == nil {
		return nil
	}
	_, span := t.tracer.Start(ctx, name)
	return span
}

// write writes documents to the sink, in a span of its own when tracing is on.
func (t *Transformer) write(ctx context.Context, docs []sink.Document) error {
	if t.tracer == nil {
		return t.sink.Write(ctx, docs)
	}
	ctx, span := t.tracer.Start(ctx, "sluice.sink.write", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.Int("sluice.documents", len(docs))))
	defer span.End()
	err := t.sink.Write(ctx, docs)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// getObjects returns a set of recycled event objects for one Handle call.
func (t *Transformer) getObjects() *evt.Objects {
	if objs, ok := t.objects.Get().(*evt.Objects); ok {
		return objs
	}
	return &evt.Objects{}
}

// transform makes the document of one record (keep=false: its pipeline dropped it),
// or reports why the record cannot be transformed, with the event's id in the
// otherwise empty document when the envelope could be read. The objects the pipeline takes
// from objs are released once the document is encoded (or the event is dropped or
// failed), so they serve the next record. oldest becomes the event's acceptance time
// when that is earlier (or oldest is zero).
func (t *Transformer) transform(ctx context.Context, rec *stream.Delivered, enc *encoder, objs *evt.Objects, oldest *time.Time) (doc sink.Document, keep bool, err error) {
	defer objs.Release()
	ev, err := decode(rec, t.now, objs, t.maxDepth)
	if err != nil {
		return sink.Document{}, false, err
	}
	if !ev.received.IsZero() && (oldest.IsZero() || ev.received.Before(*oldest)) {
		*oldest = ev.received
	}
	// The pipeline runs after decoding, so processors see the event as shipped, and
	// before finish, so the defaults only fill what the pipeline left unset.
	if keep, err := t.runPipeline(ctx, &ev, objs); err != nil || !keep {
		return sink.Document{ID: ev.id, Type: ev.typ}, keep, err
	}
	if ev.failure != nil && t.watch != nil {
		t.failed(rec, ev.typ, ev.failure)
	}
	ev.finish()
	body, err := enc.encodeFields(ev.fields)
	if err != nil {
		return sink.Document{ID: ev.id}, false, fmt.Errorf("encode event: %w", err)
	}
	pos := position(rec)
	id := ev.id
	if id == "" {
		id = pos // as documentID, the position made once
	}
	return sink.Document{Type: ev.typ, Time: ev.timestamp(), ID: id, Position: pos, Body: body, Original: rec.Data}, true, nil
}

// documentID is the id of the document made from rec, whose envelope holds id: the
// event's identity when the gateway gave it one (so that the event sent twice, at two
// stream positions, makes one document), else the record's position.
func documentID(rec *stream.Delivered, id string) string {
	if id != "" {
		return id
	}
	return position(rec)
}

// position names a record by its stream position, so that a replayed record makes the
// same document id: stream/shard/sequence, and /sub-sequence for a user record of an
// aggregated record.
func position(rec *stream.Delivered) string {
	p := rec.Stream + "/" + rec.Shard + "/" + rec.Sequence
	if rec.Aggregated {
		p += "/" + strconv.Itoa(rec.SubSequence)
	}
	return p
}

// count adds a written batch to the counters.
func (t *Transformer) count(ctx context.Context, docs []sink.Document, dead int64) {
	if dead > 0 {
		t.deadLetters.Add(ctx, dead)
	}
	// A batch is one shard of one stream, so it nearly always holds a single type.
	type typeCount struct {
		typ string
		n   int64
	}
	var counts []typeCount
next:
	for i := range docs {
		if docs[i].Type == DeadLetterType {
			continue
		}
		for j := range counts {
			if counts[j].typ == docs[i].Type {
				counts[j].n++
				continue next
			}
		}
		counts = append(counts, typeCount{typ: docs[i].Type, n: 1})
	}
	for _, c := range counts {
		t.events.Add(ctx, c.n, metric.WithAttributeSet(attribute.NewSet(attribute.String("type", t.typeLabel(c.typ)))))
	}
}

// typeLabel bounds the cardinality of the type attribute: log types without a pipeline,
// which senders can invent freely, share one label.
func (t *Transformer) typeLabel(typ string) string {
	if t.pipelines != nil && t.pipelines.Pipeline(typ) != nil {
		return typ
	}
	return "_other"
}
