package kinesis_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// The producer's Shutdown is safe without Start and twice; after Start it flushes what
// lingers, and Puts fail after it. Its goroutines end (goleak checks at exit).
func TestProducerShutdown(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	ctx := context.Background()
	p, err := kinesis.New(ctx, testConfig(endpoint), kinesis.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}

	admin := kinesistest.Client(t, endpoint)
	streamName := kinesistest.CreateStream(t, admin, 1)
	cfg := testConfig(endpoint)
	cfg.Linger = time.Minute
	if p, err = kinesis.New(ctx, cfg, kinesis.Options{Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sent := events(rand.New(rand.NewPCG(5, 5)), "s", 20, 3, 100)
	result := make(chan error, 1)
	go func() { result <- p.Put(ctx, streamName, sent) }()
	time.Sleep(100 * time.Millisecond) // the Put lingers
	sctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	for range 2 {
		if err := p.Shutdown(sctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if err := <-result; err != nil {
		t.Errorf("Put: %v", err)
	}
	if err := p.Put(ctx, streamName, sent[:1]); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Put after Shutdown: %v, want a closed error", err)
	}
	verify(t, endpoint, streamName, sent, true, true)
}

// The reader's Shutdown is safe without Start and twice.
func TestReaderShutdown(t *testing.T) {
	ctx := context.Background()
	r, err := kinesis.NewReader(ctx, testConfig(kinesistest.Endpoint(t)), kinesis.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
}
