package search_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/sink/search"
)

// Shutdown is safe without Start and twice; after Start it ends the retention sweeper,
// which sends no request after it.
func TestShutdown(t *testing.T) {
	url := engineURL(t)
	ctx := context.Background()
	s := sweepSink(t, url, func(c *search.Config) { c.Namespace = namespace(t) }, nil, nil)
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}

	rec := &recorder{target: url}
	proxy := httptest.NewServer(rec)
	defer proxy.Close()
	s = sweepSink(t, proxy.URL, func(c *search.Config) {
		c.Namespace = namespace(t)
		c.Lifecycle.SweepInterval = time.Second
	}, nil, nil)
	if s.Lifecycle() != "sweeper" {
		t.Fatalf("lifecycle %q, want sweeper", s.Lifecycle())
	}
	requests := func() int {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.calls)
	}
	before := requests()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The first sweep starts within a tenth of the interval.
	for deadline := time.Now().Add(10 * time.Second); requests() == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper sent nothing 10s after Start")
		}
	}
	for range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	after := requests()
	time.Sleep(1500 * time.Millisecond) // more than an interval
	if n := requests(); n != after {
		t.Errorf("%d requests after Shutdown: the sweeper still runs", n-after)
	}
}
