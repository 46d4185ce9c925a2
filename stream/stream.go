// Package stream is what travels between sluice's two tiers and the contracts both
// meet on, between step 3 of the data path (produce) and step 4 (consume): the records
// the gateway produces into a stream (Kinesis, or the embedded stream of `sluice dev`),
// the envelope each record's data is wrapped in, the batches the transform tier
// consumes, the shard reader a consumer reads a stream through (Shard, ShardReader,
// Page, Checkpoint, Start) and the lease record of a shard (Lease). Each stream
// implementation lives below it with both of its sides: kinesis (producer, reader, KPL
// aggregation, and the lease table on DynamoDB in kinesis/leases), embedded and
// discard.
//
// It depends on nothing of sluice but the JSON decoder below it (internal/jsonx), so
// that the producer, the consumer and every stream implementation agree on one set of
// types.
package stream

import (
	"errors"
	"time"
)

// Record is one record put into a stream.
type Record struct {
	// PartitionKey selects the shard, as in Kinesis: records with the same key keep
	// their order.
	PartitionKey string
	// Data is the record's payload: an envelope made by AppendEnvelope.
	Data []byte
}

// Size is the number of bytes the record counts for against stream limits (partition key
// plus data, as Kinesis counts them).
func (r Record) Size() int { return len(r.PartitionKey) + len(r.Data) }

// Delivered is a record as a consumer receives it, with its place in the stream.
type Delivered struct {
	Record
	// Stream, Shard and Sequence name the record's position. Sequence numbers are
	// decimal strings that grow within a shard, as Kinesis's do.
	Stream   string
	Shard    string
	Sequence string
	// SubSequence is the record's index among the user records of a KPL aggregated
	// record (Kinesis packs many events into one record): with Sequence it names the
	// record. It is meaningful only when Aggregated is set; plain records leave both
	// zero.
	SubSequence int
	// Aggregated reports that the record is a user record of an aggregated record.
	Aggregated bool
	// NoEvent reports a record that holds no event, only its position: it stands for a
	// stream record without events (a CloudWatch Logs control message), so that the
	// consumer checkpoints past it. Its Data is empty; handlers acknowledge it without
	// doing anything.
	NoEvent bool
	// Arrival is when the stream accepted the record.
	Arrival time.Time
}

// Batch is a run of consecutive records of one shard, handed to a consumer's handler.
// The handler owns the batch until it returns; returning nil acknowledges every record
// in it, and the stream may then forget them.
type Batch struct {
	Stream  string
	Shard   string
	Records []Delivered
}

// ErrFull reports that a stream has no room for a record now: the condition is
// temporary and the caller should retry later (backpressure).
var ErrFull = errors.New("stream full")

// ErrTooLarge reports a record or batch that no stream state can ever accept, such as a
// record over the stream's record size limit. Retrying does not help.
var ErrTooLarge = errors.New("too large for stream")

// ErrUnknownStream reports a stream name that the stream implementation does not have.
var ErrUnknownStream = errors.New("unknown stream")

// ValidName reports whether s can name a stream: Kinesis's rule, 1 to 128 characters
// of A-Z, a-z, 0-9, '_', '-' and '.', which the embedded stream follows too.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
