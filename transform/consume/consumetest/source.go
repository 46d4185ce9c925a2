// Package consumetest holds test doubles and shared tests of package consume (step 4
// of the data path, consume): an in-memory Source with resharding and fault injection,
// and the contract test every LeaseStore implementation must pass. It is for tests
// only.
package consumetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluice-siem/sluice/stream"
)

// Source is an in-memory consume.Source: streams of shards holding records, which
// tests put, reshard and read through the consumer. Its methods are safe for concurrent
// use.
type Source struct {
	mu      sync.Mutex
	streams map[string]*fakeStream
	seq     int64
	fault   func(op, stream, shard string) error
	reads   map[string]int // Read calls per stream/shard
	served  map[string]int // stream records returned per stream/shard
}

type fakeStream struct {
	shards []*fakeShard
	nextID int
}

type fakeShard struct {
	id      string
	parents []string
	closed  bool
	recs    []fakeRecord
}

// fakeRecord is one stream record and its user records.
type fakeRecord struct {
	seq   string
	users []stream.Delivered
}

// NewSource returns an empty Source.
func NewSource() *Source {
	return &Source{streams: map[string]*fakeStream{}, reads: map[string]int{}, served: map[string]int{}}
}

// CreateStream adds a stream of n open shards named shard-000000000000 and up.
func (s *Source) CreateStream(name string, n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &fakeStream{}
	s.streams[name] = st
	var ids []string
	for range n {
		ids = append(ids, s.addShardLocked(st, nil).id)
	}
	return ids
}

func (s *Source) addShardLocked(st *fakeStream, parents []string) *fakeShard {
	sh := &fakeShard{id: fmt.Sprintf("shardId-%012d", st.nextID), parents: parents}
	st.nextID++
	st.shards = append(st.shards, sh)
	return sh
}

func (s *Source) shardLocked(streamName, shard string) (*fakeShard, error) {
	st, ok := s.streams[streamName]
	if !ok {
		return nil, fmt.Errorf("stream %s: %w", streamName, stream.ErrUnknownStream)
	}
	for _, sh := range st.shards {
		if sh.id == shard {
			return sh, nil
		}
	}
	return nil, fmt.Errorf("stream %s has no shard %s", streamName, shard)
}

// Put appends one plain record per payload to a shard and returns their sequence
// numbers. It panics on a closed or unknown shard: that is a broken test.
func (s *Source) Put(streamName, shard string, payloads ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.mustOpenLocked(streamName, shard)
	var seqs []string
	for _, p := range payloads {
		seq := s.nextSeqLocked()
		sh.recs = append(sh.recs, fakeRecord{seq: seq, users: []stream.Delivered{{
			Record: stream.Record{PartitionKey: "k", Data: []byte(p)},
			Stream: streamName, Shard: shard, Sequence: seq, Arrival: time.Now(),
		}}})
		seqs = append(seqs, seq)
	}
	return seqs
}

// PutAggregated appends one aggregated record holding a user record per payload and
// returns its sequence number.
func (s *Source) PutAggregated(streamName, shard string, payloads ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.mustOpenLocked(streamName, shard)
	seq := s.nextSeqLocked()
	rec := fakeRecord{seq: seq}
	for i, p := range payloads {
		rec.users = append(rec.users, stream.Delivered{
			Record: stream.Record{PartitionKey: "k", Data: []byte(p)},
			Stream: streamName, Shard: shard, Sequence: seq, SubSequence: i, Aggregated: true, Arrival: time.Now(),
		})
	}
	sh.recs = append(sh.recs, rec)
	return seq
}

func (s *Source) mustOpenLocked(streamName, shard string) *fakeShard {
	sh, err := s.shardLocked(streamName, shard)
	if err != nil {
		panic(err)
	}
	if sh.closed {
		panic(fmt.Sprintf("put to closed shard %s/%s", streamName, shard))
	}
	return sh
}

func (s *Source) nextSeqLocked() string {
	s.seq++
	return fmt.Sprintf("%020d", s.seq)
}

