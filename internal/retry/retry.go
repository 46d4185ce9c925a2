// Package retry holds the waits of retry loops, which the Kinesis producer, the
// consumer of the transform tier, the search sink, the archive's uploads, the lease
// table, the dead-letter reader and the load generator share: an exponential
// backoff's ceiling, jitter, and a sleep that a context cuts short.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Ceiling returns base doubled n times, at most maxWait: the longest wait before retry
// n+1 of an exponential backoff. A base above maxWait is maxWait; the doubling cannot
// overflow.
func Ceiling(base, maxWait time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < maxWait; i++ {
		if d > maxWait/2 {
			return maxWait
		}
		d *= 2
	}
	return min(d, maxWait)
}

// Jitter returns a random duration from d/2 to d, so that clients that failed together
// do not retry together, none of them sooner than half the wait.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Full returns a random duration from 1ns to d ("full jitter": the whole wait
// random), or 0 for a d of zero or less.
func Full(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d) + 1
}

// Sleep waits d, or less if ctx ends first; it reports whether ctx is still live (a d
// of zero or less returns at once).
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
