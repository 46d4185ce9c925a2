package kinesis

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-siem/sluice/internal/retry"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// failKind classifies a failure once, for retrying and for the error a Put returns.
type failKind uint8

const (
	// failThrottled is shard or account throttling: backpressure (stream.ErrFull).
	failThrottled failKind = iota + 1
	// failServer is the service failing (5xx, InternalFailure, other entry errors).
	failServer
	// failUnreachable is no answer at all: connection refused, DNS, timeouts.
	failUnreachable
	// failPermanent is a 4xx that retrying cannot fix (credentials, permissions, ...).
	failPermanent
	// failMissing is a stream that does not exist (stream.ErrUnknownStream).
	failMissing
	// failClosed is Close giving up on the flush.
	failClosed
)

var failKindNames = [...]string{
	failThrottled:   "throttled",
	failServer:      "server",
	failUnreachable: "unreachable",
	failPermanent:   "permanent",
	failMissing:     "missing",
	failClosed:      "closed",
}

func (k failKind) String() string {
	if int(k) < len(failKindNames) && failKindNames[k] != "" {
		return failKindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// retryable reports whether a failure of this kind is worth another try.
func (k failKind) retryable() bool {
	return k == failThrottled || k == failServer || k == failUnreachable
}

// failure is a failed call to Kinesis and, once the retry budget is spent, how long
// it was tried.
type failure struct {
	kind     failKind
	err      error
	attempts int // tries made when the budget was spent; 0 otherwise
	elapsed  time.Duration
}

// errorFor is the error a Put of n events gets for this failure: it names the stream
// and the endpoint, wraps the sentinel the gateway classifies by and, when o is set,
// says where the events stand. A cause from the SDK is quoted, not wrapped, so that a
// timeout inside it does not read as the caller's.
func (f *failure) errorFor(n int, streamName, endpoint string, o *outcome) error {
	what := fmt.Sprintf("put %d records to stream %s at %s", n, streamName, endpoint)
	budget := ""
	if f.attempts > 0 {
		budget = fmt.Sprintf(" after %d attempts in %s (retry budget spent)", f.attempts, f.elapsed.Round(time.Millisecond))
	}
	where := ""
	if o != nil {
		where = "; " + o.String()
	}
	switch f.kind {
	case failThrottled:
		return fmt.Errorf("%s: throttled%s: %v: %w%s", what, budget, f.err, stream.ErrFull, where)
	case failMissing:
		return fmt.Errorf("%s: %v: %w%s", what, f.err, stream.ErrUnknownStream, where)
	case failClosed:
		return fmt.Errorf("%s: %w%s", what, errClosed, where)
	case failUnreachable:
		return fmt.Errorf("%s: endpoint unreachable%s: %v%s", what, budget, f.err, where)
	default:
		return fmt.Errorf("%s: not durable%s: %v%s", what, budget, f.err, where)
	}
}

// classify sorts an error of a Kinesis call. closed says whether the producer's
// context has ended.
func classify(err error, closed bool) failKind {
	if closed && errors.Is(err, context.Canceled) {
		return failClosed
	}
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return failMissing
	}
	if awsretry.IsErrorThrottles(awsretry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return failThrottled
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorCode(), "Throttl") {
		return failThrottled // KMSThrottlingException and the like
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		switch code := status.HTTPStatusCode(); {
		case code >= 500:
			return failServer
		case code == 429:
			return failThrottled
		case code >= 400:
			if apiErr != nil && apiErr.ErrorCode() == "ResourceInUseException" {
				return failServer // resharding or updating: try again
			}
			return failPermanent
		}
	}
	return failUnreachable
}

// errorCode names an error for the failed-entries metric.
func errorCode(err error, kind failKind) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return kind.String()
}

// isThrottleCode reports whether a PutRecords entry error code is throttling.
func isThrottleCode(code string) bool {
	return code == "ProvisionedThroughputExceededException" || strings.Contains(code, "Throttl")
}

