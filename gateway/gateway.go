// Package gateway is the front tier's core, steps receive -> route -> produce of the data
// path: it takes batches of events from the receivers (gateway/httprecv,
// gateway/grpcrecv, gateway/lumberjack), checks them against the limits and API keys,
// routes each event by log type to its stream with a partition key, and hands the
// records to the stream. Ingest returns only when every accepted event is durable in its
// stream, so receivers acknowledge exactly what the stream holds.
//
// Receivers are thin: they decode their wire format into a Batch, call Ingest, and map
// the Result and the error Kind to their own status through one table each.
package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/sluice-siem/sluice/internal/chunks"
	"github.com/sluice-siem/sluice/internal/console"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/timefmt"
	"github.com/sluice-siem/sluice/internal/tracing"
	"github.com/sluice-siem/sluice/stream"
)

// Producer puts records into a stream. Put returns nil only when every record is
// durable in the stream; it must be safe for concurrent use, and must keep nothing of
// recs (their Data included) once it returns, whatever it returns: the gateway reuses
// the buffers. Errors wrapping stream.ErrFull mean backpressure, stream.ErrTooLarge a
// permanent size problem. The embedded streams (stream/embedded, its durable
// variant), the Kinesis producer and the discard stream implement it.
type Producer interface {
	Put(ctx context.Context, streamName string, recs []stream.Record) error
}

// Event is one event of a batch as a receiver decoded it.
type Event struct {
	// Type is the log type named by the request (URL, header, message field); empty
	// lets Ingest find it in the event's configured type fields.
	Type string
	// PartitionKey overrides the configured partition key when set.
	PartitionKey string
	// Doc is the event document, a JSON object. Ingest does not keep it after it returns.
	Doc []byte
	// ID is what the source says identifies the event, the same each time it sends the
	// event: a client's idempotency key (checked with CheckID), Beats' @metadata._id, or
	// the shipper's coordinates of the line it read. Ingest makes the event's identity
	// from it (see routing.id); nil when the source gives none. Ingest does not keep it.
	ID []byte
	// Err, when set, is why the receiver could not decode this event; Ingest reports
	// it as a rejection at the event's index (and counts it) instead of sending it.
	Err error
	// Top, when not nil, lists Doc's top-level members (offsets into Doc), every one
	// in order, as a receiver that validated Doc found them: the type and partition
	// key fields are looked up in the members they start with, and Ingest need not
	// walk Doc to list them itself (as it does when Top is nil). Ingest does not keep
	// it.
	Top []jsonx.Member
}

// Batch is what a receiver hands to Ingest.
type Batch struct {
	// Receiver names the transport ("http", "rest", "grpc", "lumberjack") for metrics.
	Receiver string
	// TypeHint says how a client of the transport names an event's log type, such as
	// "the event's type field"; the rejection of an event without a log type offers
	// it before the configured type fields. Empty offers the type fields alone.
	TypeHint string
	Events   []Event
}

// Rejection is an event that was not accepted.
type Rejection struct {
	Index  int
	Kind   Kind
	Reason string
}

// Result is the outcome of a batch whose accepted events are all durable.
type Result struct {
	Accepted   int
	Rejections []Rejection
}

// Options are the gateway's collaborators; nil fields get no-op defaults.
type Options struct {
	Logger *slog.Logger
	Meter  metric.Meter
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Tracer makes a span per batch (and per stream put) and the traceparent its
	// envelopes carry when sampled (internal/tracing). Nil: no tracing.
	Tracer trace.Tracer
	// Watch, when set, is shown the events accepted, as received (the console's tap,
	// internal/console): asked once per batch whether anyone watches.
	Watch Watcher
}

// Watcher is the console's tap as the gateway uses it (internal/console.Tap).
type Watcher interface {
	// Watching reports whether anyone watches the point: one atomic load.
	Watching(point string) bool
	// Sample offers an event; it copies what it keeps and never blocks. more false:
	// no one takes another event now (the rest of the batch is not offered).
	Sample(point, logType, source string, doc []byte) (more bool)
}

