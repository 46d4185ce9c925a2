package main

import (
	"sync"
	"time"
)

// limiter is a token bucket of events: it refills at rate events per second up to burst
// events, and a batch of n events takes n tokens. A batch larger than the tokens at
// hand is not refused: it is scheduled for the moment the bucket will have refilled
// that far (the bucket goes into debt), so a fixed rate holds on average whatever the
// batch size. It is safe for concurrent use; the clock is passed in.
type limiter struct {
	rate  float64 // events per second
	burst float64 // most tokens the bucket holds
	now   func() time.Time

	mu     sync.Mutex
	tokens float64 // may be negative: debt of batches already scheduled
	last   time.Time
}

// newLimiter returns a full bucket of burst events refilling at rate events per second.
func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(max(burst, 1)), now: now, tokens: float64(max(burst, 1)), last: now()}
}

// reserve takes n tokens and returns when the batch they pay for may be sent: now if
// the bucket held them, otherwise the moment the refill will have covered the debt.
// That moment is the batch's scheduled send time, from which its latency counts (so a
// slow subject cannot hide its delay by holding the sender back).
func (l *limiter) reserve(n int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if elapsed := now.Sub(l.last); elapsed > 0 {
		l.tokens = min(l.burst, l.tokens+elapsed.Seconds()*l.rate)
		l.last = now
	}
	l.tokens -= float64(n)
	if l.tokens >= 0 {
		return now
	}
	return now.Add(time.Duration(-l.tokens / l.rate * float64(time.Second)))
}
