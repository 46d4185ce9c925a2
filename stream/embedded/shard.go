package embedded

import (
	"math"
	"slices"
	"sync"

	"github.com/sluice-siem/sluice/stream"
)

const (
	// compactMin is how many acknowledged entries a shard's slice may carry at its
	// front before they are compacted away, provided they are at least as many as the
	// live entries behind them (which makes compaction O(1) amortized per record).
	compactMin = 256
	// shrinkCap is the slice capacity above which a shard that has drained (or holds
	// few live entries) gives its backing array back instead of reusing it, so that
	// one burst does not pin its peak memory forever.
	shrinkCap = 4096
)

// shard is one shard of one stream: an ordered log of the records put into it and not
// yet acknowledged. Only one consumer goroutine reads a shard at a time (Consume
// enforces a single caller), so the live records are always delivered from the front.
type shard struct {
	stream string // stream name, immutable
	id     string // "shardId-000000000000", immutable
	// notify holds at most one pending wake-up for the consumer; Put sends without
	// blocking after appending, so a consumer waiting on it never misses records.
	notify chan struct{}

	mu sync.Mutex
	// recs[head:] are the live records, oldest first. recs[:head] are acknowledged
	// and zeroed, so they keep no record data reachable.
	recs []stream.Delivered
	head int
	// seq is the last sequence number assigned in this shard.
	seq uint64
}

// newShard returns the empty shard of index index of a stream, whose first record
// gets the sequence number after base.
func newShard(streamName string, index int, base uint64) *shard {
	return &shard{
		stream: streamName,
		id:     ShardID(index),
		notify: make(chan struct{}, 1),
		seq:    base,
	}
}

// append adds recs, already copied and stamped, to the end of the shard, assigning
// their sequence numbers in order, and wakes the consumer.
func (sh *shard) append(recs []stream.Delivered) {
	sh.mu.Lock()
	for i := range recs {
		// The sequence space would take centuries to exhaust; wrapping around would
		// break ordering, so saturate instead (never reached in practice).
		if sh.seq < math.MaxUint64 {
			sh.seq++
		}
		recs[i].Sequence = FormatSequence(sh.seq)
	}
	sh.recs = append(sh.recs, recs...)
	sh.mu.Unlock()
	select {
	case sh.notify <- struct{}{}:
	default:
	}
}

// peek returns a copy of the first live records, at most maxRecs of them and at most
// maxBytes in total except that the first record is always included, or nil if the
// shard is empty. The copy belongs to the caller; record data is shared.
func (sh *shard) peek(maxRecs, maxBytes int) []stream.Delivered {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	live := sh.recs[sh.head:]
	n, size := 0, 0
	for n < len(live) && n < maxRecs {
		s := live[n].Size()
		if n > 0 && size+s > maxBytes {
			break
		}
		size += s
		n++
	}
	if n == 0 {
		return nil
	}
	return slices.Clone(live[:n])
}

// drop forgets the first n live records (acknowledged) and returns their bytes.
func (sh *shard) drop(n int) int64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n = min(n, len(sh.recs)-sh.head)
	dead := sh.recs[sh.head : sh.head+n]
	var freed int64
	for i := range dead {
		freed += int64(dead[i].Size())
	}
	clear(dead)
	sh.head += n
	sh.compactLocked()
	return freed
}

// compactLocked bounds the dead prefix of sh.recs and releases oversized backing
// arrays. sh.mu must be held.
func (sh *shard) compactLocked() {
	live := len(sh.recs) - sh.head
	switch {
	case live == 0:
		if cap(sh.recs) > shrinkCap {
			sh.recs = nil
		} else {
			sh.recs = sh.recs[:0]
		}
		sh.head = 0
	case sh.head >= compactMin && sh.head >= live:
		if cap(sh.recs) > shrinkCap && cap(sh.recs) > 4*live {
			sh.recs = append(make([]stream.Delivered, 0, 2*live), sh.recs[sh.head:]...)
		} else {
			n := copy(sh.recs, sh.recs[sh.head:])
			clear(sh.recs[n:])
			sh.recs = sh.recs[:n]
		}
		sh.head = 0
	}
}