// Gateway is the front tier's core. It is safe for concurrent use.
type Gateway struct {
	cfg      Config
	producer Producer
	auth     *authenticator
	log      *slog.Logger
	now      func() time.Time
	inflight *semaphore.Weighted
	buffers  *semaphore.Weighted // limits.max_buffered_bytes
	metrics  metrics
	tracer   trace.Tracer // nil: tracing off, no span made
	watch    Watcher      // nil: no console tap
	types    *typeSet
	ids      idModes
	// typeFields and keyField are Routing.TypeFields and PartitionKeyField, prepared.
	typeFields []fieldPath
	keyField   *fieldPath

	inflightBytes atomic.Int64
	bufferedBytes atomic.Int64
	draining      atomic.Bool
	// scratch are the lists of batches being ingested (batchScratch), reused.
	scratch sync.Pool
}

// batchScratch is the working lists of one batch's ingestion: its routed events and
// its records grouped by stream. They live until Ingest returns, and go back to the
// gateway's pool then (a batch of thousands of events would otherwise allocate them
// anew, for the collector to scan and free).
type batchScratch struct {
	out  []routed
	recs []stream.Record
	// tops lists the top-level members of topsOf, an event whose receiver listed
	// none (walkTop), one event at a time.
	tops   []jsonx.Member
	topsOf *Event
}

// maxScratchEvents bounds the lists a batchScratch keeps for the next batch.
const maxScratchEvents = 8192

// getScratch returns empty lists with room for n events.
func (g *Gateway) getScratch(n int) *batchScratch {
	sc, _ := g.scratch.Get().(*batchScratch)
	if sc == nil {
		sc = new(batchScratch)
	}
	sc.out = slices.Grow(sc.out[:0], n)
	return sc
}

// putScratch gives sc back, forgetting what its lists pointed to (envelopes, whose
// chunks are released, and documents the caller owns).
func (g *Gateway) putScratch(sc *batchScratch) {
	clear(sc.out)
	clear(sc.recs)
	if cap(sc.out) > maxScratchEvents || cap(sc.recs) > maxScratchEvents || cap(sc.tops) > maxScratchEvents {
		return
	}
	sc.out, sc.recs, sc.topsOf = sc.out[:0], sc.recs[:0], nil
	g.scratch.Put(sc)
}

// New returns a gateway that sends to producer. cfg must have passed Validate.
func New(cfg Config, producer Producer, opts Options) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Meter == nil {
		opts.Meter = noop.NewMeterProvider().Meter("")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if _, noop := opts.Tracer.(tracenoop.Tracer); noop {
		opts.Tracer = nil // nothing to record: skip the spans altogether
	}
	g := &Gateway{
		tracer:   opts.Tracer,
		watch:    opts.Watch,
		cfg:      cfg,
		producer: producer,
		auth:     newAuthenticator(cfg.Auth),
		log:      opts.Logger,
		now:      opts.Now,
		inflight: semaphore.NewWeighted(int64(cfg.Limits.MaxInflightBytes)),
		buffers:  semaphore.NewWeighted(int64(cfg.Limits.MaxBufferedBytes)),
		types:    newTypeSet(cfg.Routing.MaxTypes, append(slices.Collect(maps.Keys(cfg.Routing.Streams)), cfg.Routing.DefaultType)...),
		ids:      newIDModes(cfg.Routing),
	}
	for _, f := range cfg.Routing.TypeFields {
		g.typeFields = append(g.typeFields, newFieldPath(f))
	}
	if f := cfg.Routing.PartitionKeyField; f != "" {
		p := newFieldPath(f)
		g.keyField = &p
	}
	m, err := newMetrics(opts.Meter, &g.inflightBytes, &g.bufferedBytes, g.types.len)
	if err != nil {
		return nil, err
	}
	g.metrics = m
	return g, nil
}

// Limits returns the configured limits, for receivers that enforce them on the wire.
func (g *Gateway) Limits() Limits { return g.cfg.Limits }

