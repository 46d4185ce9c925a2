package embedded_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// Shutdown is safe without Start and twice; it drains: it returns once the consumer
// acknowledged every record, and, without a consumer, fails at its deadline naming
// what is lost.
func TestShutdown(t *testing.T) {
	ctx := context.Background()
	s := newStream(t, embedded.Config{Streams: []string{"fw"}})
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}

	s = newStream(t, embedded.Config{Streams: []string{"fw"}})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, s, "fw", rec("k", "1234"), rec("j", "5678"))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err := s.Shutdown(short)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "10 bytes") || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("Shutdown without a consumer: %v, want DeadlineExceeded naming 10 lost bytes", err)
	}
	stop := consume(t, s, func(context.Context, stream.Batch) error { return nil })
	defer stop()
	wait, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	for range 2 {
		if err := s.Shutdown(wait); err != nil {
			t.Fatalf("Shutdown with a consumer: %v", err)
		}
	}
	if s.Used() != 0 {
		t.Errorf("Used() = %d after Shutdown", s.Used())
	}
}
