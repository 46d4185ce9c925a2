package durable

import (
	"crypto/md5"
	"encoding/binary"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// shard is one shard of one stream: its keys, and what the stream keeps in memory
// about it (recovered at Open from its first and last records and its high-water
// key).
type shard struct {
	stream string // stream name, immutable
	index  int
	id     string // "shardId-000000000000", immutable
	prefix []byte // key prefix of its records, immutable
	end    []byte // exclusive upper bound of its record keys, immutable
	hwKey  []byte // key of its high water, immutable

	// checkpointMoved marks a shard whose lease's checkpoint changed since its last
	// trim pass.
	checkpointMoved atomic.Bool

	mu sync.Mutex
	// lastSeq is the last sequence number assigned (or the one before the first to
	// assign); cumBytes and cumCount are the counters of that record. Only Put changes
	// them, under Stream.putMu.
	lastSeq            uint64
	cumBytes, cumCount uint64
	// lastArrival is the arrival of the newest record, unix nanoseconds (0: none).
	lastArrival int64
	// del is the last record deleted. Only the trim pass changes it.
	del highWater
	// firstArrival is the arrival of the oldest record retained as of the last trim
	// pass (unix nanoseconds), 0 when there was none.
	firstArrival int64
	// trimFailure is the last failure of the trim pass logged, guarded by
	// Stream.trimMu.
	trimFailure string
	// wake, when not nil, is closed by the next Put to the shard: readers waiting for
	// records wait on it.
	wake chan struct{}
}

func newShard(streamName string, index int) *shard {
	return &shard{
		stream: streamName,
		index:  index,
		id:     shardID(index),
		prefix: shardPrefix(kindRecord, streamName, index),
		end:    shardPrefix(kindRecord, streamName, index+1),
		hwKey:  shardPrefix(kindHighWater, streamName, index),
	}
}

// retained returns the records and bytes of the shard not yet deleted. sh.mu is held.
func (sh *shard) retainedLocked() (records, bytes uint64) {
	return sh.cumCount - sh.del.CumCount, sh.cumBytes - sh.del.CumBytes
}

// watch returns a channel that the next Put to the shard closes.
func (sh *shard) watch() <-chan struct{} {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.wake == nil {
		sh.wake = make(chan struct{})
	}
	return sh.wake
}

// shardIndex maps a partition key to one of n shards as Kinesis and the in-memory
// embedded stream do, so that a key lands in the same shard number in either: the MD5
// of the key, read as a big-endian 128-bit number h, falls in one of n contiguous,
// equal ranges of [0, 2^128); the index is floor(h*n / 2^128).
func shardIndex(key string, n int) int {
	sum := md5.Sum([]byte(key))
	hi := binary.BigEndian.Uint64(sum[:8])
	lo := binary.BigEndian.Uint64(sum[8:])
	// h*n = hi*n*2^64 + lo*n; only the part at or above 2^128 survives the division.
	loCarry, _ := bits.Mul64(lo, uint64(n))
	top, mid := bits.Mul64(hi, uint64(n))
	_, carry := bits.Add64(mid, loCarry, 0)
	return int(top + carry)
}

// seqBase is the least first sequence number of a shard opened at now: the clock in
// nanoseconds, as in the in-memory stream, so that a stream recreated in an emptied
// directory does not reuse the sequence numbers (and so the document ids) of an
// earlier one. A clock outside 1970..2242 gives 0.
func seqBase(now time.Time) uint64 {
	if u := now.Unix(); u <= 0 || u >= 1<<33 {
		return 0
	}
	return uint64(now.UnixNano())
}