// ReserveBuffer takes n bytes of limits.max_buffered_bytes, the budget of request body
// bytes that HTTP requests together may hold while they are received and decoded,
// before the bytes are received. It waits up to
// limits.backpressure_wait for room, then fails with KindOverloaded (KindUnavailable if
// ctx ends first). Every successful call must be matched by ReleaseBuffer(n).
func (g *Gateway) ReserveBuffer(ctx context.Context, n int64) error {
	if !g.buffers.TryAcquire(n) {
		waitCtx, cancel := context.WithTimeout(ctx, g.cfg.Limits.BackpressureWait)
		defer cancel()
		if err := g.buffers.Acquire(waitCtx, n); err != nil {
			if ctx.Err() != nil {
				return Errorf(KindUnavailable, "request ended while waiting for room to receive it: %w", ctx.Err())
			}
			return Errorf(KindOverloaded, "gateway busy: requests being received hold limits.max_buffered_bytes (%s); retry later", g.cfg.Limits.MaxBufferedBytes)
		}
	}
	g.bufferedBytes.Add(n)
	return nil
}

// ReleaseBuffer gives back n bytes taken with ReserveBuffer.
func (g *Gateway) ReleaseBuffer(n int64) {
	g.bufferedBytes.Add(-n)
	g.buffers.Release(n)
}

// BufferedBytes returns the bytes of limits.max_buffered_bytes taken now.
func (g *Gateway) BufferedBytes() int64 { return g.bufferedBytes.Load() }

// Drain makes Ingest refuse new batches with KindUnavailable (and Ready report false),
// so that a load balancer moves traffic away before the process stops.
func (g *Gateway) Drain() { g.draining.Store(true) }

// Ready reports whether the gateway accepts batches.
func (g *Gateway) Ready() bool { return !g.draining.Load() }

// routed is an accepted event on its way to a stream.
type routed struct {
	index  int
	typ    string
	label  string // typ as the metrics name it (typeLabel)
	stream string
	rec    stream.Record
}

// typeRun is what a log type decides for its events: whether it is admitted (and as
// what), whether the caller may send it, its stream, its identity mode and metric
// label. The events of a batch mostly share a type, so ingest works it out once per
// run of events of one type (decide) rather than per event.
type typeRun struct {
	set    bool
	in     string // the type as resolved from the event
	typ    string // as admitted
	err    error  // why events of the type are rejected, or nil
	stream string
	mode   idMode
	label  string
}

// decide works out what the log type in, as resolved from an event, decides for an
// event sent by principal (nil without authentication).
func (g *Gateway) decide(in string, principal *Principal) typeRun {
	r := typeRun{set: true, in: in}
	if !stream.ValidType(in) {
		r.typ, r.err = in, Errorf(KindInvalid, "invalid log type %q: use 1-64 of a-z 0-9 _ - . starting with a letter or digit", in)
		return r
	}
	if r.typ, r.err = g.admitType(in); r.err != nil {
		return r
	}
	if principal != nil && !principal.Allows(r.typ) {
		r.err = Errorf(KindForbidden, "API key %q may not send log type %q", principal.Name, r.typ)
		return r
	}
	if r.stream, r.err = g.route(r.typ); r.err != nil {
		return r
	}
	r.mode, r.label = g.ids.of(r.typ), g.typeLabel(r.typ)
	return r
}

// Ingest checks, routes and produces a batch. It returns when every accepted event is
// durable in its stream. Events that cannot be accepted are listed in the Result's
// rejections and do not affect the others. An error means nothing was acknowledged
// (although some events may have reached a stream); its Kind says why. The caller
// resends: events with an identity (see routing.id) are then indexed once, those
// without one may be indexed twice.
//
// The caller keeps ownership of b; Ingest does not retain it or the documents.
func (g *Gateway) Ingest(ctx context.Context, b Batch) (Result, error) {
	start := g.now()
	var span trace.Span
	if g.tracer != nil {
		ctx, span = g.tracer.Start(ctx, "sluice.gateway.ingest", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("sluice.receiver", b.Receiver), attribute.Int("sluice.events", len(b.Events))))
	}
	res, err := g.ingest(ctx, b, start)
	if span != nil {
		if span.IsRecording() {
			span.SetAttributes(attribute.Int("sluice.accepted", res.Accepted), attribute.Int("sluice.rejected", len(res.Rejections)))
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
		}
		span.End()
	}
	g.metrics.duration.Record(ctx, g.now().Sub(start).Seconds(), metric.WithAttributes(
		attribute.String("receiver", b.Receiver), attribute.String("outcome", outcome(err))))
	if err != nil {
		g.metrics.batchErrors.Add(ctx, 1, metric.WithAttributes(
			attribute.String("receiver", b.Receiver), attribute.String("kind", KindOf(err).String())))
	}
	return res, err
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return KindOf(err).String()
}