// backoff returns the wait before retry number attempt (1 for the first retry): a
// random duration below min(MaxDelay, BaseDelay * 2^(attempt-1)) (full jitter).
func (s *streamProducer) backoff(attempt int) time.Duration {
	return retry.Full(retry.Ceiling(s.cfg.Retry.BaseDelay, s.cfg.Retry.MaxDelay, attempt-1))
}

// setFailure records the stream's latest failure.
func (s *streamProducer) setFailure(f *failure) { s.failure.Store(f) }

func (s *streamProducer) streamAttr() metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("stream", s.name))
}

// encode writes an entry's record data (the aggregated record, or the event's data),
// compressed when the producer compresses, and returns the bytes compression took
// off the size its shard's tokens were spent on.
func (s *streamProducer) encode(e *entry) (saved int) {
	if e.agg != nil {
		e.data = e.agg.AppendTo(make([]byte, 0, e.size-len(e.key)))
		e.agg = nil
	} else {
		e.data = e.events[0].data
	}
	return s.compress(e)
}

// traceRetry adds a span event to each traced call (a traced batch at the gateway)
// with events in the entries about to be retried: the attempt, why, how many shards
// throttled, the error and the wait.
func traceRetry(entries []*entry, attempt int, reason string, throttled int, f *failure, delay time.Duration) {
	var seen map[*call]bool
	for _, e := range entries {
		for _, ev := range e.events {
			c := ev.call
			if c.span == nil || seen[c] {
				continue
			}
			if seen == nil {
				seen = map[*call]bool{}
			}
			seen[c] = true
			c.span.AddEvent("kinesis.put_records.retry", trace.WithAttributes(
				attribute.Int("attempt", attempt), attribute.String("reason", reason),
				attribute.Int("throttled_shards", throttled), attribute.String("error", f.kind.String()),
				attribute.Int64("backoff_ms", delay.Milliseconds())))
		}
	}
}

// encodeAll encodes a request's entries and corrects what each shard's byte bucket
// was charged for them (tokens, a prediction for records to be compressed) by what
// they turned out to be, so that a shard's byte limit counts what Kinesis counts.
func (s *streamProducer) encodeAll(entries []*entry) {
	var refunds map[string]int
	var raw, packed int
	for _, e := range entries {
		before := e.size
		if saved := s.encode(e); saved > 0 {
			raw, packed = raw+before, packed+e.size
		}
		if d := e.tokens - e.size; d != 0 && e.tokens != 0 {
			if refunds == nil {
				refunds = map[string]int{}
			}
			refunds[e.shard] += d
		}
	}
	if refunds != nil || packed > 0 {
		s.note(func(n *notes) {
			if n.refunds == nil {
				n.refunds = map[string]int{}
			}
			for id, b := range refunds {
				n.refunds[id] += b
			}
			n.raw += raw
			n.packed += packed
		})
	}
}

// compress compresses an entry's data when the producer compresses, the record holds
// more than one event and that makes it smaller, updating its size; it returns the
// bytes saved. A record of one event stays as it is: one event compresses by a third
// at four times the producer's CPU (BENCHMARKS.md, "Compressed records").
func (s *streamProducer) compress(e *entry) (saved int) {
	if s.p.comp == nil || len(e.events) < 2 {
		return 0
	}
	before := len(e.key) + len(e.data)
	e.data = s.p.comp.compress(e.data)
	e.size = len(e.key) + len(e.data)
	if saved = before - e.size; saved > 0 {
		s.p.metrics.bytesSaved.Add(s.p.ctx, int64(saved), s.streamAttr())
	}
	return saved
}

