package leases_test

import (
	"context"
	"testing"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/leases/dynamodbtest"
)

// Shutdown is safe without Start and twice, and after the store was used.
func TestShutdown(t *testing.T) {
	ep := dynamodbtest.Endpoint(t)
	ctx := context.Background()
	s := dynamodbtest.NewStore(t, ep)
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}
	s = dynamodbtest.NewStore(t, ep)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, stream.Lease{Stream: "s", Shard: "shardId-000000000000"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
}