func (g *Gateway) ingest(ctx context.Context, b Batch, received time.Time) (Result, error) {
	if g.draining.Load() {
		return Result{}, Errorf(KindUnavailable, "gateway is shutting down: send to another instance")
	}
	principal := PrincipalFrom(ctx)
	if g.auth.enabled && principal == nil {
		return Result{}, Errorf(KindUnauthenticated, "missing API key: send Authorization: Bearer <key>")
	}
	if n := len(b.Events); n > g.cfg.Limits.MaxBatchEvents {
		return Result{}, Errorf(KindTooLarge, "batch has %d events, limit is %d (limits.max_batch_events)", n, g.cfg.Limits.MaxBatchEvents)
	}

	var res Result
	reject := func(i int, typ string, size int, kind Kind, reason string) {
		res.Rejections = append(res.Rejections, Rejection{Index: i, Kind: kind, Reason: reason})
		attrs := metric.WithAttributes(attribute.String("receiver", b.Receiver),
			attribute.String("type", g.typeLabel(typ)), attribute.String("reason", kind.String()))
		g.metrics.eventsRejected.Add(ctx, 1, attrs)
		g.metrics.bytesRejected.Add(ctx, int64(size), attrs)
	}

	sc := g.getScratch(len(b.Events))
	defer g.putScratch(sc)
	out := sc.out
	// The batch's envelopes share a few large buffers rather than one allocation each:
	// they live exactly as long as the batch (until Put returns), and the collector
	// then has a few objects to free instead of thousands.
	envelopes := chunks.Arena{First: min(envelopeChunk, batchBytes(b.Events)), Size: envelopeChunk}
	var (
		keys  randomKeys
		times timefmt.Cache // every envelope has the batch's time of receipt
		run   typeRun       // what the last event's log type decided
	)
	var (
		total  int64
		hasher idHasher
		caller string
		// traceparent goes into the envelopes of a sampled batch, so that the
		// transformer's spans join the trace.
		traceparent string
	)
	if g.tracer != nil {
		traceparent = tracing.TraceParent(trace.SpanContextFromContext(ctx))
	}
	if principal != nil {
		caller = principal.Name
	}
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.Err != nil {
			reject(i, ev.Type, len(ev.Doc), KindOf(ev.Err), ev.Err.Error())
			continue
		}
		if len(ev.Doc) > int(g.cfg.Limits.MaxEventBytes) {
			reject(i, ev.Type, len(ev.Doc), KindTooLarge, fmt.Sprintf("event is %d bytes, limit is %d (limits.max_event_bytes)", len(ev.Doc), g.cfg.Limits.MaxEventBytes))
			continue
		}
		if len(ev.Doc) == 0 || ev.Doc[0] != '{' {
			reject(i, ev.Type, len(ev.Doc), KindInvalid, "event is not a JSON object")
			continue
		}
		typ, err := g.resolveType(ev, b.TypeHint, run.in, sc)
		if err != nil {
			reject(i, typ, len(ev.Doc), KindOf(err), err.Error())
			continue
		}
		if !run.set || run.in != typ {
			run = g.decide(typ, principal)
		}
		if run.err != nil {
			reject(i, run.typ, len(ev.Doc), KindOf(run.err), run.err.Error())
			continue
		}
		typ, streamName := run.typ, run.stream
		id := hasher.id(run.mode, typ, caller, ev)
		data := envelopes.Next(len(ev.Doc) + len(typ) + len(id) + len(traceparent) + 100)
		data = stream.AppendEnvelopeTraced(data, &times, typ, id, received, ev.Doc, traceparent)
		data = envelopes.Keep(data)
		rec := stream.Record{PartitionKey: g.partitionKey(ev, &keys, len(b.Events)-i, sc), Data: data}
		total += int64(rec.Size())
		out = append(out, routed{index: i, typ: typ, label: run.label, stream: streamName, rec: rec})
	}
	if len(out) == 0 {
		return res, nil
	}

	sc.out = out
	err := g.tracedProduce(ctx, sc, total)
	envelopes.Release() // the producer copied what it keeps; only lengths are read below
	if err != nil {
		return Result{}, err
	}
	res.Accepted = len(out)
	if g.watch != nil && g.watch.Watching(console.PointReceived) {
		for _, r := range out {
			if !g.watch.Sample(console.PointReceived, r.typ, b.Receiver, b.Events[r.index].Doc) {
				break
			}
		}
	}
	// Count per label, not per event: recording a metric costs more than routing. A
	// batch's events mostly share a label, so the label is looked for among the few
	// counted so far starting with the last one's.
	type tally struct {
		label         string
		events, bytes int64
	}
	var counts []tally
	last := -1
	for _, r := range out {
		if last < 0 || counts[last].label != r.label {
			last = slices.IndexFunc(counts, func(t tally) bool { return t.label == r.label })
			if last < 0 {
				last = len(counts)
				counts = append(counts, tally{label: r.label})
			}
		}
		counts[last].events++
		counts[last].bytes += int64(len(r.rec.Data))
	}
	for _, c := range counts {
		attrs := metric.WithAttributes(attribute.String("receiver", b.Receiver), attribute.String("type", c.label))
		g.metrics.eventsReceived.Add(ctx, c.events, attrs)
		g.metrics.bytesReceived.Add(ctx, c.bytes, attrs)
	}
	return res, nil
}

