// Package durable is the durable embedded stream of `sluice dev`: the stream between
// step 3 of the data path (produce) and step 4 (consume) when no Kinesis is
// configured, kept on local disk in a Pebble database so that records acknowledged
// to a shipper survive a crash of the process (kill -9) or of the machine (with the
// default Sync always; see SyncMode).
//
// Its producer side has the contract of the in-memory embedded.Stream: Put is atomic
// per call, partitions like Kinesis (MD5 of the partition key over equal hash-key
// ranges, the same shard number as the in-memory stream), and blocks while the disk
// budget is used up: the rules, the placing of records and the budget are the
// in-memory stream's own code (package embedded and its internal budget). Its
// consumer side is the one the Kinesis path has: Stream is a consume.Source (Shards,
// Open returning a stream.ShardReader) and Leases returns a consume.LeaseStore kept in
// the same database, so the transform tier reads it with the same consumer, leases
// and checkpoints, and a restart resumes from the checkpoints. The package does not import transform/consume: steps meet only through
// the contracts in package stream, and its methods match those interfaces.
//
// Contracts:
//   - Put returns nil once the records are applied, in order, and (Sync always, the
//     default) fsynced; concurrent Puts share fsyncs. From then on the records stay
//     until the lease of their shard is checkpointed past them, or until they are
//     older than Config.Retention.
//   - Records are read in order per shard, from a checkpoint or a start position, each
//     record with its own copy of the data.
//   - Disk use is bounded by Config.MaxBytes of record bytes plus the database's
//     overhead; memory by Pebble's memtables and block cache (about 16 MiB) plus what
//     Puts and Reads in progress hold.
//   - Corrupt data is reported by Read (and logged), never skipped.
package durable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
	"github.com/sluice-siem/sluice/stream/embedded/internal/budget"
)

// ErrClosed reports a call on a Stream that Close has closed, or a call that Close
// interrupted.
var ErrClosed = errors.New("durable stream closed")

// Stream is a durable, sharded stream in a directory. Create it with Open and close it
// with Close; its methods are safe for concurrent use. It runs two goroutines of its
// own between Open and Close: the trim pass (deleting consumed and expired records)
// and, for Sync interval, the periodic fsync.
type Stream struct {
	cfg     Config
	log     *slog.Logger
	db      *pebble.DB
	lock    *pebble.Lock  // of the directory, held from before Open to after Close
	syncs   *atomic.Int64 // fsyncs of the write-ahead log
	metrics *metrics
	// streams and shards are read-only after Open.
	streams map[string][]*shard
	shards  []*shard
	leases  *LeaseStore

	// putMu serializes the apply step of Puts, so that records become visible in the
	// order of their sequence numbers: a reader never sees a record before an earlier
	// one of its shard.
	putMu sync.Mutex
	// lastArrival is the arrival of the newest record (unix nanoseconds): arrivals
	// never go back, even if the clock does. Guarded by putMu.
	lastArrival int64

	// life guards the database against Close: every use of db holds it for reading,
	// Close takes it for writing.
	life    sync.RWMutex
	closed  bool  // guarded by life
	syncErr error // the final sync of Close, guarded by life

	done      chan struct{} // closed by Close: goroutines stop, waits end
	closeOnce sync.Once
	closeErr  error
	bg        sync.WaitGroup

	// dirty is set by a Put whose records are not yet synced (Sync interval).
	dirty atomic.Bool
	// kick wakes the trim pass (a checkpoint moved).
	kick chan struct{}
	// trimMu makes trim passes one at a time.
	trimMu sync.Mutex
	// compaction gathers what the trim pass deleted, for the compaction that gives
	// its disk space back.
	compaction compactor

	ckMu sync.Mutex
	// checkpoints are the checkpoints of the leases, by lease key.
	checkpoints map[string]stream.Checkpoint

	// budget counts the bytes of records retained (put and not deleted), plus the
	// room reserved by Puts in progress, against cfg.MaxBytes.
	budget *budget.Budget
}

