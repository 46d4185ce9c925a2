package consume

import (
	"context"
	"fmt"
	"sync"

	"github.com/sluice-siem/sluice/stream"
)

// MemoryStore is a LeaseStore in the memory of one process: the lease store of a
// single `sluice transform` that needs no lease table (nothing is shared, and
// checkpoints are lost with the process), and of tests. Its methods are safe for
// concurrent use, never block beyond a mutex and honor the same conditions as a
// shared store. The zero value is not ready: use NewMemoryStore.
type MemoryStore struct {
	mu     sync.Mutex
	leases map[string]stream.Lease
	// fail, when set, decides per call whether it fails (tests inject store outages).
	fail func(op string, l stream.Lease) error
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{leases: map[string]stream.Lease{}}
}

// SetFault installs f, which runs before every call with the operation ("list", "get",
// "create", "update", "delete") and the lease it concerns (the new lease for updates);
// a non-nil result fails the call. Nil removes it. It is for tests that simulate a
// store a worker cannot reach.
func (s *MemoryStore) SetFault(f func(op string, l stream.Lease) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

func (s *MemoryStore) fault(op string, l stream.Lease) error {
	if s.fail == nil {
		return nil
	}
	if err := s.fail(op, l); err != nil {
		return fmt.Errorf("%s lease %s: %w", op, l.Key(), err)
	}
	return nil
}

// List returns a copy of every lease.
func (s *MemoryStore) List(ctx context.Context) ([]stream.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("list", stream.Lease{}); err != nil {
		return nil, err
	}
	out := make([]stream.Lease, 0, len(s.leases))
	for _, l := range s.leases {
		out = append(out, l.Clone())
	}
	return out, nil
}

// Get returns a copy of one lease.
func (s *MemoryStore) Get(ctx context.Context, streamName, shard string) (stream.Lease, error) {
	if err := ctx.Err(); err != nil {
		return stream.Lease{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := stream.Lease{Stream: streamName, Shard: shard}
	if err := s.fault("get", key); err != nil {
		return stream.Lease{}, err
	}
	l, ok := s.leases[key.Key()]
	if !ok {
		return stream.Lease{}, fmt.Errorf("get lease %s: %w", key.Key(), stream.ErrNotFound)
	}
	return l.Clone(), nil
}

// Create stores a copy of l unless its shard has a lease.
func (s *MemoryStore) Create(ctx context.Context, l stream.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("create", l); err != nil {
		return err
	}
	if _, ok := s.leases[l.Key()]; ok {
		return fmt.Errorf("create lease %s: exists: %w", l.Key(), stream.ErrConflict)
	}
	s.leases[l.Key()] = l.Clone()
	return nil
}

// Update replaces old by l if old is what is stored (Counter, Owner, NextOwner).
func (s *MemoryStore) Update(ctx context.Context, old, l stream.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if old.Key() != l.Key() {
		return fmt.Errorf("update lease %s with lease %s: keys differ", old.Key(), l.Key())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("update", l); err != nil {
		return err
	}
	if err := s.check(old); err != nil {
		return fmt.Errorf("update lease %s: %w", l.Key(), err)
	}
	s.leases[l.Key()] = l.Clone()
	return nil
}

// Delete removes old if it is what is stored.
func (s *MemoryStore) Delete(ctx context.Context, old stream.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("delete", old); err != nil {
		return err
	}
	if err := s.check(old); err != nil {
		return fmt.Errorf("delete lease %s: %w", old.Key(), err)
	}
	delete(s.leases, old.Key())
	return nil
}

// check reports stream.ErrConflict unless the stored lease matches old. s.mu is held.
func (s *MemoryStore) check(old stream.Lease) error {
	cur, ok := s.leases[old.Key()]
	if !ok {
		return fmt.Errorf("gone: %w", stream.ErrConflict)
	}
	if cur.Counter != old.Counter || cur.Owner != old.Owner || cur.NextOwner != old.NextOwner {
		return fmt.Errorf("counter %d owner %q next owner %q, expected %d %q %q: %w",
			cur.Counter, cur.Owner, cur.NextOwner, old.Counter, old.Owner, old.NextOwner, stream.ErrConflict)
	}
	return nil
}