// tracedProduce is produce in a span of its own when tracing is on.
func (g *Gateway) tracedProduce(ctx context.Context, sc *batchScratch, total int64) error {
	if g.tracer == nil {
		return g.produce(ctx, sc, total)
	}
	ctx, put := g.tracer.Start(ctx, "sluice.stream.put", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.Int("sluice.records", len(sc.out)), attribute.Int64("sluice.bytes", total)))
	defer put.End()
	err := g.produce(ctx, sc, total)
	if err != nil {
		put.SetStatus(codes.Error, err.Error())
	}
	return err
}

// produce waits for room in flight, then puts each stream's records (sc.out),
// concurrently.
func (g *Gateway) produce(ctx context.Context, sc *batchScratch, total int64) error {
	if total > int64(g.cfg.Limits.MaxInflightBytes) {
		return Errorf(KindTooLarge, "batch is %d bytes, more than limits.max_inflight_bytes %d", total, g.cfg.Limits.MaxInflightBytes)
	}
	waitCtx, cancel := context.WithTimeout(ctx, g.cfg.Limits.BackpressureWait)
	defer cancel()
	if err := g.inflight.Acquire(waitCtx, total); err != nil {
		if ctx.Err() != nil {
			return Errorf(KindUnavailable, "request ended while waiting for room: %w", ctx.Err())
		}
		return Errorf(KindOverloaded, "gateway busy: %d bytes in flight; retry later", g.inflightBytes.Load())
	}
	g.inflightBytes.Add(total)
	defer func() {
		g.inflightBytes.Add(-total)
		g.inflight.Release(total)
	}()

	names, byStream := sc.groupByStream()
	put := func(ctx context.Context, i int) error {
		if err := g.producer.Put(ctx, names[i], byStream[i]); err != nil {
			return fmt.Errorf("put %d records to stream %s: %w", len(byStream[i]), names[i], err)
		}
		return nil
	}
	var err error
	if len(names) == 1 { // the usual batch: no goroutine needed
		err = put(waitCtx, 0)
	} else {
		eg, egCtx := errgroup.WithContext(waitCtx)
		for i := range names {
			eg.Go(func() error { return put(egCtx, i) })
		}
		err = eg.Wait()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, stream.ErrFull):
		return Errorf(KindOverloaded, "stream full, retry later: %w", err)
	case errors.Is(err, stream.ErrTooLarge):
		return Errorf(KindTooLarge, "%w", err)
	case ctx.Err() != nil:
		return Errorf(KindUnavailable, "request ended before the stream acknowledged: %w", ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(KindOverloaded, "stream did not acknowledge within %s, retry later: %w", g.cfg.Limits.BackpressureWait, err)
	default:
		g.log.Error("put records", "err", err)
		return Errorf(KindUnavailable, "%w", err)
	}
}

