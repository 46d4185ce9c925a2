package durable

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// The read side of the stream: the consume.Source of the transform tier's consumer.

const (
	// readWait is how long a Read that finds no records waits for a Put to the shard
	// before it returns an empty page, so that a consumer polling an idle shard sees
	// new records at once rather than at its next poll.
	readWait = 500 * time.Millisecond
	// maxReadBytes bounds the record bytes of one page (at least one record is
	// returned), keeping the memory of a consumer's read bounded whatever its limit.
	maxReadBytes = 4 << 20
)

// Shards lists the shards of a stream: all open (shards are never closed or split),
// without parents. An unknown stream's error wraps stream.ErrUnknownStream.
func (s *Stream) Shards(ctx context.Context, streamName string) ([]stream.Shard, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list shards of %s: %w", streamName, err)
	}
	shards, ok := s.streams[streamName]
	if !ok {
		return nil, fmt.Errorf("list shards of %s: %w", streamName, stream.ErrUnknownStream)
	}
	out := make([]stream.Shard, len(shards))
	for i, sh := range shards {
		out[i] = stream.Shard{ID: sh.id}
	}
	return out, nil
}

// Open returns a reader of one shard positioned after from, or at start when from is
// zero: trim_horizon is the oldest record retained, latest the records put after
// Open, at_timestamp the first record that arrived at or after start.Timestamp.
// Records are never aggregated, so a Partial checkpoint is read as the record it
// names being done: reading resumes after it. ctx bounds the opening only. An unknown
// stream's error wraps stream.ErrUnknownStream; a checkpoint beyond the shard's last
// sequence number is an error, since reading after it would skip records put later.
func (s *Stream) Open(ctx context.Context, streamName, shardID string, from stream.Checkpoint, start stream.Start) (stream.ShardReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open shard %s of %s: %w", shardID, streamName, err)
	}
	shards, ok := s.streams[streamName]
	if !ok {
		return nil, fmt.Errorf("open shard %s of %s: %w", shardID, streamName, stream.ErrUnknownStream)
	}
	i, ok := parseShardID(shardID)
	if !ok || i >= len(shards) {
		return nil, fmt.Errorf("open shard %s of %s: stream %s has no such shard (it has %d)", shardID, streamName, streamName, len(shards))
	}
	sh := shards[i]
	r := &reader{s: s, sh: sh}
	sh.mu.Lock()
	last := sh.lastSeq
	sh.mu.Unlock()
	switch {
	case !from.IsZero():
		seq, err := parseSeq(from.Sequence)
		if err != nil {
			return nil, fmt.Errorf("open shard %s of %s after checkpoint: %w", shardID, streamName, err)
		}
		if seq > last {
			return nil, fmt.Errorf("open shard %s of %s: checkpoint %s is beyond the shard's last sequence number %s",
				shardID, streamName, from.Sequence, embedded.FormatSequence(last))
		}
		r.next = seq + 1
	case start.Position == stream.TrimHorizon:
	case start.Position == stream.Latest:
		r.next = last + 1
	case start.Position == stream.AtTimestamp:
		r.notBefore = start.Timestamp.UnixNano()
	default:
		return nil, fmt.Errorf("open shard %s of %s: unknown start position %q", shardID, streamName, start.Position)
	}
	return r, nil
}

// reader reads one shard forward. It is used by one goroutine at a time.
type reader struct {
	s  *Stream
	sh *shard
	// next is the least sequence number still to read.
	next uint64
	// notBefore skips records that arrived before it (at_timestamp, unix
	// nanoseconds), until the first record that did not; then it is zero.
	notBefore int64
	// failure is the last read error logged, so that a failure repeated by every
	// retry of the consumer is logged once.
	failure string
}

// Read returns the next records of the shard, at most limit of them and about
// maxReadBytes, each with its own copy of the data. When there are none it waits up
// to half a second for a Put to the shard (or until ctx ends) and reads again, so that
// the page may still be empty. MillisBehind is how much older the last record returned
// is than the newest record of the shard, 0 when the reader is caught up. A corrupt
// or unreadable record is an error (logged once per reader and failure) every time it
// is reached; the records before it are returned first.
func (r *reader) Read(ctx context.Context, limit int) (stream.Page, error) {
	if limit < 1 || limit > stream.MaxRecordsPerCall {
		return stream.Page{}, fmt.Errorf("read shard %s of %s: limit %d is outside 1..%d", r.sh.id, r.sh.stream, limit, stream.MaxRecordsPerCall)
	}
	wake := r.sh.watch()
	page, err := r.read(limit)
	if err != nil || len(page.Records) > 0 {
		return page, err
	}
	t := time.NewTimer(readWait)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
		return page, nil
	case <-ctx.Done():
		return page, fmt.Errorf("read shard %s of %s: %w", r.sh.id, r.sh.stream, ctx.Err())
	case <-r.s.done:
		return page, fmt.Errorf("read shard %s of %s: %w", r.sh.id, r.sh.stream, ErrClosed)
	}
	return r.read(limit)
}

// read returns the records available now.
func (r *reader) read(limit int) (stream.Page, error) {
	s, sh := r.s, r.sh
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return stream.Page{}, fmt.Errorf("read shard %s of %s: %w", sh.id, sh.stream, ErrClosed)
	}
	sh.mu.Lock()
	newestSeq, newestArrival := sh.lastSeq, sh.lastArrival
	sh.mu.Unlock()

	var (
		recs      []stream.Delivered
		size      int
		next      = r.next
		notBefore = r.notBefore
		lastSeq   uint64
	)
	err := s.scanRecords(sh, next, func(seq uint64, v recordValue) bool {
		next = seq + 1
		if notBefore != 0 {
			if v.Arrival < notBefore {
				return true
			}
			notBefore = 0
		}
		recs = append(recs, stream.Delivered{
			Record:   stream.Record{PartitionKey: string(v.Key), Data: bytes.Clone(v.Data)},
			Stream:   sh.stream,
			Shard:    sh.id,
			Sequence: embedded.FormatSequence(seq),
			Arrival:  time.Unix(0, v.Arrival),
		})
		lastSeq = seq
		size += len(v.Key) + len(v.Data)
		return len(recs) < limit && size < maxReadBytes
	})
	if err != nil && len(recs) == 0 {
		err = fmt.Errorf("read shard %s of %s from sequence number %s: %w", sh.id, sh.stream, embedded.FormatSequence(r.next), err)
		if msg := err.Error(); msg != r.failure {
			r.failure = msg
			s.log.Error("read shard", "stream", sh.stream, "shard", sh.id, errAttr(err))
		}
		return stream.Page{MillisBehind: -1}, err
	}
	r.next, r.notBefore, r.failure = next, notBefore, ""
	page := stream.Page{Records: recs}
	if len(recs) > 0 && lastSeq < newestSeq {
		page.MillisBehind = max(0, time.Duration(newestArrival-recs[len(recs)-1].Arrival.UnixNano()).Milliseconds())
	}
	return page, nil
}
