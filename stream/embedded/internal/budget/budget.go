// Package budget is the byte budget of the two embedded streams, stream/embedded (in
// memory) and stream/embedded/durable (on disk): the hard bound on the record bytes a
// stream retains, behind which Put blocks (backpressure by blocking plus a hard
// bound). Both streams use this one implementation, so that they keep the same
// producer contract: blocked Puts are served first come first served, a large Put is
// not starved by smaller ones behind it, and a Put that gives up takes no room.
package budget

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/sluice-siem/sluice/stream"
)

// Budget counts the bytes a stream retains against a maximum. Reserve takes room
// before records are added, Release gives it back once they are gone (acknowledged,
// deleted, or never added). Create it with New; its methods are safe for concurrent
// use. It starts no goroutines.
type Budget struct {
	capacity int64
	// closed is closed by Close; cause is set once, before that.
	closed    chan struct{}
	cause     error
	closeOnce sync.Once

	mu sync.Mutex
	// used is the bytes retained plus the room reserved by Reserve calls that
	// returned; above capacity only if New was given more.
	used int64
	// waiters are the Reserve calls blocked for room, in arrival order.
	waiters []*waiter
	// empty is closed when used returns to zero; it is non-nil while used > 0.
	empty chan struct{}
}

// waiter is a Reserve call waiting for n bytes of room; ready is closed once they are
// reserved for it.
type waiter struct {
	n     int64
	ready chan struct{}
}

// New returns a budget of capacity bytes of which used are already taken. used may
// exceed capacity (a durable stream that reopens with a smaller budget than it holds): Reserve
// then waits until Release brings it below.
func New(capacity, used int64) *Budget {
	b := &Budget{capacity: capacity, closed: make(chan struct{}), used: used}
	if used > 0 {
		b.empty = make(chan struct{})
	}
	return b
}

// Used returns the bytes taken now: retained plus reserved.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Waiting returns how many Reserve calls are blocked for room.
func (b *Budget) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiters)
}

// Reserve takes n bytes of room. If there is not enough, or earlier calls are still
// waiting, it blocks behind them until Release frees enough (first come first
// served). The caller keeps n at most the capacity, so that every waiter is served
// once the stream drains; a larger n waits until ctx ends.
//
// If ctx ends first, Reserve takes nothing and returns an error wrapping both
// stream.ErrFull and ctx.Err(); if Close is called first, one wrapping the cause
// given to Close. Room granted while ctx was ending is kept and nil returned: the
// caller owns it and must Release it if it adds nothing.
func (b *Budget) Reserve(ctx context.Context, n int64) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.capacity {
		b.takeLocked(n)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	closed := false
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	case <-b.closed:
		closed = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready:
		// Room was granted meanwhile: keep it, the caller goes on.
		return nil
	default:
	}
	if i := slices.Index(b.waiters, w); i >= 0 {
		b.waiters = slices.Delete(b.waiters, i, i+1)
		if i == 0 {
			// The head waiter left; those behind it may fit now.
			b.grantLocked()
		}
	}
	if closed {
		return fmt.Errorf("wait for room: %w", b.cause)
	}
	return fmt.Errorf("%d of %d bytes in use: %w: %w", b.used, b.capacity, stream.ErrFull, ctx.Err())
}

// takeLocked counts n more bytes as used. b.mu must be held.
func (b *Budget) takeLocked(n int64) {
	if b.used == 0 && n > 0 {
		b.empty = make(chan struct{})
	}
	b.used += n
}

// grantLocked reserves room for waiters in arrival order, stopping at the first that
// does not fit, so that a large Reserve is not starved by smaller ones behind it.
// b.mu must be held.
func (b *Budget) grantLocked() {
	granted := 0
	for _, w := range b.waiters {
		if b.used+w.n > b.capacity {
			break
		}
		b.takeLocked(w.n)
		close(w.ready)
		granted++
	}
	if granted > 0 {
		b.waiters = slices.Delete(b.waiters, 0, granted)
	}
}

// Release gives back n bytes (records gone from the stream, or the reservation of a
// Put that failed), wakes the waiters that now fit, in order, and ends WaitEmpty when
// nothing is taken any more.
func (b *Budget) Release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used == 0 && b.empty != nil {
		close(b.empty)
		b.empty = nil
	}
	b.grantLocked()
}

// WaitEmpty blocks until Used() has been zero since the call, and returns nil; or
// until ctx ends or Close is called, and returns ctx.Err() or the cause given to
// Close, unwrapped, for the caller to wrap with what it waited for.
func (b *Budget) WaitEmpty(ctx context.Context) error {
	b.mu.Lock()
	if b.used == 0 {
		b.mu.Unlock()
		return nil
	}
	empty := b.empty
	b.mu.Unlock()
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closed:
		return b.cause
	}
}

// Close ends every wait of Reserve and WaitEmpty, those in progress and later ones,
// with cause (the stream's own "closed" error); room that is free is still taken
// without waiting, and Release still works. Only the first call's cause counts.
func (b *Budget) Close(cause error) {
	b.closeOnce.Do(func() {
		b.cause = cause
		close(b.closed)
	})
}