// groupByStream returns the streams of sc.out in the order they first appear and each
// one's records in the order of sc.out, as sections of sc.recs.
func (sc *batchScratch) groupByStream() ([]string, [][]stream.Record) {
	out := sc.out
	var names []string
	var counts []int
	for _, r := range out {
		i := slices.Index(names, r.stream) // a batch goes to a few streams, mostly one
		if i < 0 {
			i = len(names)
			names, counts = append(names, r.stream), append(counts, 0)
		}
		counts[i]++
	}
	sc.recs = slices.Grow(sc.recs[:0], len(out))[:len(out)]
	all := sc.recs
	byStream := make([][]stream.Record, len(names))
	start := 0
	for i, n := range counts {
		byStream[i] = all[start : start : start+n]
		start += n
	}
	for _, r := range out {
		i := slices.Index(names, r.stream)
		byStream[i] = append(byStream[i], r.rec)
	}
	return names, byStream
}

// resolveType finds an event's log type: the request's, the first configured type
// field present in the event, or the default type; decide checks it. hint is the
// batch's TypeHint; last is the type of the event before, returned itself rather than
// a copy when this event names the same. sc lists the event's top-level members when
// its receiver did not.
func (g *Gateway) resolveType(ev *Event, hint, last string, sc *batchScratch) (string, error) {
	typ := ev.Type
	if typ == "" {
		for i := range g.typeFields {
			f := &g.typeFields[i]
			if v := f.lookup(ev.Doc, sc.top(ev, f), last); v.Type == gjson.String && v.Str != "" {
				typ = v.Str
				break
			}
		}
	}
	if typ == "" {
		typ = g.cfg.Routing.DefaultType
	}
	if typ == "" {
		return "", Errorf(KindInvalid, "%s", g.noTypeMessage(hint))
	}
	return typ, nil
}

// noTypeMessage tells the sender of an event without a log type how to name one: the
// transport's way (hint), then the configured type fields.
func (g *Gateway) noTypeMessage(hint string) string {
	var ways []string
	if hint != "" {
		ways = append(ways, hint)
	}
	if f := g.cfg.Routing.TypeFields; len(f) > 0 {
		ways = append(ways, "one of the event fields "+strings.Join(f, ", "))
	}
	if len(ways) == 0 {
		return "no log type: the event names none, and gateway.routing has no type_fields or default_type"
	}
	return "no log type: name it with " + strings.Join(ways, ", or ")
}

// admitType returns the log type an event is sent as: typ when it is one of the
// routing.max_types distinct types the process accepts, routing.default_type in its
// place when over_max_types says so, or an error.
func (g *Gateway) admitType(typ string) (string, error) {
	if g.types.admit(typ) {
		return typ, nil
	}
	if g.cfg.Routing.OverMaxTypes == "default_type" {
		return g.cfg.Routing.DefaultType, nil
	}
	return typ, Errorf(KindInvalid, "log type %q is new, and this gateway already accepts %d distinct log types (gateway.routing.max_types): send a known type or raise the limit", typ, g.cfg.Routing.MaxTypes)
}

// route returns the stream of a log type.
func (g *Gateway) route(typ string) (string, error) {
	if s, ok := g.cfg.Routing.Streams[typ]; ok {
		return s, nil
	}
	if g.cfg.Routing.UnknownTypes == "reject" {
		known := slices.Sorted(maps.Keys(g.cfg.Routing.Streams))
		return "", Errorf(KindInvalid, "unknown log type %q (known: %s)", typ, strings.Join(known, ", "))
	}
	return g.cfg.Routing.DefaultStream, nil
}

// partitionKey returns the event's key, the configured field's value, or a random key
// from keys; left is how many events of the batch are left, this one included; sc
// lists the event's top-level members when its receiver did not.
func (g *Gateway) partitionKey(ev *Event, keys *randomKeys, left int, sc *batchScratch) string {
	if ev.PartitionKey != "" {
		return truncateKey(ev.PartitionKey)
	}
	if f := g.keyField; f != nil {
		if v := f.lookup(ev.Doc, sc.top(ev, f), ""); v.Exists() && v.Type != gjson.Null && v.Type != gjson.JSON {
			if k := v.String(); k != "" {
				return truncateKey(k)
			}
		}
	}
	return keys.next(left)
}

