package durable

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// The trim pass: deleting what consumers checkpointed and what is older than the
// retention, and giving its bytes back to Put.

// trimEvery is the period of the trim pass; a checkpoint that moves runs it at once.
const trimEvery = time.Second

// trimLoop runs the trim pass over every shard at Open and every trimEvery, and over
// the shards whose checkpoint moved when one does, until Close.
func (s *Stream) trimLoop() {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	all := true
	for {
		s.trim(all)
		select {
		case <-s.done:
			return
		case <-t.C:
			all = true
		case <-s.kick:
			all = false
		}
	}
}

// trim runs one pass over every shard, or over those marked by a moved checkpoint. A
// shard that fails is logged (once per distinct failure) and tried again at the next
// pass.
func (s *Stream) trim(all bool) {
	s.trimMu.Lock()
	defer s.trimMu.Unlock()
	for _, sh := range s.shards {
		select {
		case <-s.done:
			return
		default:
		}
		if !sh.checkpointMoved.Swap(false) && !all {
			continue
		}
		err := s.trimShard(sh)
		switch {
		case err == nil:
			sh.trimFailure = ""
		case err.Error() != sh.trimFailure:
			sh.trimFailure = err.Error()
			s.log.Error("delete consumed and expired records", "stream", sh.stream, "shard", sh.id, errAttr(err))
		}
	}
	s.maybeCompact(time.Now())
}

// trimShard deletes the records of a shard at or before its lease's checkpoint, and
// those that arrived more than Config.Retention ago, in one batch with the shard's new
// high water, and releases their bytes. Only the trim pass deletes records (trimMu).
func (s *Stream) trimShard(sh *shard) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return nil
	}
	sh.mu.Lock()
	del, last := sh.del, sh.lastSeq
	retained, _ := sh.retainedLocked()
	sh.mu.Unlock()
	if retained == 0 {
		return nil
	}

	// Consumed: up to the checkpoint; a partial checkpoint leaves its record.
	consumed := del.Seq
	if cp, ok := s.checkpoint(stream.Lease{Stream: sh.stream, Shard: sh.id}.Key()); ok {
		seq, err := parseSeq(cp.Sequence)
		if err != nil {
			return fmt.Errorf("checkpoint of the shard's lease: %w", err)
		}
		if cp.Partial && seq > 0 {
			seq--
		}
		consumed = max(consumed, min(seq, last))
	}

	// Expired: the records from the oldest on that arrived before the cutoff.
	cutoff := s.cfg.Now().Add(-s.cfg.Retention).UnixNano()
	var (
		expiredTo    uint64 // last expired record, 0 if none
		firstArrival int64  // arrival of the oldest record
	)
	err := s.scanRecords(sh, del.Seq+1, func(seq uint64, v recordValue) bool {
		if firstArrival == 0 {
			firstArrival = v.Arrival
		}
		if v.Arrival >= cutoff {
			return false
		}
		expiredTo = seq
		return true
	})
	if err != nil {
		return err
	}

	target := max(consumed, expiredTo)
	if target <= del.Seq {
		sh.mu.Lock()
		sh.firstArrival = firstArrival
		sh.mu.Unlock()
		return nil
	}
	upTo, rec, ok, err := s.lastRecord(sh, del.Seq+1, target)
	if err != nil || !ok {
		return err
	}
	hw := highWater{Seq: upTo, CumBytes: rec.CumBytes, CumCount: rec.CumCount}
	var expired uint64 // records expired before they were consumed
	if expiredTo > consumed {
		keptCount := del.CumCount
		if seq, r, ok, err := s.lastRecord(sh, del.Seq+1, consumed); err != nil {
			return err
		} else if ok && seq > del.Seq {
			keptCount = r.CumCount
		}
		expired = hw.CumCount - keptCount
	}

	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(sh.prefix, recordKey(sh.prefix, upTo+1), nil); err != nil {
		return fmt.Errorf("delete records up to %s: %w", embedded.FormatSequence(upTo), err)
	}
	if err := b.Set(sh.hwKey, encodeHighWater(hw), nil); err != nil {
		return fmt.Errorf("delete records up to %s: %w", embedded.FormatSequence(upTo), err)
	}
	// Not synced: if the deletion is lost in a crash, the records come back and are
	// deleted again (the checkpoint that allowed it was synced first).
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("delete records up to %s: %w", embedded.FormatSequence(upTo), err)
	}

	firstArrival = 0
	if err := s.scanRecords(sh, upTo+1, func(_ uint64, v recordValue) bool {
		firstArrival = v.Arrival
		return false
	}); err != nil {
		// The deletion stands; the oldest record is read again at the next pass.
		s.log.Debug("read the oldest record after a deletion", "stream", sh.stream, "shard", sh.id, errAttr(err))
	}
	s.compaction.deleted(sh, recordKey(sh.prefix, upTo+1), int64(hw.CumBytes-del.CumBytes))
	sh.mu.Lock()
	sh.del = hw
	if left, _ := sh.retainedLocked(); firstArrival != 0 || left == 0 {
		sh.firstArrival = firstArrival
	}
	sh.mu.Unlock()
	s.budget.Release(int64(hw.CumBytes - del.CumBytes))

	if expired > 0 {
		s.metrics.expired.Add(context.Background(), int64(expired), metric.WithAttributes(attribute.String("stream", sh.stream)))
		s.log.Warn("records expired by retention before they were consumed",
			"stream", sh.stream, "shard", sh.id, "records", expired, "retention", s.cfg.Retention,
			"after_sequence", embedded.FormatSequence(consumed), "up_to_sequence", embedded.FormatSequence(upTo))
	}
	return nil
}

