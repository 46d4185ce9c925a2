// Package embedded is the embedded stream of `sluice dev` and of tests: the stream
// between step 3 of the data path (produce) and step 4 (consume) when no Kinesis is
// configured. It keeps records in memory, partitioned like Kinesis (MD5 of the
// partition key over equal hash-key ranges, per-shard sequence numbers), behind the
// same producer and consumer shape the Kinesis implementation has, so the gateway and
// the transform tier run the same code path against either.
//
// Contracts:
//   - Put is atomic per call and blocks while the stream is full (backpressure); when it
//     returns nil the records are durable for the embedded stream, that is, they stay
//     until a consumer acknowledges them.
//   - Consume delivers each shard's records in order, at least once: a batch is
//     forgotten only when the handler returns nil for it; otherwise it is redelivered.
//   - Memory is bounded by Config.MaxBytes of record bytes plus small per-record
//     overhead. The process is the only copy: records are lost when it exits, which is
//     why `sluice dev` drains with WaitEmpty on shutdown.
//
// The Kinesis rules the stream applies (ShardIndex, ShardID, FormatSequence,
// CheckPartitionKey, PlaceRecords, ValidateStreams and the like) are exported because
// the durable embedded stream, stream/embedded/durable, applies the same ones.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded/internal/budget"
)

// Stream is an embedded, in-memory, sharded stream. Create it with New; its methods are
// safe for concurrent use. It starts no goroutines of its own: only Consume does, and
// they end before Consume returns.
type Stream struct {
	cfg Config
	log *slog.Logger
	// streams and shards are read-only after New.
	streams map[string][]*shard // by stream name, in shard id order
	shards  []*shard            // every shard of every stream

	// budget counts the bytes of records put and not yet acknowledged, plus the room
	// reserved by Puts in progress, against cfg.MaxBytes.
	budget *budget.Budget

	mu sync.Mutex
	// consuming is set while a Consume call runs.
	consuming bool
}

// Handler processes one batch of a shard. Returning nil acknowledges every record of the
// batch; returning an error makes the stream redeliver the same records later. The
// handler owns the batch's Records slice until it returns, but the record Data and
// PartitionKey bytes are shared with the stream and must not be modified: a failed
// batch is redelivered from them.
type Handler = func(context.Context, stream.Batch) error

// New validates cfg (reporting every problem), applies defaults and returns an empty
// stream.
func New(cfg Config) (*Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("embedded stream config: %w", err)
	}
	cfg = cfg.withDefaults()
	s := &Stream{
		cfg:     cfg,
		log:     cfg.Logger,
		streams: make(map[string][]*shard, len(cfg.Streams)),
		budget:  budget.New(cfg.MaxBytes, 0),
	}
	base := SequenceBase(cfg.Now())
	for _, name := range cfg.Streams {
		shards := make([]*shard, cfg.Shards)
		for i := range shards {
			shards[i] = newShard(name, i, base)
		}
		s.streams[name] = shards
		s.shards = append(s.shards, shards...)
	}
	return s, nil
}

// Used returns the bytes retained now: records put and not yet acknowledged, plus room
// reserved by Puts that are appending.
func (s *Stream) Used() int64 { return s.budget.Used() }

// Capacity returns the most bytes the stream retains (Config.MaxBytes).
func (s *Stream) Capacity() int64 { return s.cfg.MaxBytes }

// Put appends recs to the named stream, each to the shard its partition key hashes to,
// keeping their order within a shard. It is atomic: either every record is appended and
// nil returned, and the records then stay until a consumer acknowledges them, or none
// is. Put copies what it keeps; the caller may reuse recs and their Data once it
// returns.
//
// Errors: an unknown stream wraps stream.ErrUnknownStream; a record over
// Config.MaxRecordBytes, a partition key over MaxPartitionKeyChars, or a call over
// Config.MaxBytes in total wraps stream.ErrTooLarge; an empty partition key is an error
// too. These are permanent. If there is no room, Put blocks, behind earlier blocked
// Puts, until acknowledgements free enough; if ctx ends first it returns an error
// wrapping both stream.ErrFull and ctx.Err(). An empty recs is a no-op.
func (s *Stream) Put(ctx context.Context, streamName string, recs []stream.Record) error {
	shards, ok := s.streams[streamName]
	if !ok {
		return fmt.Errorf("put %d records to %s: %w", len(recs), streamName, stream.ErrUnknownStream)
	}
	if len(recs) == 0 {
		return nil
	}
	order, total, err := PlaceRecords(recs, len(shards), s.cfg.MaxRecordBytes, s.cfg.MaxBytes)
	if err != nil {
		return fmt.Errorf("put %d records to %s: %w", len(recs), streamName, err)
	}
	if err := s.budget.Reserve(ctx, total); err != nil {
		return fmt.Errorf("put %d records (%d bytes) to %s: %w", len(recs), total, streamName, err)
	}

	// Room is reserved: from here on nothing can fail. Copy outside any lock, in shard
	// order, then append each shard's run under that shard's lock.
	arrival := s.cfg.Now()
	out := make([]stream.Delivered, len(order))
	for i, p := range order {
		r := recs[p.Rec]
		out[i] = stream.Delivered{
			Record: stream.Record{
				// Clones keep retained memory equal to what is counted: a key that
				// is a substring of a large request must not pin the request.
				PartitionKey: strings.Clone(r.PartitionKey),
				Data:         cloneBytes(r.Data),
			},
			Stream:  streamName,
			Shard:   shards[p.Shard].id,
			Arrival: arrival,
		}
	}
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && order[j].Shard == order[i].Shard {
			j++
		}
		shards[order[i].Shard].append(out[i:j])
		i = j
	}
	return nil
}