// randomKeyLen is the length of a random partition key: 64 bits in hex.
const randomKeyLen = 16

// randomKeys hands out random partition keys, made up to 64 at a time as one string
// that each key is a piece of: a batch's keys cost an allocation per 64 events, not
// one each. Kinesis spreads them evenly over the shards by their MD5 hash.
type randomKeys struct{ block string }

// next returns a new random key; left is how many more the batch may take, this one
// included, so that a small batch makes no more keys than it takes.
func (k *randomKeys) next(left int) string {
	if len(k.block) == 0 {
		// Keys from a random start counting up: distinct keys hash to uniformly spread
		// MD5s whatever their pattern, and one random number serves 64 of them.
		var raw [64 * 8]byte
		var text [64 * randomKeyLen]byte
		n := min(max(left, 1), 64)
		base := rand.Uint64()
		for i := range n {
			binary.LittleEndian.PutUint64(raw[8*i:], base+uint64(i))
		}
		hex.Encode(text[:], raw[:8*n])
		k.block = string(text[:n*randomKeyLen])
	}
	key := k.block[:randomKeyLen]
	k.block = k.block[randomKeyLen:]
	return key
}

// envelopeChunk is the most bytes one buffer of a batch's envelopes holds; a larger
// batch takes several.
const envelopeChunk = chunks.DefaultArenaChunk

// batchBytes estimates the room a batch's envelopes need: the events' documents and
// an envelope's overhead each (time and member names, about 100 bytes, and a type and
// an id of some 30 bytes each). An underestimate costs another chunk, not an error.
func batchBytes(events []Event) int {
	n := 0
	for i := range events {
		n += len(events[i].Doc) + 160
	}
	return n
}

// maxPartitionKeyLen is Kinesis's partition key limit (Unicode characters; bytes are
// a safe stand-in since the stream hashes the UTF-8 bytes).
const maxPartitionKeyLen = 256

func truncateKey(k string) string {
	if len(k) <= maxPartitionKeyLen {
		return k
	}
	k = k[:maxPartitionKeyLen]
	for !utf8.ValidString(k) {
		k = k[:len(k)-1] // only the cut tail can be invalid
	}
	return k
}

// fieldPath is a dotted path into an event, prepared once for gjson: the path as
// nested objects ({"event":{"dataset":..}}) and as one literal dotted key
// ({"event.dataset":..}), so that looking it up in each event allocates nothing; and
// for lookup, its first part, the rest as a gjson path, and the whole path, when none
// of it needs escaping for gjson (else first is empty and lookup takes get).
type fieldPath struct {
	nested, literal string // literal is empty for a path without dots
	first, rest     string
	whole           string
	// restParts is rest split at its dots.
	restParts []string
}

func newFieldPath(path string) fieldPath {
	p := fieldPath{nested: escapePath(path)}
	if strings.Contains(path, ".") {
		p.literal = gjsonEscape(path)
	}
	if p.nested == path && !strings.Contains(path, "..") && path != "" && path[0] != '.' && path[len(path)-1] != '.' {
		p.first, p.rest, _ = strings.Cut(path, ".")
		p.whole = path
		if p.rest != "" {
			p.restParts = strings.Split(p.rest, ".")
		}
	}
	return p
}

// lookup is get, reading only the members the path starts with when the document's
// top-level members are known (top not nil): each member named the path's first part
// in turn, until one holds the rest of the path, then the first member named the
// whole dotted path, as gjson searches the whole document. A key written with escapes
// that may be the path's first part or the whole path, and paths gjson would read as
// patterns, take get.
//
// A string found that equals same comes back as same itself, not a copy: the log type
// of the event before, mostly.
func (p fieldPath) lookup(doc []byte, top []jsonx.Member, same string) gjson.Result {
	if top == nil || p.first == "" {
		return p.get(doc)
	}
	var literal *jsonx.Member
	for i := range top {
		key := top[i].Key(doc)
		if len(key) > len(p.first) && jsonx.Escaped(key) { // it may be first or whole, escaped
			return p.get(doc)
		}
		if string(key) == p.first {
			v := top[i].Value(doc)
			if p.rest == "" {
				return gjson.ParseBytes(v)
			}
			if r, ok := p.within(v, same); ok {
				if r.Exists() {
					return r
				}
			} else if r := gjson.GetBytes(v, p.rest); r.Exists() {
				return r
			}
		}
		if literal == nil && p.literal != "" && string(key) == p.whole {
			literal = &top[i]
		}
	}
	if literal != nil {
		return gjson.ParseBytes(literal.Value(doc))
	}
	return gjson.Result{}
}

