package durable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluice-siem/sluice/stream"
)

// LeaseStore is the lease table of a durable stream, in the stream's own database: it
// has the methods of consume.LeaseStore, with the same compare-and-swap conditions
// (those of consume.MemoryStore), and every write is fsynced before it returns. The
// checkpoints it holds are what the stream deletes consumed records by, so one
// consumer group reads a durable stream. Get it with Stream.Leases; it is safe for
// concurrent use and must not be used after the stream is closed.
type LeaseStore struct {
	s *Stream
	// mu makes each conditional write's read and write one step.
	mu sync.Mutex
}

// Leases returns the stream's lease store.
func (s *Stream) Leases() *LeaseStore { return s.leases }

// List returns every lease, read from one consistent view of the database.
func (ls *LeaseStore) List(ctx context.Context) ([]stream.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	s := ls.s
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("list leases: %w", ErrClosed)
	}
	out, err := s.scanLeases()
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}

// Get returns the lease of one shard, or an error wrapping stream.ErrNotFound.
func (ls *LeaseStore) Get(ctx context.Context, streamName, shard string) (stream.Lease, error) {
	key := stream.Lease{Stream: streamName, Shard: shard}.Key()
	if err := ctx.Err(); err != nil {
		return stream.Lease{}, fmt.Errorf("get lease %s: %w", key, err)
	}
	s := ls.s
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return stream.Lease{}, fmt.Errorf("get lease %s: %w", key, ErrClosed)
	}
	l, err := ls.get(streamName, shard)
	if err != nil {
		return stream.Lease{}, fmt.Errorf("get lease %s: %w", key, err)
	}
	return l, nil
}

// Create stores l if no lease of its shard exists, else returns an error wrapping
// stream.ErrConflict.
func (ls *LeaseStore) Create(ctx context.Context, l stream.Lease) error {
	return ls.write(ctx, "create", l, func() error {
		_, err := ls.get(l.Stream, l.Shard)
		switch {
		case err == nil:
			return fmt.Errorf("exists: %w", stream.ErrConflict)
		case errors.Is(err, stream.ErrNotFound):
			return ls.put(l)
		default:
			return err
		}
	})
}

// Update replaces old by l (same shard) if the stored lease still has old's Counter,
// Owner and NextOwner; otherwise, or if the lease is gone, it returns an error wrapping
// stream.ErrConflict. A checkpoint that moves wakes the trim pass, which deletes the
// records it covers.
func (ls *LeaseStore) Update(ctx context.Context, old, l stream.Lease) error {
	if old.Key() != l.Key() {
		return fmt.Errorf("update lease %s with lease %s: keys differ", old.Key(), l.Key())
	}
	return ls.write(ctx, "update", l, func() error {
		if err := ls.check(old); err != nil {
			return err
		}
		return ls.put(l)
	})
}

// Delete removes the lease old under the same condition as Update.
func (ls *LeaseStore) Delete(ctx context.Context, old stream.Lease) error {
	return ls.write(ctx, "delete", old, func() error {
		if err := ls.check(old); err != nil {
			return err
		}
		if err := ls.s.db.Delete(leaseKey(old.Stream, old.Shard), pebble.Sync); err != nil {
			return err
		}
		ls.s.setCheckpoint(old.Stream, old.Shard, stream.Checkpoint{})
		return nil
	})
}

// write runs one conditional write under the store's lock and the stream's life lock.
func (ls *LeaseStore) write(ctx context.Context, op string, l stream.Lease, f func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s lease %s: %w", op, l.Key(), err)
	}
	s := ls.s
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return fmt.Errorf("%s lease %s: %w", op, l.Key(), ErrClosed)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if err := f(); err != nil {
		return fmt.Errorf("%s lease %s: %w", op, l.Key(), err)
	}
	return nil
}

// get reads one lease. The caller holds the life lock.
func (ls *LeaseStore) get(streamName, shard string) (stream.Lease, error) {
	v, closer, err := ls.s.db.Get(leaseKey(streamName, shard))
	if errors.Is(err, pebble.ErrNotFound) {
		return stream.Lease{}, stream.ErrNotFound
	}
	if err != nil {
		return stream.Lease{}, err
	}
	defer closer.Close()
	return decodeLease(streamName, shard, v)
}

// check reports stream.ErrConflict unless the stored lease matches old.
func (ls *LeaseStore) check(old stream.Lease) error {
	cur, err := ls.get(old.Stream, old.Shard)
	if errors.Is(err, stream.ErrNotFound) {
		return fmt.Errorf("gone: %w", stream.ErrConflict)
	}
	if err != nil {
		return err
	}
	if cur.Counter != old.Counter || cur.Owner != old.Owner || cur.NextOwner != old.NextOwner {
		return fmt.Errorf("counter %d owner %q next owner %q, expected %d %q %q: %w",
			cur.Counter, cur.Owner, cur.NextOwner, old.Counter, old.Owner, old.NextOwner, stream.ErrConflict)
	}
	return nil
}

// put stores l, synced, and hands its checkpoint to the trim pass.
func (ls *LeaseStore) put(l stream.Lease) error {
	v, err := encodeLease(l)
	if err != nil {
		return err
	}
	if err := ls.s.db.Set(leaseKey(l.Stream, l.Shard), v, pebble.Sync); err != nil {
		return err
	}
	ls.s.setCheckpoint(l.Stream, l.Shard, l.Checkpoint)
	return nil
}

