package transform_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
	"github.com/sluice-siem/sluice/transform"
)

// The consumer's Shutdown is safe without Start and twice; after Start it hands the
// source's batches to the transformer, also once the context of Start ended, and
// nothing after Shutdown.
func TestConsumerShutdown(t *testing.T) {
	ctx := context.Background()
	src, err := embedded.New(embedded.Config{Streams: []string{"logs-firewall"}})
	if err != nil {
		t.Fatal(err)
	}
	rs := &recordingSink{}
	c := transform.NewConsumer(src, newTransformer(t, rs, transform.Options{}), transform.ConsumerOptions{})
	for range 2 {
		if err := c.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}

	c = transform.NewConsumer(src, newTransformer(t, rs, transform.Options{}), transform.ConsumerOptions{})
	startCtx, cancel := context.WithCancel(ctx)
	if err := c.Start(startCtx); err != nil {
		t.Fatal(err)
	}
	cancel()
	put := func(event string) {
		t.Helper()
		if err := src.Put(ctx, "logs-firewall", []stream.Record{{PartitionKey: "k", Data: envelope("firewall", event)}}); err != nil {
			t.Fatal(err)
		}
	}
	calls := func() int {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return len(rs.calls)
	}
	put(`{"message":"one"}`)
	for deadline := time.Now().Add(5 * time.Second); calls() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nothing transformed 5s after a put")
		}
	}
	for range 2 {
		if err := c.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	put(`{"message":"two"}`)
	time.Sleep(50 * time.Millisecond)
	if n := calls(); n != 1 {
		t.Errorf("%d sink calls, want 1: the consumer still runs after Shutdown", n)
	}
}

// failingSource is a Source whose Consume fails at once.
type failingSource struct{ err error }

func (s failingSource) Consume(context.Context, func(context.Context, stream.Batch) error) error {
	return s.err
}

// An error that ends consuming goes to Fatal, or else to Shutdown.
func TestConsumerFails(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("consume: another Consume call is already running")
	tr := newTransformer(t, &recordingSink{}, transform.Options{})

	got := make(chan error, 1)
	c := transform.NewConsumer(failingSource{boom}, tr, transform.ConsumerOptions{Fatal: func(err error) { got <- err }})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, boom) {
		t.Errorf("Fatal got %v", err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown after Fatal: %v", err)
	}

	c = transform.NewConsumer(failingSource{boom}, tr, transform.ConsumerOptions{})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx); !errors.Is(err, boom) {
		t.Errorf("Shutdown: %v, want %v", err, boom)
	}
}