// Open validates cfg (reporting every problem), opens or creates the stream database
// in cfg.Dir and recovers it: Pebble replays its write-ahead log up to the last
// complete record (Open refuses a log damaged before its end, with intact records
// after the damage, unless cfg.RecoverCorruptWAL; see inspectWAL), and the stream
// recovers each shard's sequence numbers, counters and the leases' checkpoints, then
// logs what it holds. It starts the trim pass (and the
// periodic fsync of Sync interval). ctx bounds the recovery only.
func Open(ctx context.Context, cfg Config) (*Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("durable stream config: %w", err)
	}
	cfg = cfg.withDefaults()
	started := time.Now()
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("open durable stream: %w", err)
	}
	log := cfg.Logger.With("dir", cfg.Dir)
	// Lock first: the log is inspected only when no other process writes it.
	lock, err := pebble.LockDirectory(cfg.Dir, vfs.Default)
	if err != nil {
		return nil, fmt.Errorf("open durable stream: lock %s (is another process using it?): %w", cfg.Dir, err)
	}
	if err := inspectWAL(cfg.Dir, cfg.RecoverCorruptWAL, log); err != nil {
		return nil, errors.Join(fmt.Errorf("open durable stream: %w", err), lock.Close())
	}
	syncs := new(atomic.Int64)
	opts := pebbleOptions(log.With("component", "pebble"), syncs)
	opts.Lock = lock
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open durable stream database in %s: %w", cfg.Dir, err), lock.Close())
	}
	s := &Stream{
		cfg:         cfg,
		log:         log,
		db:          db,
		lock:        lock,
		syncs:       syncs,
		streams:     map[string][]*shard{},
		done:        make(chan struct{}),
		kick:        make(chan struct{}, 1),
		checkpoints: map[string]stream.Checkpoint{},
	}
	s.leases = &LeaseStore{s: s}
	sum, err := s.recover(ctx)
	if err == nil {
		s.budget = budget.New(cfg.MaxBytes, sum.bytes)
		s.metrics, err = newMetrics(s)
	}
	if err != nil {
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
		}
		return nil, errors.Join(err, lock.Close())
	}
	attrs := []any{"streams", len(s.streams), "shards", len(s.shards),
		"records", sum.records, "bytes", sum.bytes, "leases", sum.leases, "took", time.Since(started).Round(time.Millisecond)}
	if sum.oldest != 0 {
		attrs = append(attrs, "oldest_record_age", s.cfg.Now().Sub(time.Unix(0, sum.oldest)).Round(time.Second))
	}
	log.Info("durable stream opened", attrs...)
	if sum.bytes > s.cfg.MaxBytes {
		log.Warn("durable stream holds more than max bytes: puts wait until consumers catch up",
			"bytes", sum.bytes, "max_bytes", s.cfg.MaxBytes)
	}
	s.bg.Go(s.trimLoop)
	if cfg.Sync == SyncOnInterval {
		s.bg.Go(s.syncLoop)
	}
	return s, nil
}

// recovered is what Open found in the database.
type recovered struct {
	records, bytes int64
	leases         int
	oldest         int64 // arrival of the oldest record, unix nanoseconds; 0 if none
}