// Split closes a shard and adds two children of it, returning their ids.
func (s *Source) Split(streamName, shard string) [2]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.mustOpenLocked(streamName, shard)
	sh.closed = true
	st := s.streams[streamName]
	a := s.addShardLocked(st, []string{shard})
	b := s.addShardLocked(st, []string{shard})
	return [2]string{a.id, b.id}
}

// Merge closes two shards and adds their child, returning its id.
func (s *Source) Merge(streamName, shard, adjacent string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustOpenLocked(streamName, shard)
	b := s.mustOpenLocked(streamName, adjacent)
	a.closed, b.closed = true, true
	return s.addShardLocked(s.streams[streamName], []string{shard, adjacent}).id
}

// SetFault installs f, which runs before every call with the operation ("shards",
// "open", "read"), the stream and the shard; a non-nil result fails the call (wrap
// stream.ErrThrottled to simulate throttling). Nil removes it.
func (s *Source) SetFault(f func(op, stream, shard string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Reads returns how many Read calls a shard has served (faults included).
func (s *Source) Reads(streamName, shard string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[streamName+"/"+shard]
}

// Served returns how many stream records a shard's readers have returned.
func (s *Source) Served(streamName, shard string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served[streamName+"/"+shard]
}

// Shards lists the shards of a stream.
func (s *Source) Shards(ctx context.Context, streamName string) ([]stream.Shard, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault != nil {
		if err := s.fault("shards", streamName, ""); err != nil {
			return nil, err
		}
	}
	st, ok := s.streams[streamName]
	if !ok {
		return nil, fmt.Errorf("list shards of %s: %w", streamName, stream.ErrUnknownStream)
	}
	var out []stream.Shard
	for _, sh := range st.shards {
		out = append(out, stream.Shard{ID: sh.id, Parents: slices.Clone(sh.parents), Closed: sh.closed})
	}
	return out, nil
}

// Open returns a reader positioned after from, or at start (trim_horizon: the first
// record; at_timestamp and latest: after the records put so far).
func (s *Source) Open(ctx context.Context, streamName, shard string, from stream.Checkpoint, start stream.Start) (stream.ShardReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault != nil {
		if err := s.fault("open", streamName, shard); err != nil {
			return nil, err
		}
	}
	sh, err := s.shardLocked(streamName, shard)
	if err != nil {
		return nil, err
	}
	r := &reader{s: s, stream: streamName, sh: sh}
	switch {
	case !from.IsZero():
		r.pos = len(sh.recs)
		for i, rec := range sh.recs {
			if rec.seq > from.Sequence || (rec.seq == from.Sequence && from.Partial) {
				r.pos = i
				break
			}
		}
		if from.Partial {
			r.skipSeq, r.skipThrough = from.Sequence, from.SubSequence
		}
	case start.Position == stream.TrimHorizon:
	default:
		r.pos = len(sh.recs)
	}
	return r, nil
}

type reader struct {
	s           *Source
	stream      string
	sh          *fakeShard
	pos         int
	skipSeq     string
	skipThrough int
}

// Read returns up to limit stream records.
func (r *reader) Read(ctx context.Context, limit int) (stream.Page, error) {
	if err := ctx.Err(); err != nil {
		return stream.Page{}, err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.reads[r.stream+"/"+r.sh.id]++
	if r.s.fault != nil {
		if err := r.s.fault("read", r.stream, r.sh.id); err != nil {
			return stream.Page{}, err
		}
	}
	var p stream.Page
	end := min(len(r.sh.recs), r.pos+limit)
	for _, rec := range r.sh.recs[r.pos:end] {
		for _, u := range rec.users {
			if rec.seq == r.skipSeq && u.SubSequence <= r.skipThrough {
				continue
			}
			p.Records = append(p.Records, u)
		}
	}
	r.s.served[r.stream+"/"+r.sh.id] += end - r.pos
	r.pos = end
	p.MillisBehind = int64(len(r.sh.recs)-r.pos) * 1000
	p.End = r.sh.closed && r.pos == len(r.sh.recs)
	return p, nil
}
