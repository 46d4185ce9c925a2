package consume

import (
	"context"
	"errors"

	"github.com/sluice-siem/sluice/stream"
)

// ErrThrottled is wrapped by Source and ShardReader errors that mean the stream
// refused the call for its rate limits (Kinesis: ProvisionedThroughputExceeded). The
// consumer backs off and counts it; it is not a failure.
var ErrThrottled = errors.New("throttled by the stream")

// Source is the stream the consumer reads: its shards and their records. It is
// declared here, by its user; sink/kinesis implements it on Kinesis Data Streams.
// Implementations must be safe for concurrent use.
type Source interface {
	// Shards lists every shard of a stream the stream still holds, closed shards
	// included, following pagination to the end. Its error wraps
	// stream.ErrUnknownStream when the stream does not exist.
	Shards(ctx context.Context, streamName string) ([]Shard, error)
	// Open returns a reader of one shard positioned after from, or at start when from
	// is zero. ctx bounds the opening only.
	Open(ctx context.Context, streamName, shard string, from Checkpoint, start Start) (ShardReader, error)
}

// Shard is one shard of a stream as Source lists it.
type Shard struct {
	ID string
	// Parents are the shards it was split or merged from (none for an original
	// shard).
	Parents []string
	// Closed reports a shard that takes no more records (a parent of a resharding).
	Closed bool
}

// ShardReader reads one shard forward. It is used by one goroutine at a time; the
// consumer limits how often Read is called.
type ShardReader interface {
	// Read returns the next records of the shard, at most limit stream records
	// (Kinesis records; an aggregated record counts once however many user records
	// it holds), possibly none. It recovers by itself from an iterator that expired.
	// The page's records are the reader's to give: the consumer keeps them until they
	// are acknowledged.
	Read(ctx context.Context, limit int) (Page, error)
}

// Page is the result of one Read.
type Page struct {
	// Records are the user records read, in stream order, every stream record complete
	// (all user records of an aggregated record are in the same page).
	Records []stream.Delivered
	// End reports that the shard is closed and read to its end: no Read follows.
	End bool
	// MillisBehind is how far the reader is behind the newest record of the shard, in
	// milliseconds (Kinesis's MillisBehindLatest), or -1 if unknown.
	MillisBehind int64
}
