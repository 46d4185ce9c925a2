package retry

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	for _, c := range []struct {
		base, max time.Duration
		n         int
		want      time.Duration
	}{
		{100 * time.Millisecond, 5 * time.Second, 0, 100 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 3, 800 * time.Millisecond},
		{100 * time.Millisecond, 5 * time.Second, 6, 5 * time.Second},
		{100 * time.Millisecond, 5 * time.Second, 1000, 5 * time.Second},
		{10 * time.Second, 5 * time.Second, 0, 5 * time.Second}, // base above the cap
		{time.Duration(math.MaxInt64/2 + 1), time.Duration(math.MaxInt64), 1, time.Duration(math.MaxInt64)},
		{0, time.Second, 5, 0},
	} {
		if got := Ceiling(c.base, c.max, c.n); got != c.want {
			t.Errorf("Ceiling(%v, %v, %d) = %v, want %v", c.base, c.max, c.n, got, c.want)
		}
	}
}

func TestJitter(t *testing.T) {
	const d = 10 * time.Millisecond
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := Jitter(d)
		if j < d/2 || j > d {
			t.Fatalf("Jitter(%v) = %v, want %v to %v", d, j, d/2, d)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Errorf("Jitter(%v) gave %d distinct waits in 1000, want them spread", d, len(seen))
	}
	if j := Jitter(0); j != 0 {
		t.Errorf("Jitter(0) = %v", j)
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if !Sleep(ctx, time.Millisecond) || !Sleep(ctx, 0) {
		t.Fatal("Sleep on a live context reported it ended")
	}
	cancel()
	if Sleep(ctx, time.Hour) || Sleep(ctx, 0) {
		t.Fatal("Sleep on an ended context reported it live")
	}
}

func TestFull(t *testing.T) {
	const d = 10 * time.Millisecond
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := Full(d)
		if j < 1 || j > d {
			t.Fatalf("Full(%v) = %v, want 1ns to %v", d, j, d)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Errorf("Full(%v) gave %d distinct waits in 1000, want them spread", d, len(seen))
	}
	if j := Full(0); j != 0 {
		t.Errorf("Full(0) = %v", j)
	}
}