// scanRecords calls f for the records of sh from sequence number from on, in order,
// until f returns false. The caller holds the life lock.
func (s *Stream) scanRecords(sh *shard, from uint64, f func(uint64, recordValue) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: recordKey(sh.prefix, from), UpperBound: sh.end})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		seq, v, err := decodeAt(it, sh.prefix)
		if err != nil {
			return errors.Join(err, it.Close())
		}
		if !f(seq, v) {
			break
		}
	}
	return it.Close()
}

// lastRecord returns the last record of sh with a sequence number in from..to; ok is
// false if there is none. The caller holds the life lock.
func (s *Stream) lastRecord(sh *shard, from, to uint64) (uint64, recordValue, bool, error) {
	if to < from {
		return 0, recordValue{}, false, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: recordKey(sh.prefix, from), UpperBound: recordKey(sh.prefix, to+1)})
	if err != nil {
		return 0, recordValue{}, false, err
	}
	if !it.Last() {
		return 0, recordValue{}, false, it.Close()
	}
	seq, v, err := decodeAt(it, sh.prefix)
	if err != nil {
		return 0, recordValue{}, false, errors.Join(err, it.Close())
	}
	return seq, v, true, it.Close()
}

// Compaction of deleted records. A deletion of a shard's consumed (or expired)
// records writes a range tombstone: the records stay in their sstables, hidden, until
// a compaction merges the two, and Pebble's own compactions, driven by the sizes of
// its levels, may leave them there for long (48 MiB consumed: 12 MB of sstables still
// on disk 30 s later; TestDiskReclaimed). So the trim pass starts a compaction of the key ranges deleted since the
// last one, in the background and one at a time, once compactAfterBytes of records
// were deleted, or compactIdleBytes and no deletion followed for compactIdle.
const (
	compactAfterBytes = 32 << 20
	compactIdleBytes  = 1 << 20
	compactIdle       = 5 * time.Second
)

// compactor gathers the key ranges the trim pass deleted since the last compaction.
type compactor struct {
	mu      sync.Mutex
	ends    map[*shard][]byte // a shard's deleted records end before this key
	bytes   int64             // record bytes deleted since the last compaction started
	last    time.Time         // of the last deletion
	running bool
}

// deleted notes that sh's records before the key end, n bytes of them, were deleted.
func (c *compactor) deleted(sh *shard, end []byte, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ends == nil {
		c.ends = map[*shard][]byte{}
	}
	c.ends[sh] = end
	c.bytes += n
	c.last = time.Now()
}

// take returns the ranges to compact if it is time to at now, and forgets them; nil
// if not.
func (c *compactor) take(now time.Time) map[*shard][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running || c.bytes < compactIdleBytes || (c.bytes < compactAfterBytes && now.Sub(c.last) < compactIdle) {
		return nil
	}
	ends := c.ends
	c.ends, c.bytes, c.running = nil, 0, true
	return ends
}

// finish marks the compaction that take started as ended.
func (c *compactor) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = false
}

// maybeCompact starts the compaction of the records deleted since the last one when
// it is time (see compactor), on a goroutine of its own that Close cancels and waits
// for. The trim pass calls it, from a goroutine of the stream's background group.
func (s *Stream) maybeCompact(now time.Time) {
	ends := s.compaction.take(now)
	if ends == nil {
		return
	}
	s.bg.Go(func() {
		defer s.compaction.finish()
		s.compact(ends)
	})
}

// compact compacts the key range of each shard from its first record key to its end
// in ends, the deleted records, so that their sstables are rewritten without them.
// Close cancels it: a compaction of Pebble's already running finishes within
// Pebble's Close.
func (s *Stream) compact(ends map[*shard][]byte) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return
	}
	started := time.Now()
	for sh, end := range ends {
		if err := s.db.Compact(ctx, sh.prefix, end, false); err != nil {
			if ctx.Err() == nil {
				s.log.Error("compact deleted records", "stream", sh.stream, "shard", sh.id, errAttr(err))
			}
			return
		}
	}
	s.log.Debug("compacted deleted records", "shards", len(ends), "took", time.Since(started).Round(time.Millisecond))
}