// recover loads the streams, their shards and the leases' checkpoints, creating the
// streams of the configuration that do not exist yet.
func (s *Stream) recover(ctx context.Context) (recovered, error) {
	var sum recovered
	if err := s.checkFormat(); err != nil {
		return sum, err
	}
	stored, err := s.storedStreams()
	if err != nil {
		return sum, err
	}
	create := s.db.NewBatch()
	defer create.Close()
	names := slices.Clone(s.cfg.Streams)
	for _, name := range s.cfg.Streams {
		n, ok := stored[name]
		switch {
		case !ok:
			if err := create.Set(streamKey(name), encodeStreamValue(s.cfg.Shards), nil); err != nil {
				return sum, fmt.Errorf("create stream %s: %w", name, err)
			}
			stored[name] = s.cfg.Shards
		case n != s.cfg.Shards:
			s.log.Warn("stream keeps the shard count it was created with; the configured count applies to new streams only",
				"stream", name, "shards", n, "configured_shards", s.cfg.Shards)
		}
	}
	var extra []string
	for name := range stored {
		if !slices.Contains(s.cfg.Streams, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	names = append(names, extra...)
	if !create.Empty() {
		if err := create.Commit(pebble.Sync); err != nil {
			return sum, fmt.Errorf("create streams: %w", err)
		}
	}

	base := embedded.SequenceBase(s.cfg.Now())
	for _, name := range names {
		shards := make([]*shard, stored[name])
		var records, bytes uint64
		for i := range shards {
			if err := ctx.Err(); err != nil {
				return sum, fmt.Errorf("recover stream %s: %w", name, err)
			}
			sh := newShard(name, i)
			if err := s.recoverShard(sh, base); err != nil {
				return sum, err
			}
			r, b := sh.retainedLocked()
			records += r
			bytes += b
			if sh.firstArrival != 0 && (sum.oldest == 0 || sh.firstArrival < sum.oldest) {
				sum.oldest = sh.firstArrival
			}
			s.lastArrival = max(s.lastArrival, sh.lastArrival)
			shards[i] = sh
		}
		s.streams[name] = shards
		s.shards = append(s.shards, shards...)
		sum.records += int64(records)
		sum.bytes += int64(bytes)
		if slices.Contains(extra, name) {
			s.log.Warn("stream in the directory is not configured; it stays readable and its records count against max bytes until consumed or expired",
				"stream", name, "records", records, "bytes", bytes)
		}
	}
	sum.leases, err = s.loadCheckpoints()
	return sum, err
}

// checkFormat refuses a database of another layout, and marks a new one.
func (s *Stream) checkFormat() error {
	v, closer, err := s.db.Get(formatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		it, err := s.db.NewIter(nil)
		if err != nil {
			return fmt.Errorf("check database format: %w", err)
		}
		nonEmpty := it.First()
		err = it.Close()
		if err != nil {
			return fmt.Errorf("check database format: %w", err)
		}
		if nonEmpty {
			return fmt.Errorf("database in %s is not a durable stream: it has no format key", s.cfg.Dir)
		}
		if err := s.db.Set(formatKey, []byte(formatValue), pebble.Sync); err != nil {
			return fmt.Errorf("mark database format: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("check database format: %w", err)
	}
	defer closer.Close()
	if string(v) != formatValue {
		return fmt.Errorf("database in %s has format %q, want %q", s.cfg.Dir, v, formatValue)
	}
	return nil
}

// storedStreams returns the shard count of every stream in the database.
func (s *Stream) storedStreams() (map[string]int, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindStream}, UpperBound: []byte{kindStream + 1}})
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	out := map[string]int{}
	for valid := it.First(); valid; valid = it.Next() {
		name, err := decodeStreamKey(it.Key())
		if err == nil {
			var v []byte
			if v, err = it.ValueAndErr(); err == nil {
				out[name], err = decodeStreamValue(v)
			}
		}
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("list streams: %w", err)
		}
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return out, nil
}

// recoverShard loads a shard's state: the counters of its last record (or of its high
// water when it has none), which the next Put continues from, and the arrival of its
// first record. The last record must be readable, since sequence numbers must never be
// reused; an unreadable first record is logged and left to Read to report.
func (s *Stream) recoverShard(sh *shard, base uint64) error {
	v, closer, err := s.db.Get(sh.hwKey)
	switch {
	case err == nil:
		sh.del, err = decodeHighWater(v)
		closer.Close()
		if err != nil {
			return fmt.Errorf("recover shard %s of %s: %w", sh.id, sh.stream, err)
		}
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("recover shard %s of %s: read high water: %w", sh.id, sh.stream, err)
	}
	sh.lastSeq, sh.cumBytes, sh.cumCount = sh.del.Seq, sh.del.CumBytes, sh.del.CumCount

	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: sh.prefix, UpperBound: sh.end})
	if err != nil {
		return fmt.Errorf("recover shard %s of %s: %w", sh.id, sh.stream, err)
	}
	defer it.Close()
	if it.Last() {
		seq, rec, err := decodeAt(it, sh.prefix)
		if err != nil {
			return fmt.Errorf("recover shard %s of %s: read its last record: %w", sh.id, sh.stream, err)
		}
		if seq <= sh.del.Seq || rec.CumBytes < sh.del.CumBytes || rec.CumCount <= sh.del.CumCount {
			return fmt.Errorf("recover shard %s of %s: last record %d (%d records, %d bytes) is not after the last deleted %d (%d records, %d bytes)",
				sh.id, sh.stream, seq, rec.CumCount, rec.CumBytes, sh.del.Seq, sh.del.CumCount, sh.del.CumBytes)
		}
		sh.lastSeq, sh.cumBytes, sh.cumCount, sh.lastArrival = seq, rec.CumBytes, rec.CumCount, rec.Arrival
	} else if err := it.Error(); err != nil {
		return fmt.Errorf("recover shard %s of %s: read its last record: %w", sh.id, sh.stream, err)
	}
	if sh.cumCount > sh.del.CumCount {
		if it.First() {
			if _, rec, err := decodeAt(it, sh.prefix); err == nil {
				sh.firstArrival = rec.Arrival
			} else {
				s.log.Error("read the first record of a shard", "stream", sh.stream, "shard", sh.id, errAttr(err))
			}
		} else if err := it.Error(); err != nil {
			s.log.Error("read the first record of a shard", "stream", sh.stream, "shard", sh.id, errAttr(err))
		}
	}
	if base > 0 && sh.lastSeq < base-1 {
		sh.lastSeq = base - 1
	}
	return nil
}

