package durable_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-siem/sluice/stream/embedded/durable"
)

// Shutdown is safe without Start and twice; after Start it closes the stream (its
// goroutines end: goleak checks at exit), and what was put is there at the next Open.
func TestShutdown(t *testing.T) {
	ctx := context.Background()
	l := newLogs(t)
	s := open(t, config(t, l))
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}

	cfg := config(t, l)
	s = open(t, cfg)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, s, "fw", rec("k", "1234"))
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if err := s.Put(ctx, "fw", records("k", "late", 1)); !errors.Is(err, durable.ErrClosed) {
		t.Errorf("Put after Shutdown: %v, want ErrClosed", err)
	}
	if used := open(t, cfg).Used(); used == 0 {
		t.Error("the record put before Shutdown is gone at the next Open")
	}
}
