package consume

import (
	"context"

	"github.com/sluice-siem/sluice/stream"
)

// LeaseStore keeps the leases of a group of workers: one lease per shard, shared by
// every worker reading the same streams under the same store (the lease table). It is
// declared here, by its user; stream/kinesis/leases implements it on DynamoDB and
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
	List(ctx context.Context) ([]stream.Lease, error)
	// Get returns the lease of one shard, or an error wrapping stream.ErrNotFound.
	Get(ctx context.Context, stream, shard string) (stream.Lease, error)
	// Create stores l if no lease of its shard exists, else returns an error wrapping
	// stream.ErrConflict.
	Create(ctx context.Context, l stream.Lease) error
	// Update replaces the lease old by l (same shard) if the stored lease still has
	// old's Counter, Owner and NextOwner; otherwise, or if the lease is gone, it
	// returns an error wrapping stream.ErrConflict.
	Update(ctx context.Context, old, l stream.Lease) error
	// Delete removes the lease old under the same condition as Update.
	Delete(ctx context.Context, old stream.Lease) error
}