// decodeAt decodes the record the iterator is at.
func decodeAt(it *pebble.Iterator, prefix []byte) (uint64, recordValue, error) {
	seq, err := decodeRecordKey(prefix, it.Key())
	if err != nil {
		return 0, recordValue{}, err
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return 0, recordValue{}, fmt.Errorf("read record %s: %w", embedded.FormatSequence(seq), err)
	}
	rec, err := decodeRecordValue(v)
	if err != nil {
		return 0, recordValue{}, fmt.Errorf("corrupt record %s: %w", embedded.FormatSequence(seq), err)
	}
	return seq, rec, nil
}

// Close stops the stream's goroutines, wakes every blocked Put and waiting Read with
// an error wrapping ErrClosed, waits for the calls using the database to return,
// syncs the write-ahead log and closes the database. It is safe to call twice; the
// second call returns what the first did. Leases and readers must not be used after.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.budget.Close(ErrClosed)
		s.bg.Wait()
		s.metrics.unregister()
		s.life.Lock()
		defer s.life.Unlock()
		s.closed = true
		var errs []error
		if err := s.db.LogData(nil, pebble.Sync); err != nil {
			s.syncErr = err
			errs = append(errs, fmt.Errorf("sync write-ahead log: %w", err))
		}
		if err := s.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
		if err := s.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("unlock directory: %w", err))
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close durable stream in %s: %w", s.cfg.Dir, err)
			s.log.Error("durable stream closed with errors", errAttr(err))
			return
		}
		s.log.Info("durable stream closed")
	})
	return s.closeErr
}

// Used returns the bytes retained now: records put and not yet deleted, plus room
// reserved by Puts in progress.
func (s *Stream) Used() int64 { return s.budget.Used() }

// Capacity returns the most record bytes the stream retains (Config.MaxBytes).
func (s *Stream) Capacity() int64 { return s.cfg.MaxBytes }

// Put appends recs to the named stream, each to the shard its partition key hashes to
// (the same shard number as in the in-memory embedded stream), keeping their order
// within a shard. It is atomic: either every record is appended and nil returned, or
// none is. With Sync always it returns only after the records are fsynced; with
// interval or none, once they are applied and queued for the write-ahead log (see
// SyncMode for what a crash may then lose). The records stay until the lease of their
// shard is checkpointed past them or they expire. Put copies what it keeps; the
// caller may reuse recs once it returns.
//
// Errors: an unknown stream wraps stream.ErrUnknownStream; a record over
// Config.MaxRecordBytes, a partition key over embedded.MaxPartitionKeyChars, or a
// call over Config.MaxBytes in total (or over MaxPutBytes encoded) wraps
// stream.ErrTooLarge; an empty partition key is an error too. These are permanent. If
// there is no room, Put blocks, behind earlier blocked Puts, until deletions free
// enough; if ctx ends first it returns an error wrapping both stream.ErrFull and
// ctx.Err(). After Close it returns an error wrapping ErrClosed. An empty recs is a
// no-op.
func (s *Stream) Put(ctx context.Context, streamName string, recs []stream.Record) error {
	shards, ok := s.streams[streamName]
	if !ok {
		return fmt.Errorf("put %d records to %s: %w", len(recs), streamName, stream.ErrUnknownStream)
	}
	if len(recs) == 0 {
		return nil
	}
	order, total, err := embedded.PlaceRecords(recs, len(shards), s.cfg.MaxRecordBytes, s.cfg.MaxBytes)
	if err != nil {
		return fmt.Errorf("put %d records to %s: %w", len(recs), streamName, err)
	}
	// Checked before taking room too: what the batch of the Put holds once encoded.
	var encoded int64
	keyLen := len(shards[0].prefix) + 8
	for _, r := range recs {
		encoded += int64(batchEntryOverhead + keyLen + valueLen(len(r.PartitionKey), len(r.Data)))
	}
	if encoded > MaxPutBytes {
		return fmt.Errorf("put %d records to %s: %d bytes once encoded, over the limit of %d bytes per Put: %w",
			len(recs), streamName, encoded, MaxPutBytes, stream.ErrTooLarge)
	}

	if err := s.budget.Reserve(ctx, total); err != nil {
		return fmt.Errorf("put %d records (%d bytes) to %s: %w", len(recs), total, streamName, err)
	}
	if err := s.apply(shards, recs, order); err != nil {
		s.budget.Release(total)
		return fmt.Errorf("put %d records to %s: %w", len(recs), streamName, err)
	}
	if s.cfg.Sync == SyncAlways {
		start := time.Now()
		err := s.syncWAL()
		s.metrics.syncSeconds.Record(ctx, time.Since(start).Seconds())
		if err != nil {
			return fmt.Errorf("put %d records to %s: %w", len(recs), streamName, err)
		}
	}
	return nil
}

