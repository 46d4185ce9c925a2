package consume

import (
	"context"

	"github.com/sluice-siem/sluice/stream"
)

// Source is the stream the consumer reads: its shards and their records. It is
// declared here, by its user; stream/kinesis implements it on Kinesis Data Streams.
// Implementations must be safe for concurrent use.
type Source interface {
	// Shards lists every shard of a stream the stream still holds, closed shards
	// included, following pagination to the end. Its error wraps
	// stream.ErrUnknownStream when the stream does not exist.
	Shards(ctx context.Context, streamName string) ([]stream.Shard, error)
	// Open returns a reader of one shard positioned after from, or at start when from
	// is zero. ctx bounds the opening only.
	Open(ctx context.Context, streamName, shard string, from stream.Checkpoint, start stream.Start) (stream.ShardReader, error)
}