// send is a sender goroutine: it puts one request, retries what failed within the
// budget, and frees each shard of the request as soon as none of its records is left.
func (s *streamProducer) send(req *request) {
	s.encodeAll(req.entries)
	busy := make(map[string]bool, len(req.shards))
	for _, id := range req.shards {
		busy[id] = true
	}
	pending := req.entries
	start := time.Now()
	for attempt := 1; ; attempt++ {
		var resent int
		pending, resent = s.claim(pending)
		if resent > 0 {
			s.noteResend(resent)
		}
		var (
			f         *failure
			throttled []string
			whole     bool
		)
		if len(pending) > 0 {
			pending, f, throttled, whole = s.putOnce(pending, attempt)
		}
		left := map[string]bool{}
		for _, e := range pending {
			left[e.shard] = true
		}
		var freed []string
		for id := range busy {
			if !left[id] {
				freed = append(freed, id)
				delete(busy, id)
			}
		}
		if len(freed) > 0 || len(throttled) > 0 {
			s.note(func(n *notes) {
				n.freed = append(n.freed, freed...)
				n.throttled = append(n.throttled, throttled...)
			})
		}
		if len(pending) == 0 {
			break
		}
		if !f.kind.retryable() {
			if f.kind == failClosed {
				s.abandonedOnClose.Add(int64(countEvents(pending)))
			}
			s.finishEntries(pending, f)
			pending = nil
			break
		}
		delay := s.backoff(attempt)
		if elapsed := time.Since(start); attempt >= s.cfg.Retry.MaxAttempts || elapsed+delay > s.cfg.Retry.Timeout {
			spent := *f
			spent.attempts, spent.elapsed = attempt, elapsed
			s.p.log.Error("kinesis put failed: retry budget spent", "stream", s.name, "records", len(pending),
				"attempts", attempt, "kind", f.kind.String(), "err", f.err)
			s.finishEntries(pending, &spent)
			pending = nil
			break
		}
		reason := "entries"
		if whole {
			reason = "request"
		}
		s.p.metrics.retries.Add(s.p.ctx, 1, metric.WithAttributes(attribute.String("stream", s.name), attribute.String("reason", reason)))
		traceRetry(pending, attempt, reason, len(throttled), f, delay)
		if !retry.Sleep(s.p.ctx, delay) {
			s.finishEntries(pending, &failure{kind: failClosed, err: errClosed})
			s.abandonedOnClose.Add(int64(countEvents(pending)))
			pending = nil
			break
		}
	}
	remaining := slices.Collect(maps.Keys(busy))
	s.note(func(n *notes) {
		n.freed = append(n.freed, remaining...)
		n.reqsDone++
	})
}

func countEvents(entries []*entry) int {
	n := 0
	for _, e := range entries {
		n += len(e.events)
	}
	return n
}

// callRuns yields the runs of consecutive events of one call.
func callRuns(evs []*event) iter.Seq2[*call, []*event] {
	return func(yield func(*call, []*event) bool) {
		for i := 0; i < len(evs); {
			c := evs[i].call
			j := i + 1
			for j < len(evs) && evs[j].call == c {
				j++
			}
			if !yield(c, evs[i:j]) {
				return
			}
			i = j
		}
	}
}

// claim readies entries for a PutRecords call. Under each call's lock it leaves out the
// events whose callers are gone (an event is never put on the wire after its caller
// was answered, so that the answer can say it will not be written) and marks the others
// on the wire. Entries left with no event are dropped, entries that lost some are
// sealed again without them. It returns the entries to send and how many of their
// events may already be in the stream: resends after a call whose outcome was unknown.
func (s *streamProducer) claim(entries []*entry) (kept []*entry, resent int) {
	kept = entries[:0:0]
	left := 0
	for _, e := range entries {
		var live []*event // set once an event is left out
		dropped, pos := false, 0
		for c, run := range callRuns(e.events) {
			c.mu.Lock()
			gone := c.gone.Load()
			if !gone {
				for _, ev := range run {
					if ev.maybe {
						resent++
					}
					ev.sent, ev.onWire = true, true
				}
			}
			c.mu.Unlock()
			switch {
			case gone && !dropped:
				dropped = true
				live = append(make([]*event, 0, len(e.events)), e.events[:pos]...)
			case !gone && dropped:
				live = append(live, run...)
			}
			if gone {
				left += len(run)
			}
			pos += len(run)
		}
		switch {
		case !dropped:
			kept = append(kept, e)
		case len(live) == 0:
			s.release(e.bytes)
		default:
			s.reseal(e, live)
			kept = append(kept, e)
		}
	}
	if left > 0 {
		s.p.metrics.eventsAbandoned.Add(s.p.ctx, int64(left), s.streamAttr())
	}
	return kept, resent
}

