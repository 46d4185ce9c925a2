package stream

import (
	"context"
	"errors"
	"time"
)

// ErrThrottled is wrapped by the errors of reading a stream (consume.Source,
// ShardReader) that mean the stream refused the call for its rate limits (Kinesis:
// ProvisionedThroughputExceeded). The consumer backs off and counts it; it is not a
// failure.
var ErrThrottled = errors.New("throttled by the stream")

// Kinesis limits on reading a shard: a consumer's configuration stays within them.
const (
	// MaxRecordsPerCall is the most records one GetRecords call returns.
	MaxRecordsPerCall = 10000
	// MaxCallsPerSecond is the most GetRecords calls per second a shard serves.
	MaxCallsPerSecond = 5
)

// Shard is one shard of a stream as a consumer's Source (consume.Source) lists it.
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
	Records []Delivered
	// End reports that the shard is closed and read to its end: no Read follows.
	End bool
	// MillisBehind is how far the reader is behind the newest record of the shard, in
	// milliseconds (Kinesis's MillisBehindLatest), or -1 if unknown.
	MillisBehind int64
}

// Checkpoint is a position in a shard: every record up to and including it is
// processed. Records of KPL aggregated records are named by their Kinesis record's
// sequence number and their sub-sequence (index) inside it.
type Checkpoint struct {
	// Sequence is the sequence number of the last processed Kinesis record; empty
	// means no record is processed yet.
	Sequence string
	// Partial says that only the user records 0..SubSequence of the aggregated record
	// Sequence are processed, not all of them: reading resumes inside that record.
	Partial bool
	// SubSequence is the last processed user record of the record Sequence when
	// Partial is set; it is zero otherwise.
	SubSequence int
}

// IsZero reports whether the checkpoint names no record.
func (c Checkpoint) IsZero() bool { return c.Sequence == "" }

// Position names where a new shard is read from.
type Position string

// The positions a shard without a checkpoint is read from.
const (
	// TrimHorizon is the oldest record the stream still holds.
	TrimHorizon Position = "trim_horizon"
	// Latest is the records put after reading begins.
	Latest Position = "latest"
	// AtTimestamp is the records put at or after a time.
	AtTimestamp Position = "at_timestamp"
)

// Start is where reading a shard begins when its lease has no checkpoint.
type Start struct {
	Position Position
	// Timestamp is the time of AtTimestamp; zero otherwise.
	Timestamp time.Time
}
