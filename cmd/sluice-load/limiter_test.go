package main

import (
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiterSchedulesBatches(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)}
	t0 := clk.t
	l := newLimiter(1000, 100, clk.now) // 1000 events/s, a burst of 100
	steps := []struct {
		advance time.Duration
		n       int
		want    time.Duration // after t0
	}{
		{0, 100, 0},                                          // the full bucket
		{0, 100, 100 * time.Millisecond},                     // debt: due when refilled
		{0, 50, 150 * time.Millisecond},                      // more debt
		{150 * time.Millisecond, 10, 160 * time.Millisecond}, // the clock caught up
		{time.Second, 100, 1150 * time.Millisecond},          // refilled to the burst, not beyond
		{0, 1, 1151 * time.Millisecond},
	}
	for i, s := range steps {
		clk.advance(s.advance)
		if got := l.reserve(s.n).Sub(t0); got != s.want {
			t.Errorf("step %d: reserve(%d) due at t0+%v, want t0+%v", i, s.n, got, s.want)
		}
	}
}

// A sender that waits for each batch's due time sends at the rate on average.
func TestLimiterHoldsTheRate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	t0 := clk.t
	l := newLimiter(50000, 500, clk.now)
	const batches, n = 10000, 37
	for range batches {
		if due := l.reserve(n); due.After(clk.t) {
			clk.t = due
		}
	}
	// The first 500 events are the initial burst.
	want := time.Duration(float64(batches*n-500) / 50000 * float64(time.Second))
	if got := clk.t.Sub(t0); got < want-time.Millisecond || got > want+time.Millisecond {
		t.Errorf("%d events took %v at 50000/s, want %v", batches*n, got, want)
	}
}