// reseal makes an entry's record again from evs, some of its events in their order,
// and releases the in-flight bytes of the others. An aggregated record keeps its
// partition key (it only picks the shard, and the record's user records keep their
// own), so that the record can only shrink.
func (s *streamProducer) reseal(e *entry, evs []*event) {
	var bytes int64
	for _, ev := range evs {
		bytes += int64(ev.size)
	}
	s.release(e.bytes - bytes)
	e.events, e.bytes = evs, bytes
	if len(evs) == 1 && !kpl.NeedsWrapping(evs[0].data) {
		e.key, e.size, e.data = evs[0].key, evs[0].size, evs[0].data
		s.compress(e)
		return
	}
	var agg kpl.Aggregator
	for _, ev := range evs {
		agg.Add(ev.key, "", ev.data)
	}
	e.data = agg.AppendTo(make([]byte, 0, agg.Size()))
	e.size = len(e.key) + len(e.data)
	s.compress(e)
}

// settle records an answer for entries it did not make durable: their events wait
// for a retry, and may be in the stream if the answer was lost (unknown).
func (s *streamProducer) settle(entries []*entry, unknown bool) {
	for _, e := range entries {
		for c, run := range callRuns(e.events) {
			c.mu.Lock()
			for _, ev := range run {
				ev.onWire = false
				ev.maybe = ev.maybe || unknown
			}
			c.mu.Unlock()
		}
	}
}

// resendLogInterval is the least time between two warnings about resends.
const resendLogInterval = 10 * time.Second

// resendLog gathers resends after unknown outcomes between two warnings.
type resendLog struct {
	mu       sync.Mutex
	last     time.Time // of the latest warning
	events   int
	requests int
}

// noteResend counts n events sent again after a call whose outcome was unknown, and
// warns at most once per resendLogInterval per stream with the counts since the last
// warning.
func (s *streamProducer) noteResend(n int) {
	s.p.metrics.eventsResent.Add(s.p.ctx, int64(n), s.streamAttr())
	l := &s.resends
	l.mu.Lock()
	l.events += n
	l.requests++
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < resendLogInterval {
		l.mu.Unlock()
		return
	}
	events, requests := l.events, l.requests
	l.events, l.requests, l.last = 0, 0, now
	l.mu.Unlock()
	s.p.log.Warn("kinesis put records: resending records whose earlier request had an unknown outcome; the stream may hold them twice",
		"stream", s.name, "endpoint", s.client.endpoint, "events", events, "requests", requests, "interval", resendLogInterval)
}

// sendTrace follows the HTTP request of one PutRecords call, to tell whether the server
// may have had all of it.
type sendTrace struct {
	started atomic.Bool // the request's headers were written
	cut     atomic.Bool // writing the request failed: the server never had all of it
}

func (t *sendTrace) context(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { t.started.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err != nil {
				t.cut.Store(true)
			}
		},
	})
}

// mayHaveWritten reports whether a PutRecords call that failed as a whole may have
// written some of its records. An answer from the server decides: a 4xx is given
// before Kinesis writes anything, a 5xx leaves the outcome unknown. Without an answer,
// the records may be written when the whole request was sent (a timeout or a
// connection broken after sending), and are not when it was not. (An answer proves the
// request arrived even where the transport reports the end of its writing after the
// answer, so sent is not asked then.)
func mayHaveWritten(err error, sent bool) bool {
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		if code := status.HTTPStatusCode(); code > 0 {
			return code < 400 || code >= 500
		}
	}
	return sent
}