// MaxPutBytes bounds one Put call: the bytes of its records once encoded (each with
// its key and about 40 bytes of framing). Pebble refuses batches of 4 GiB and more by
// panicking; this keeps every Put far below.
const MaxPutBytes = 1 << 30

// batchEntryOverhead bounds what a Pebble batch adds to each entry: its kind and the
// varint lengths of key and value.
const batchEntryOverhead = 1 + 2*binary.MaxVarintLen32

// apply writes the records of a Put, in shard order, in one batch without waiting for
// an fsync, and makes them visible: sequence numbers are assigned and the batch is
// committed under putMu, so that records become visible in sequence order.
func (s *Stream) apply(shards []*shard, recs []stream.Record, order []embedded.Placed) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return ErrClosed
	}
	b := s.db.NewBatch()
	defer b.Close()

	// The state of each shard written, applied once the batch is committed.
	type next struct {
		sh                      *shard
		seq, cumBytes, cumCount uint64
	}
	var nexts []next

	s.putMu.Lock()
	defer s.putMu.Unlock()
	arrival := max(s.cfg.Now().UnixNano(), s.lastArrival)
	for i := 0; i < len(order); {
		sh := shards[order[i].Shard]
		sh.mu.Lock()
		n := next{sh: sh, seq: sh.lastSeq, cumBytes: sh.cumBytes, cumCount: sh.cumCount}
		sh.mu.Unlock()
		for ; i < len(order) && order[i].Shard == sh.index; i++ {
			r := recs[order[i].Rec]
			if n.seq >= math.MaxUint64-1 {
				return fmt.Errorf("shard %s has used up its sequence numbers", sh.id)
			}
			n.seq++
			n.cumBytes += uint64(r.Size())
			n.cumCount++
			op := b.SetDeferred(len(sh.prefix)+8, valueLen(len(r.PartitionKey), len(r.Data)))
			copy(op.Key, sh.prefix)
			putSeq(op.Key[len(sh.prefix):], n.seq)
			encodeRecordValue(op.Value, arrival, n.cumBytes, n.cumCount, r.PartitionKey, r.Data)
			if err := op.Finish(); err != nil {
				return fmt.Errorf("add record to batch: %w", err)
			}
		}
		nexts = append(nexts, n)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	s.lastArrival = arrival
	s.dirty.Store(true)
	for _, n := range nexts {
		sh := n.sh
		sh.mu.Lock()
		sh.lastSeq, sh.cumBytes, sh.cumCount, sh.lastArrival = n.seq, n.cumBytes, n.cumCount, arrival
		if sh.firstArrival == 0 {
			sh.firstArrival = arrival
		}
		if sh.wake != nil {
			close(sh.wake)
			sh.wake = nil
		}
		sh.mu.Unlock()
	}
	return nil
}

// syncWAL waits until everything committed so far is fsynced. It commits an empty,
// synced log entry: the log is written in order and one fsync covers every earlier
// entry, and Pebble gives concurrent synced commits one fsync (group commit).
func (s *Stream) syncWAL() error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		// Close synced the log after the records were written.
		if s.syncErr != nil {
			return fmt.Errorf("sync: %w: %w", ErrClosed, s.syncErr)
		}
		return nil
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// syncLoop fsyncs the log every SyncInterval while Puts wrote to it, until Close.
func (s *Stream) syncLoop() {
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if !s.dirty.Swap(false) {
			continue
		}
		if err := s.syncWAL(); err != nil {
			s.log.Error("periodic sync of the write-ahead log", errAttr(err))
		}
	}
}

// WaitEmpty blocks until every record put so far is deleted, that is checkpointed by
// its shard's lease (or expired), so that Used() has been zero since the call, or
// until ctx ends or the stream is closed; then it returns an error with the bytes
// still retained. It is the drain step of a graceful shutdown: stop the receivers,
// WaitEmpty, then stop the consumer.
func (s *Stream) WaitEmpty(ctx context.Context) error {
	if err := s.budget.WaitEmpty(ctx); err != nil {
		return fmt.Errorf("wait for stream to empty: %d bytes not yet checkpointed: %w", s.Used(), err)
	}
	return nil
}
