package discard_test

import (
	"context"
	"sync"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/discard"
)

// The null stream is a gateway.Producer.
var _ gateway.Producer = (*discard.Stream)(nil)

func TestPutCountsAndDrops(t *testing.T) {
	s := discard.New()
	recs := []stream.Record{{PartitionKey: "k", Data: []byte("abc")}, {PartitionKey: "kk", Data: []byte("d")}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if err := s.Put(context.Background(), "sluice-firewall", recs); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := s.Records(); got != 1600 {
		t.Errorf("Records() = %d, want 1600", got)
	}
	if got := s.Bytes(); got != 800*7 {
		t.Errorf("Bytes() = %d, want %d", got, 800*7)
	}
	if err := s.Put(context.Background(), "x", nil); err != nil {
		t.Errorf("empty Put: %v", err)
	}
}
