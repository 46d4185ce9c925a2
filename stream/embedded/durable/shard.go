package durable

import (
	"sync"
	"sync/atomic"

	"github.com/sluice-siem/sluice/stream/embedded"
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
		id:     embedded.ShardID(index),
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
