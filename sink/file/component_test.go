package file

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-siem/sluice/sink"
)

// Shutdown is safe without Start and twice, and closes the sink: later writes fail.
func TestShutdown(t *testing.T) {
	ctx := context.Background()
	s := newSink(t, Config{})
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}

	s = newSink(t, Config{})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []sink.Document{doc("ids", day1, `{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if err := s.Write(ctx, []sink.Document{doc("ids", day1, `{"a":2}`)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Shutdown: %v, want ErrClosed", err)
	}
}
