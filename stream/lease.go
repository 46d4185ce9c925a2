package stream

import (
	"errors"
	"slices"
)

// ErrConflict reports a conditional lease write that lost: the stored lease is not the
// one the write was based on (another worker, or this one, changed it since), or a
// lease to create exists already. The caller reads the lease again and decides anew.
var ErrConflict = errors.New("lease changed concurrently")

// ErrNotFound reports a lease that does not exist.
var ErrNotFound = errors.New("lease not found")

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

// Clone returns l with its own Parents slice.
func (l Lease) Clone() Lease {
	l.Parents = slices.Clone(l.Parents)
	return l
}
