package syslog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-siem/sluice/gateway"
)

// batch is the events of messages read and not yet ingested: their documents in one
// arena, their places in spans. Batches are pooled by the server and taken by a
// connection (or UDP worker) from its first message to the Ingest call, so idle
// connections hold none.
type batch struct {
	arena  []byte
	spans  []span
	events []gateway.Event
	// first is when the first message was added.
	first      time.Time
	parseFails int
}

// span is one event of a batch: arena[start:end], or err when it is not sent.
type span struct {
	start, end int
	typ        string
	err        error
}

func newBatch(bytes, events int) *batch {
	return &batch{arena: make([]byte, 0, bytes+bytes/8), spans: make([]span, 0, min(events, 4096))}
}

func (b *batch) reset() {
	b.arena = b.arena[:0]
	clear(b.spans)
	b.spans = b.spans[:0]
	clear(b.events)
	b.events = b.events[:0]
	b.parseFails = 0
}

// getBatch takes a batch from the pool.
func (s *Server) getBatch() *batch { return s.batches.Get().(*batch) }

// putBatch returns a batch to the pool; one grown past twice its size by an outsized
// message is left to the collector.
func (s *Server) putBatch(b *batch) {
	b.reset()
	if cap(b.arena) <= 2*s.batchBytes {
		s.batches.Put(b)
	}
}

// full reports whether the batch should be ingested before another message is added.
func (s *Server) full(b *batch) bool {
	return len(b.spans) >= s.batchEvents || len(b.arena) >= s.batchBytes
}

// add makes the event of one message, received at now from source, and adds it to b.
// A message whose event would exceed gateway.limits.max_event_bytes is added as a
// rejection, without its document, so that the gateway counts it.
func (s *Server) add(b *batch, msg []byte, source string, now time.Time) {
	if len(b.spans) == 0 {
		b.first = now
	}
	if len(msg) > s.maxEvent {
		b.spans = append(b.spans, span{err: s.tooLarge(len(msg))})
		return
	}
	start := len(b.arena)
	arena, typ, ok := s.parser.AppendEvent(b.arena, msg, source, now)
	if !ok {
		b.parseFails++
	}
	if n := len(arena) - start; n > s.maxEvent {
		b.arena = arena[:start]
		b.spans = append(b.spans, span{typ: typ, err: s.tooLarge(n)})
		return
	}
	b.arena = arena
	b.spans = append(b.spans, span{start: start, end: len(arena), typ: typ})
}

func (s *Server) tooLarge(n int) error {
	return gateway.Errorf(gateway.KindTooLarge, "event of the message is %d bytes, limit is %d (gateway.limits.max_event_bytes)", n, s.maxEvent)
}

// ingest hands the batch to the gateway and counts the outcome. It retries the same
// events after an overloaded or unavailable answer, with a backoff doubling up to
// retryMax, as long as ctx lives and, once the server stops, the gateway is ready;
// any other error drops the batch (counted lost, logged). Events rejected one by one
// are counted by reason and logged, rate-limited. The caller keeps b.
func (s *Server) ingest(ctx context.Context, la *listenerAttrs, name string, b *batch, log *slog.Logger) {
	if len(b.spans) == 0 {
		return
	}
	if b.parseFails > 0 {
		s.metrics.parseFails.Add(ctx, int64(b.parseFails), la.listener)
	}
	evs := b.events[:0]
	for _, sp := range b.spans {
		ev := gateway.Event{Type: sp.typ, Err: sp.err}
		if sp.err == nil {
			ev.Doc = b.arena[sp.start:sp.end]
		}
		evs = append(evs, ev)
	}
	b.events = evs
	backoff := retryMin
	for attempt := 1; ; attempt++ {
		res, err := s.ing.Ingest(ctx, gateway.Batch{Receiver: receiverName, Events: evs})
		if err == nil {
			s.counted(ctx, la, name, res, b, log)
			return
		}
		kind := gateway.KindOf(err)
		retry := kind == gateway.KindOverloaded || kind == gateway.KindUnavailable
		switch {
		case ctx.Err() != nil:
			s.lost(ctx, la, name, len(evs), log, "the receiver stopped before the gateway took them", err)
			return
		case !retry:
			s.lost(ctx, la, name, len(evs), log, "the gateway refused the batch", err)
			return
		case s.conns.Stopping() && !s.ing.Ready():
			s.lost(ctx, la, name, len(evs), log, "the gateway is draining and the receiver is stopping", err)
			return
		}
		s.metrics.retries.Add(ctx, 1, la.listener)
		level := slog.LevelDebug
		if attempt == 1 {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "gateway busy, holding the syslog batch and retrying (the sender is not read meanwhile)",
			"kind", kind.String(), "attempt", attempt, "messages", len(evs), "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.lost(ctx, la, name, len(evs), log, "the receiver stopped before the gateway took them", fmt.Errorf("wait to retry: %w", ctx.Err()))
			return
		}
		backoff = min(2*backoff, retryMax)
	}
}

// counted records a batch the gateway took: accepted events, and the rejected ones by
// reason, logged at most once per interval.
func (s *Server) counted(ctx context.Context, la *listenerAttrs, name string, res gateway.Result, b *batch, log *slog.Logger) {
	if res.Accepted > 0 {
		s.metrics.messages.Add(ctx, int64(res.Accepted), la.accepted)
	}
	if len(res.Rejections) == 0 {
		return
	}
	byKind := map[gateway.Kind]int64{}
	for _, rj := range res.Rejections {
		byKind[rj.Kind]++
	}
	for k, n := range byKind {
		s.metrics.messages.Add(ctx, n, s.metrics.attrs("listener", name, "result", resultRejected, "reason", k.String()))
	}
	if ok, n := s.limiter.allow("rejected"); ok {
		rj := res.Rejections[0]
		typ := ""
		if rj.Index >= 0 && rj.Index < len(b.spans) {
			typ = b.spans[rj.Index].typ
		}
		log.Warn("syslog messages rejected by the gateway and dropped", "kind", rj.Kind.String(), "type", typ,
			"reason", rj.Reason, "in_batch", len(res.Rejections), "batches_since_last_line", n)
	}
}

// lost records n messages that were read and will never be delivered.
func (s *Server) lost(ctx context.Context, la *listenerAttrs, name string, n int, log *slog.Logger, why string, err error) {
	s.metrics.messages.Add(context.WithoutCancel(ctx), int64(n), la.lost)
	if ok, batches := s.limiter.allow("lost_" + name); ok {
		log.Error("syslog messages lost: "+why, "messages", n, "kind", gateway.KindOf(err).String(), "err", err, "batches_since_last_line", batches)
	}
}