// putOnce sends entries in one PutRecords call. Entries that succeeded are finished
// (their callers woken); it returns the ones that failed with why, the shards that
// throttled, and whether the request failed as a whole.
func (s *streamProducer) putOnce(entries []*entry, attempt int) (failed []*entry, f *failure, throttled []string, whole bool) {
	in := &awskinesis.PutRecordsInput{
		StreamName: aws.String(s.name),
		Records:    make([]types.PutRecordsRequestEntry, len(entries)),
	}
	for i, e := range entries {
		in.Records[i] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.key)}
	}
	var trace sendTrace
	ctx, cancel := context.WithTimeout(s.p.ctx, s.cfg.RequestTimeout)
	start := time.Now()
	out, err := s.client.api.PutRecords(trace.context(ctx), in)
	cancel()
	took := time.Since(start).Seconds()
	var kind failKind
	if err == nil && len(out.Records) != len(entries) {
		err = fmt.Errorf("PutRecords answered %d results for %d records", len(out.Records), len(entries))
		kind = failServer
	}
	if err != nil {
		if kind == 0 {
			kind = classify(err, s.p.ctx.Err() != nil)
		}
		f = &failure{kind: kind, err: err}
		s.setFailure(f)
		if kind == failMissing {
			s.blocked.Store(f)
		}
		code := errorCode(err, kind)
		unknown := mayHaveWritten(err, trace.started.Load() && !trace.cut.Load())
		s.settle(entries, unknown)
		s.p.metrics.putDuration.Record(s.p.ctx, took, metric.WithAttributes(attribute.String("stream", s.name), attribute.String("outcome", "error")))
		s.p.metrics.failedEntries.Add(s.p.ctx, int64(len(entries)), metric.WithAttributes(attribute.String("stream", s.name), attribute.String("code", code)))
		s.p.log.Warn("kinesis put records failed", "stream", s.name, "endpoint", s.client.endpoint, "records", len(entries),
			"attempt", attempt, "kind", kind.String(), "code", code, "outcome_unknown", unknown, "err", err)
		if kind == failThrottled {
			for _, e := range entries {
				throttled = append(throttled, e.shard)
			}
		}
		return entries, f, throttled, true
	}

	type tally struct{ records, events, bytes int64 }
	tallies := map[string]*tally{}
	codes := map[string]int{}
	messages := map[string]string{}
	moved := false
	var durable []*entry
	for i, r := range out.Records {
		e := entries[i]
		if r.ErrorCode == nil {
			shard := aws.ToString(r.ShardId)
			if shard != e.shard {
				moved = true
			}
			t := tallies[shard]
			if t == nil {
				t = &tally{}
				tallies[shard] = t
			}
			t.records++
			t.events += int64(len(e.events))
			t.bytes += int64(e.size)
			s.p.metrics.eventsPerRecord.Record(s.p.ctx, int64(len(e.events)), s.streamAttr())
			durable = append(durable, e)
			continue
		}
		code := aws.ToString(r.ErrorCode)
		codes[code]++
		messages[code] = aws.ToString(r.ErrorMessage)
		failed = append(failed, e)
		if isThrottleCode(code) && !slices.Contains(throttled, e.shard) {
			throttled = append(throttled, e.shard)
		}
	}
	for shard, t := range tallies {
		attrs := metric.WithAttributes(attribute.String("stream", s.name), attribute.String("shard", shard))
		s.p.metrics.recordsPut.Add(s.p.ctx, t.records, attrs)
		s.p.metrics.eventsPut.Add(s.p.ctx, t.events, attrs)
		s.p.metrics.bytesPut.Add(s.p.ctx, t.bytes, attrs)
	}
	result := "ok"
	if len(failed) > 0 {
		result = "partial"
	}
	s.p.metrics.putDuration.Record(s.p.ctx, took, metric.WithAttributes(attribute.String("stream", s.name), attribute.String("outcome", result)))
	// Callers are woken once the counters include their records.
	for _, e := range durable {
		s.finish(e, nil)
	}
	if moved {
		// A record landed on a shard the map did not predict: the stream was resharded.
		s.note(func(n *notes) { n.refresh = true })
	}
	if len(failed) == 0 {
		s.setFailure(nil)
		return nil, nil, nil, false
	}
	s.settle(failed, false)
	kind = failServer
	if len(throttled) > 0 {
		kind = failThrottled
	}
	var summary []string
	for _, code := range slices.Sorted(maps.Keys(codes)) {
		n := codes[code]
		summary = append(summary, fmt.Sprintf("%d %s (%s)", n, code, messages[code]))
		s.p.metrics.failedEntries.Add(s.p.ctx, int64(n), metric.WithAttributes(attribute.String("stream", s.name), attribute.String("code", code)))
		s.p.log.Warn("kinesis put records: entries failed", "stream", s.name, "code", code, "entries", n,
			"of", len(entries), "attempt", attempt, "message", messages[code])
	}
	f = &failure{kind: kind, err: fmt.Errorf("%d of %d records failed: %s", len(failed), len(entries), strings.Join(summary, ", "))}
	s.setFailure(f)
	return failed, f, throttled, false
}

