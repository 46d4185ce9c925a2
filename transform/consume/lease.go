package consume

import (
	"context"
	"errors"
	"slices"
	"time"
)

// ErrConflict reports a conditional lease write that lost: the stored lease is not the
// one the write was based on (another worker, or this one, changed it since), or a
// lease to create exists already. The caller reads the lease again and decides anew.
var ErrConflict = errors.New("lease changed concurrently")

// ErrNotFound reports a lease that does not exist.
var ErrNotFound = errors.New("lease not found")

// LeaseStore keeps the leases of a group of workers: one lease per shard, shared by
// every worker reading the same streams under the same store (the lease table). It is
// declared here, by its user; sink/dynamodb implements it on DynamoDB and
// NewMemoryStore in memory.
//
// Every change is conditional (compare and swap), so that no update is ever lost:
// Update and Delete succeed only if the stored lease still has the Counter, Owner and
// NextOwner of the lease the caller read. Workers bump Counter on every write except a
// steal request, so a lease whose Counter does not move has an owner that is not
// renewing it.
//
// Implementations must be safe for concurrent use. Their methods block for one round
// trip to the store and honor ctx; they return values the caller owns.
type LeaseStore interface {
	// List returns every lease of the store, in no particular order, read
	// consistently (no write acknowledged before List was called is missing).
	List(ctx context.Context) ([]Lease, error)
	// Get returns the lease of one shard, or an error wrapping ErrNotFound.
	Get(ctx context.Context, stream, shard string) (Lease, error)
	// Create stores l if no lease of its shard exists, else returns an error wrapping
	// ErrConflict.
	Create(ctx context.Context, l Lease) error
	// Update replaces the lease old by l (same shard) if the stored lease still has
	// old's Counter, Owner and NextOwner; otherwise, or if the lease is gone, it
	// returns an error wrapping ErrConflict.
	Update(ctx context.Context, old, l Lease) error
	// Delete removes the lease old under the same condition as Update.
	Delete(ctx context.Context, old Lease) error
}

// Lease is the lease of one shard: who processes it, how far it is processed, and
// where it sits in the stream's resharding history. It is plain data; the store holds
// the truth and workers change it only through conditional writes.
type Lease struct {
	// Stream and Shard name the shard; together they are the lease's key.
	Stream string
	Shard  string
	// Owner is the worker id of the worker that processes the shard, empty when no
	// worker does (new, released, or finished).
	Owner string
	// Counter grows with every write of the owner (renewals included), so a Counter
	// that does not move for the failover time marks an owner that stopped.
	Counter int64
	// NextOwner is a worker that asked the owner to hand the lease over (a steal
	// request, for balancing). The owner hands it over at its next renewal: it stops
	// fetching, checkpoints what was acknowledged and makes NextOwner the owner.
	NextOwner string
	// Checkpoint is how far the shard is processed: reading resumes after it. Zero
	// means nothing is processed yet: reading begins at Start.
	Checkpoint Checkpoint
	// Start is where reading begins while Checkpoint is zero.
	Start Start
	// Parents are the shard ids of the shard's parents (one after a split, two after a
	// merge). The shard is processed only once the leases of all its parents are
	// Finished, so that records of one partition key stay in order.
	Parents []string
	// Finished marks a closed shard read to its end with every record acknowledged
	// and checkpointed. A finished lease has no owner and is never taken again.
	Finished bool
}

// Key returns the lease's key, "stream/shard": stream names and shard ids hold no '/'.
func (l Lease) Key() string { return l.Stream + "/" + l.Shard }

// clone returns l with its own Parents slice.
func (l Lease) clone() Lease {
	l.Parents = slices.Clone(l.Parents)
	return l
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