// within finds the rest of the path in v, the value of a member named its first part,
// for the usual case, objects with plain keys down to a string, walking their members
// (gjson took 5% of the gateway's CPU to find a log type in a small object); ok is
// false when gjson must decide: a key with an escape on the way, a value on the way
// that is not an object, a value found that is not a plain string. Like gjson it takes
// the first member of a name. A string equal to same comes back as same.
func (p fieldPath) within(v []byte, same string) (r gjson.Result, ok bool) {
	obj := v
	for _, part := range p.restParts {
		if len(obj) == 0 || obj[0] != '{' {
			return gjson.Result{}, false
		}
		var found []byte
		escaped := false
		jsonx.Members(obj, func(ks, ke, ve int) {
			if found != nil || escaped {
				return
			}
			m := jsonx.Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve}
			key := m.Key(obj)
			if string(key) == part {
				found = m.Value(obj)
			} else if len(key) > len(part) && jsonx.Escaped(key) {
				escaped = true // it may be part, written with escapes
			}
		})
		if escaped {
			return gjson.Result{}, false
		}
		if found == nil {
			return gjson.Result{}, true
		}
		obj = found
	}
	if len(obj) < 2 || obj[0] != '"' || jsonx.Escaped(obj) {
		return gjson.Result{}, false
	}
	// Raw is left empty: callers read Type and Str (String), and Exists holds for any
	// string.
	if text := obj[1 : len(obj)-1]; string(text) != same {
		same = string(text)
	}
	return gjson.Result{Type: gjson.String, Str: same}, true
}

// top returns the top-level members of ev that lookup of f reads: the receiver's list
// (Event.Top), else, for a path lookup reads member by member, the members walked once
// per event into sc (walkTop), so that the type and key fields read the member their
// path starts with rather than gjson searching the document; nil when lookup reads
// the whole document anyway.
func (sc *batchScratch) top(ev *Event, f *fieldPath) []jsonx.Member {
	if ev.Top != nil || f.first == "" {
		return ev.Top
	}
	if sc.topsOf != ev {
		sc.tops, sc.topsOf = walkTop(ev.Doc, sc.tops[:0]), ev
	}
	return sc.tops
}

// walkTop appends the top-level members of doc, an object its receiver validated,
// to dst, skipping values without checking them (jsonx.Members).
func walkTop(doc []byte, dst []jsonx.Member) []jsonx.Member {
	jsonx.Members(doc, func(ks, ke, ve int) {
		dst = append(dst, jsonx.Member{KeyStart: ks, KeyEnd: ke, ValueEnd: ve})
	})
	if dst == nil {
		dst = []jsonx.Member{} // known to have none
	}
	return dst
}

// get finds the path in a JSON object without decoding the document.
func (p fieldPath) get(doc []byte) gjson.Result {
	if v := gjson.GetBytes(doc, p.nested); v.Exists() {
		return v
	}
	if p.literal != "" {
		return gjson.GetBytes(doc, p.literal)
	}
	return gjson.Result{}
}

// escapePath escapes gjson's special characters except the '.' separators.
func escapePath(path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		parts[i] = gjsonEscape(p)
	}
	return strings.Join(parts, ".")
}

// gjsonEscape escapes every character gjson treats specially, dots included.
func gjsonEscape(s string) string {
	if !strings.ContainsAny(s, `.*?|#@\!=<>%,:{}[]"`) {
		return s
	}
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`.*?|#@\!=<>%,:{}[]"`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// typeLabel bounds the cardinality of the type attribute: types not routed by name
// (which callers can invent freely) share one label.
func (g *Gateway) typeLabel(typ string) string {
	if _, ok := g.cfg.Routing.Streams[typ]; ok {
		return typ
	}
	return "_other"
}
