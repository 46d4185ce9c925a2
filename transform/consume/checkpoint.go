package consume

import (
	"context"
	"sync"

	"github.com/sluice-siem/sluice/stream"
)

// checkpointer follows the records of one shard from the read to the acknowledgement
// and tells how far the shard may be checkpointed: up to the end of the longest
// acknowledged prefix of what was read, never past a record that is not acknowledged,
// however the acknowledgements arrive.
//
// Records are tracked in spans (the batches handed to the handler), in read order. A
// span counts units, the stream records (Kinesis records) it completes, and the bytes
// of its records, for the bounds on unacknowledged records and bytes, which the reader
// waits for with waitRoom. Acknowledging a
// span is idempotent: a span acknowledged twice, or one that is no longer tracked, is
// ignored.
//
// A checkpointer is safe for concurrent use: the reader tracks, the handler's
// goroutine acknowledges and the lease keeper reads the position.
type checkpointer struct {
	mu sync.Mutex
	// max bounds unacked, maxBytes unackedBytes.
	max, maxBytes int
	// spans are the tracked spans, oldest first; the acknowledged prefix is dropped.
	spans []span
	// first is the id of spans[0] (or of the next span when spans is empty).
	first uint64
	// unacked is the units of spans, unackedBytes their bytes.
	unacked, unackedBytes int
	// done is the position after the acknowledged prefix.
	done stream.Checkpoint
	// read and acked count user records tracked and acknowledged in order, since the
	// start (for the checkpoint lag).
	read, acked int64
	// room is closed and replaced whenever units or bytes are released.
	room chan struct{}
}

// span is one tracked batch.
type span struct {
	units, records, bytes int
	end                   stream.Checkpoint
	acked                 bool
}

// newCheckpointer returns a checkpointer of a shard processed up to start, allowing
// limit unacknowledged units and limitBytes unacknowledged bytes (each at least 1).
func newCheckpointer(limit, limitBytes int, start stream.Checkpoint) *checkpointer {
	return &checkpointer{max: max(limit, 1), maxBytes: max(limitBytes, 1), done: start, room: make(chan struct{})}
}

// waitRoom blocks until fewer than max units and fewer than maxBytes bytes are
// unacknowledged and returns how many more units may be read, or ctx's error. The
// next read may take the bytes past maxBytes: a read is bounded in records, and by
// the stream in bytes (a page), not by what is left here.
func (c *checkpointer) waitRoom(ctx context.Context) (int, error) {
	for {
		c.mu.Lock()
		n, room := c.max-c.unacked, c.room
		full := c.unackedBytes >= c.maxBytes
		c.mu.Unlock()
		if n > 0 && !full {
			return n, nil
		}
		select {
		case <-room:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// track adds a span of records of size bytes, completing units stream records and
// ending at end, and returns its id for ack.
func (c *checkpointer) track(units, records, size int, end stream.Checkpoint) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.first + uint64(len(c.spans))
	c.spans = append(c.spans, span{units: units, records: records, bytes: size, end: end})
	c.unacked += units
	c.unackedBytes += size
	c.read += int64(records)
	return id
}

// ack acknowledges the span id. It is idempotent and ignores ids it does not track.
func (c *checkpointer) ack(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id < c.first || id-c.first >= uint64(len(c.spans)) {
		return
	}
	c.spans[id-c.first].acked = true
	released, releasedBytes := 0, 0
	i := 0
	for ; i < len(c.spans) && c.spans[i].acked; i++ {
		s := c.spans[i]
		c.done = s.end
		released += s.units
		releasedBytes += s.bytes
		c.acked += int64(s.records)
	}
	if i == 0 {
		return
	}
	clear(c.spans[:i])
	c.spans = c.spans[i:]
	c.first += uint64(i)
	c.unacked -= released
	c.unackedBytes -= releasedBytes
	if released > 0 || releasedBytes > 0 {
		close(c.room)
		c.room = make(chan struct{})
	}
}

// position returns the checkpoint of the acknowledged prefix, the user records it
// covers since the start, and whether every tracked span is acknowledged.
func (c *checkpointer) position() (stream.Checkpoint, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done, c.acked, len(c.spans) == 0
}

// counts returns the user records tracked and acknowledged in order so far.
func (c *checkpointer) counts() (read, acked int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read, c.acked
}

// unackedUnits returns the units tracked and not acknowledged.
func (c *checkpointer) unackedUnits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unacked
}

// batchSpan describes one batch cut from a page: where it ends, how many stream
// records it completes and the bytes of its records (data and partition keys).
type batchSpan struct {
	records []stream.Delivered
	units   int
	bytes   int
	end     stream.Checkpoint
}

// cut splits a page's records into batches of at most size user records. A stream
// record's user records are consecutive and share its Sequence; the record is counted
// (as a unit) in the batch holding its last user record, and a batch that ends inside an
// aggregated record ends at a partial checkpoint.
func cut(recs []stream.Delivered, size int) []batchSpan {
	size = max(size, 1)
	var out []batchSpan
	for start := 0; start < len(recs); start += size {
		b := batchSpan{records: recs[start:min(start+size, len(recs))]}
		for i := range b.records {
			b.bytes += len(b.records[i].Data) + len(b.records[i].PartitionKey)
			abs := start + i
			if abs == len(recs)-1 || recs[abs+1].Sequence != recs[abs].Sequence {
				b.units++
			}
		}
		lastAbs := start + len(b.records) - 1
		last := recs[lastAbs]
		complete := lastAbs == len(recs)-1 || recs[lastAbs+1].Sequence != last.Sequence
		b.end = stream.Checkpoint{Sequence: last.Sequence}
		if last.Aggregated && !complete {
			b.end.Partial, b.end.SubSequence = true, last.SubSequence
		}
		out = append(out, b)
	}
	return out
}
