package cputime

import "testing"

// Self grows while the process computes.
func TestSelfGrowsWithWork(t *testing.T) {
	if !Measured {
		t.Skip("no CPU time on this system")
	}
	start := Self()
	x := uint64(1)
	for range 200_000_000 { // ~0.1-0.2 s of one core, well above the clock's tick
		x = x*6364136223846793005 + 1442695040888963407
	}
	if end := Self(); end <= start {
		t.Fatalf("CPU time went from %v to %v across a busy loop (%d)", start, end, x)
	}
}