// finish ends an entry: durable (f nil) or failed. It wakes the callers and releases
// the entry's in-flight bytes.
func (s *streamProducer) finish(e *entry, f *failure) {
	s.release(e.bytes)
	s.completeEvents(e.events, f)
}

func (s *streamProducer) finishEntries(entries []*entry, f *failure) {
	for _, e := range entries {
		s.finish(e, f)
	}
}

// completeEvents reports events durable (f nil) or failed to their calls, one report
// per run of events of the same call, and counts the events durable after their call
// had ended with an error.
func (s *streamProducer) completeEvents(evs []*event, f *failure) {
	if f != nil {
		s.p.metrics.eventsFailed.Add(s.p.ctx, int64(len(evs)), metric.WithAttributes(
			attribute.String("stream", s.name), attribute.String("reason", f.kind.String())))
	}
	for c, run := range callRuns(evs) {
		late, after := c.complete(run, f, func(o *outcome) error { return s.failedError(len(c.events), f, o) })
		if late > 0 {
			s.p.metrics.eventsWrittenLate.Add(s.p.ctx, int64(late), metric.WithAttributes(
				attribute.String("stream", s.name), attribute.String("after", after)))
		}
	}
}

// startLoad starts the loader goroutine, which loads the shard map and reports it.
func (s *streamProducer) startLoad(ctx context.Context, now time.Time) {
	b := &s.batch
	b.loading, b.lastLoad = true, now
	b.nextRefresh = now.Add(s.cfg.ShardRefresh)
	initial := b.smap == nil
	s.senders.Add(1)
	go func() {
		defer s.senders.Done()
		s.load(ctx, initial)
	}()
}

// load lists the stream's shards until it succeeds. The first load of a stream tries
// until the batcher stops it: once its retry budget is spent, it reports the failure
// (Puts then fail at once) and goes on trying. A refresh gives up with the budget and
// keeps the old map.
func (s *streamProducer) load(ctx context.Context, initial bool) {
	start := time.Now()
	reported := false
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		m, err := loadShardMap(actx, s.client.api, s.name, time.Now())
		cancel()
		if err == nil {
			s.blocked.Store(nil)
			s.note(func(n *notes) { n.newMap, n.loadDone = m, true })
			return
		}
		if ctx.Err() != nil {
			break
		}
		kind := classify(err, false)
		f := &failure{kind: kind, err: err}
		s.setFailure(f)
		s.p.log.Warn("kinesis list shards failed", "stream", s.name, "endpoint", s.client.endpoint,
			"attempt", attempt, "kind", kind.String(), "err", err)
		elapsed := time.Since(start)
		spent := !kind.retryable() || attempt >= s.cfg.Retry.MaxAttempts || elapsed >= s.cfg.Retry.Timeout
		if spent && !initial {
			break
		}
		if spent && !reported {
			reported = true
			bf := &failure{kind: kind, err: err, attempts: attempt, elapsed: elapsed}
			if !kind.retryable() {
				bf.attempts = 0
			}
			s.blocked.Store(bf)
			s.note(func(n *notes) { n.loadFail = bf })
		}
		if !retry.Sleep(ctx, s.backoff(attempt)) {
			break
		}
	}
	s.note(func(n *notes) { n.loadDone = true })
}