// WaitEmpty blocks until every record put so far has been acknowledged (Used() has
// been zero since the call), or ctx ends; then it returns ctx.Err() wrapped with the
// bytes still retained. It is the drain step of a graceful shutdown: stop the
// receivers, WaitEmpty, then stop Consume.
func (s *Stream) WaitEmpty(ctx context.Context) error {
	if err := s.budget.WaitEmpty(ctx); err != nil {
		return fmt.Errorf("wait for stream to empty: %d bytes not yet acknowledged: %w", s.Used(), err)
	}
	return nil
}

// Consume delivers the records of every shard of every stream to h until ctx ends, one
// goroutine per shard, each shard's batches in order and one at a time. A batch is a
// run of consecutive records of one shard, at most Config.BatchRecords records and
// Config.BatchBytes bytes (a larger single record goes alone). When h returns nil the
// batch is acknowledged: its records are forgotten and their room freed for blocked
// Puts. When h returns an error, the error is logged and the same records are
// redelivered after Config.RetryBackoff, doubling up to MaxRetryBackoff and reset by
// the next success.
//
// Consume returns nil once ctx is done and every handler call in progress has
// returned. Unacknowledged records stay in the stream, so a later Consume delivers
// them again (at least once). Only one Consume may run at a time; a concurrent call
// returns an error at once.
func (s *Stream) Consume(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("consume: nil handler")
	}
	s.mu.Lock()
	if s.consuming {
		s.mu.Unlock()
		return errors.New("consume: another Consume call is already running on this stream")
	}
	s.consuming = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.consuming = false
		s.mu.Unlock()
	}()

	s.log.Debug("consume started", "streams", len(s.streams), "shards", len(s.shards))
	var wg sync.WaitGroup
	for _, sh := range s.shards {
		wg.Go(func() { s.consumeShard(ctx, sh, h) })
	}
	wg.Wait()
	s.log.Debug("consume stopped")
	return nil
}

// consumeShard is the delivery loop of one shard, until ctx ends.
func (s *Stream) consumeShard(ctx context.Context, sh *shard, h Handler) {
	backoff := s.cfg.RetryBackoff
	retry := 0 // records of the failed batch to redeliver, 0 if none
	for ctx.Err() == nil {
		var recs []stream.Delivered
		if retry > 0 {
			// Exactly the failed records again, even if more have arrived since.
			recs = sh.peek(retry, math.MaxInt)
		} else {
			recs = sh.peek(s.cfg.BatchRecords, s.cfg.BatchBytes)
		}
		if len(recs) == 0 {
			select {
			case <-sh.notify:
			case <-ctx.Done():
			}
			continue
		}
		n := len(recs) // h may change the batch's slice; n is what was delivered
		err := h(ctx, stream.Batch{Stream: sh.stream, Shard: sh.id, Records: recs})
		if err == nil {
			s.budget.Release(sh.drop(n))
			backoff, retry = s.cfg.RetryBackoff, 0
			continue
		}
		retry = n
		if ctx.Err() != nil {
			// Stopping: the batch stays for the next Consume.
			s.log.Debug("handler failed while stopping, batch left for redelivery",
				"stream", sh.stream, "shard", sh.id, "records", n, "err", err)
			return
		}
		s.log.Warn("handler failed, redelivering batch",
			"stream", sh.stream, "shard", sh.id, "records", n,
			"first_sequence", recs[0].Sequence, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = nextBackoff(backoff)
	}
}

// nextBackoff doubles a redelivery wait up to MaxRetryBackoff; a wait already above the
// cap (a large Config.RetryBackoff) stays as it is.
func nextBackoff(d time.Duration) time.Duration {
	if d >= MaxRetryBackoff {
		return d
	}
	return min(2*d, MaxRetryBackoff)
}

// cloneBytes copies b into a slice of exactly its length, so that a handler appending
// to a delivered record's Data reallocates instead of writing into the stream. An
// empty b becomes nil, so no caller buffer is kept.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