// scanLeases reads every lease. The caller holds the life lock.
func (s *Stream) scanLeases() ([]stream.Lease, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindLease}, UpperBound: []byte{kindLease + 1}})
	if err != nil {
		return nil, err
	}
	var out []stream.Lease
	for valid := it.First(); valid; valid = it.Next() {
		streamName, shard, err := decodeLeaseKey(it.Key())
		var l stream.Lease
		if err == nil {
			var v []byte
			if v, err = it.ValueAndErr(); err == nil {
				l, err = decodeLease(streamName, shard, v)
			}
		}
		if err != nil {
			return nil, errors.Join(err, it.Close())
		}
		out = append(out, l)
	}
	return out, it.Close()
}

// loadCheckpoints reads the checkpoints of the stored leases at Open.
func (s *Stream) loadCheckpoints() (int, error) {
	leases, err := s.scanLeases()
	if err != nil {
		return 0, fmt.Errorf("load leases: %w", err)
	}
	for _, l := range leases {
		s.checkpoints[l.Key()] = l.Checkpoint
	}
	return len(leases), nil
}

// setCheckpoint records the checkpoint of a lease (zero: none) and, if it moved, has
// the trim pass visit its shard.
func (s *Stream) setCheckpoint(streamName, shard string, cp stream.Checkpoint) {
	key := stream.Lease{Stream: streamName, Shard: shard}.Key()
	s.ckMu.Lock()
	old, had := s.checkpoints[key]
	if cp.IsZero() {
		delete(s.checkpoints, key)
	} else {
		s.checkpoints[key] = cp
	}
	s.ckMu.Unlock()
	if cp.IsZero() || (had && old == cp) {
		return
	}
	shards := s.streams[streamName]
	if i, ok := parseShardID(shard); ok && i < len(shards) {
		shards[i].checkpointMoved.Store(true)
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// checkpoint returns the checkpoint of a shard's lease; ok is false without one.
func (s *Stream) checkpoint(key string) (stream.Checkpoint, bool) {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	cp, ok := s.checkpoints[key]
	return cp, ok
}

// leaseV1 is the stored form of a lease: JSON, readable with Pebble's tools, and
// written at a few per second per shard at most.
type leaseV1 struct {
	V           int       `json:"v"`
	Stream      string    `json:"stream"`
	Shard       string    `json:"shard"`
	Owner       string    `json:"owner,omitempty"`
	Counter     int64     `json:"counter"`
	NextOwner   string    `json:"next_owner,omitempty"`
	Sequence    string    `json:"sequence,omitempty"`
	Partial     bool      `json:"partial,omitempty"`
	SubSequence int       `json:"sub_sequence,omitempty"`
	Position    string    `json:"position,omitempty"`
	Timestamp   time.Time `json:"timestamp"`
	Parents     []string  `json:"parents,omitempty"`
	Finished    bool      `json:"finished,omitempty"`
}

// encodeLease encodes l for storage.
func encodeLease(l stream.Lease) ([]byte, error) {
	v, err := json.Marshal(leaseV1{
		V: 1, Stream: l.Stream, Shard: l.Shard, Owner: l.Owner, Counter: l.Counter, NextOwner: l.NextOwner,
		Sequence: l.Checkpoint.Sequence, Partial: l.Checkpoint.Partial, SubSequence: l.Checkpoint.SubSequence,
		Position: string(l.Start.Position), Timestamp: l.Start.Timestamp, Parents: l.Parents, Finished: l.Finished,
	})
	if err != nil {
		return nil, fmt.Errorf("encode lease %s: %w", l.Key(), err)
	}
	return v, nil
}

// decodeLease decodes a stored lease, which must be the lease of streamName and
// shard (the key it was stored under).
func decodeLease(streamName, shard string, b []byte) (stream.Lease, error) {
	var v leaseV1
	if err := json.Unmarshal(b, &v); err != nil {
		return stream.Lease{}, fmt.Errorf("decode lease %s/%s: %w", streamName, shard, err)
	}
	switch {
	case v.V != 1:
		return stream.Lease{}, fmt.Errorf("decode lease %s/%s: unknown version %d", streamName, shard, v.V)
	case v.Stream != streamName || v.Shard != shard:
		return stream.Lease{}, fmt.Errorf("decode lease %s/%s: it is the lease of %s/%s", streamName, shard, v.Stream, v.Shard)
	case v.Sequence == "" && (v.Partial || v.SubSequence != 0):
		return stream.Lease{}, fmt.Errorf("decode lease %s/%s: a sub-sequence without a sequence", streamName, shard)
	}
	return stream.Lease{
		Stream: v.Stream, Shard: v.Shard, Owner: v.Owner, Counter: v.Counter, NextOwner: v.NextOwner,
		Checkpoint: stream.Checkpoint{Sequence: v.Sequence, Partial: v.Partial, SubSequence: v.SubSequence},
		Start:      stream.Start{Position: stream.Position(v.Position), Timestamp: v.Timestamp},
		Parents:    v.Parents, Finished: v.Finished,
	}, nil
}
