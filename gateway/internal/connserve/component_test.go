package connserve

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// Shutdown without Start closes the listener; twice, it does nothing more.
func TestShutdownWithoutStart(t *testing.T) {
	h := newHarness(t, time.Minute, 10)
	addr := h.srv.Addr().String()
	for range 2 {
		if err := h.srv.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listener still open after Shutdown without Start: %v", err)
	}
	ln.Close()
	if err := h.srv.Start(context.Background(), nil); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

// Start serves until Shutdown, not until the context of Start ends; Shutdown drains:
// a unit in progress finishes and is answered, and Shutdown returns once it has.
func TestShutdownDrains(t *testing.T) {
	h := newHarness(t, time.Minute, 10)
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.srv.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	busy := h.dial(t) // served although the context of Start ended
	h.begin(t, busy)

	stopped := make(chan error, 1)
	go func() { stopped <- h.srv.Shutdown(context.Background()) }()
	eventually(t, h.srv.Stopping)
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned %v with a unit in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(h.release)
	got := make([]byte, 1)
	_ = busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(busy, got); err != nil || string(got) != "d" {
		t.Fatalf("unit in progress not answered: %q, %v", got, err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := h.srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if h.open.Load() != 0 || h.canceled.Err() == nil {
		t.Errorf("after Shutdown: %d connections open, work canceled: %v", h.open.Load(), h.canceled.Err() != nil)
	}
}

// When the context of Shutdown ends first, the connections are closed and their work
// canceled, and Shutdown returns once the server stopped.
func TestShutdownDeadline(t *testing.T) {
	h := newHarness(t, time.Minute, 10)
	if err := h.srv.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	busy := h.dial(t)
	h.begin(t, busy)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if h.canceled.Err() == nil {
		t.Error("work not canceled at the deadline of Shutdown")
	}
	if !ended(t, busy) {
		t.Error("connection not closed at the deadline of Shutdown")
	}
}
