package embedded

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"time"

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

func newShard(streamName string, index int, seqBase uint64) *shard {
	return &shard{
		stream: streamName,
		id:     fmt.Sprintf("shardId-%012d", index),
		notify: make(chan struct{}, 1),
		seq:    seqBase,
	}
}

// shardIndex maps a partition key to one of n shards as Kinesis does: the MD5 of the
// key, read as a big-endian 128-bit number h, falls in one of n contiguous, equal
// ranges of [0, 2^128); the index is floor(h*n / 2^128).
func shardIndex(key string, n int) int {
	return hashShard(md5.Sum([]byte(key)), n)
}

// hashShard returns floor(h*n / 2^128) for the 128-bit big-endian h.
func hashShard(sum [md5.Size]byte, n int) int {
	hi := binary.BigEndian.Uint64(sum[:8])
	lo := binary.BigEndian.Uint64(sum[8:])
	// h*n = hi*n*2^64 + lo*n; only the part at or above 2^128 survives the division.
	loCarry, _ := bits.Mul64(lo, uint64(n))
	top, mid := bits.Mul64(hi, uint64(n))
	_, carry := bits.Add64(mid, loCarry, 0)
	return int(top + carry)
}

// seqBase derives the first sequence number of a new stream from the clock, so that a
// restarted embedded stream does not reuse the sequence numbers of an earlier run:
// document ids are derived from stream, shard and sequence, and reusing them would
// overwrite earlier, different events. A clock outside 1970..2242 gives 0.
func seqBase(now time.Time) uint64 {
	if u := now.Unix(); u <= 0 || u >= 1<<33 {
		return 0
	}
	return uint64(now.UnixNano())
}

// formatSeq formats a sequence number as 20 decimal digits, zero-padded, so that string
// order equals numeric order (every uint64 fits in 20 digits).
func formatSeq(n uint64) string {
	var b [20]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
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
		recs[i].Sequence = formatSeq(sh.seq)
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
