package durable_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded/durable"
	"github.com/sluice-siem/sluice/transform/consume"
	"github.com/sluice-siem/sluice/transform/consume/consumetest"
)

// The stream is the consumer's Source and its lease store a consumer's LeaseStore,
// by their method sets alone.
var (
	_ consume.Source     = (*durable.Stream)(nil)
	_ consume.LeaseStore = (*durable.LeaseStore)(nil)
)

// collector is a consumer handler that counts the deliveries of each record (by its
// data) and checks that each shard's records come in sequence order.
type collector struct {
	t       testing.TB
	mu      sync.Mutex
	got     map[string]int
	lastSeq map[string]string // by shard
	changed chan struct{}
}

func newCollector(t testing.TB) *collector {
	return &collector{t: t, got: map[string]int{}, lastSeq: map[string]string{}, changed: make(chan struct{}, 1)}
}

func (c *collector) handle(_ context.Context, b stream.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range b.Records {
		if r.Sequence <= c.lastSeq[r.Shard] {
			c.t.Errorf("shard %s: record %s delivered after %s", r.Shard, r.Sequence, c.lastSeq[r.Shard])
		}
		c.lastSeq[r.Shard] = r.Sequence
		c.got[string(r.Data)]++
	}
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

// wait waits until every record of want was delivered.
func (c *collector) wait(want []string) {
	c.t.Helper()
	deadline := time.After(patience)
	for {
		c.mu.Lock()
		missing := 0
		for _, d := range want {
			if c.got[d] == 0 {
				missing++
			}
		}
		c.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-c.changed:
		case <-deadline:
			c.t.Fatalf("%d of %d records not delivered within %v", missing, len(want), patience)
		}
	}
}

// check reports records delivered more than once, or delivered and not wanted.
func (c *collector) check(want []string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	wanted := map[string]bool{}
	for _, d := range want {
		wanted[d] = true
	}
	for d, n := range c.got {
		if n > 1 {
			c.t.Errorf("record %s delivered %d times", d, n)
		}
		if !wanted[d] {
			c.t.Errorf("record %s delivered again after a restart", d)
		}
	}
}

func putMany(t testing.TB, s *durable.Stream, tag string, n int) []string {
	t.Helper()
	var want []string
	var batch []stream.Record
	for i := range n {
		d := fmt.Sprintf("%s-%d", tag, i)
		batch = append(batch, rec(fmt.Sprintf("host-%d", i%17), d))
		want = append(want, d)
		if len(batch) == 25 {
			put(t, s, "fw", batch...)
			batch = nil
		}
	}
	if len(batch) > 0 {
		put(t, s, "fw", batch...)
	}
	return want
}

func waitEmpty(t testing.TB, s *durable.Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := s.WaitEmpty(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestConsumer: the transform tier's consumer reads the durable stream with its
// leases and checkpoints in the stream's own lease store; after a restart of both,
// it reads what was put since and nothing it had checkpointed.
func TestConsumer(t *testing.T) {
	cfg := config(t, newLogs(t))
	ctx := context.Background()
	s, err := durable.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := consumetest.FastConfig(consumetest.MemoryTiming, "w1", "fw")

	// Run 1: records put before and while the consumer runs.
	c1 := newCollector(t)
	first := putMany(t, s, "a", 200)
	stop := consumetest.RunWorker(t, ccfg, s.Leases(), s, c1.handle)
	c1.wait(first)
	more := putMany(t, s, "b", 100)
	c1.wait(more)
	stop() // graceful: checkpoints everything acknowledged and releases the leases
	waitEmpty(t, s)
	c1.check(append(first, more...))
	leases, err := s.Leases().List(ctx)
	if err != nil || len(leases) != 4 {
		t.Fatalf("leases after run 1: %v, %v", leases, err)
	}
	for _, l := range leases {
		if l.Owner != "" || l.Checkpoint.IsZero() {
			t.Errorf("lease %s after a graceful stop: %+v", l.Key(), l)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Run 2, after a restart: only what was put since.
	s = open(t, cfg)
	c2 := newCollector(t)
	again := putMany(t, s, "c", 150)
	stop = consumetest.RunWorker(t, ccfg, s.Leases(), s, c2.handle)
	c2.wait(again)
	stop()
	waitEmpty(t, s)
	c2.check(again)
}

// TestConsumerRestartMidway: the consumer stops with a batch in its handler that is
// never acknowledged, and the stream restarts while records are still coming; across
// the restart every record is delivered, and none that was acknowledged is delivered
// again.
func TestConsumerRestartMidway(t *testing.T) {
	cfg := config(t, newLogs(t))
	cfg.Sync = durable.SyncNone
	s, err := durable.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := consumetest.FastConfig(consumetest.MemoryTiming, "w1", "fw")
	ccfg.BatchRecords = 7
	ccfg.HandoffTimeout = 100 * time.Millisecond
	c := newCollector(t)
	var batches atomic.Int32
	stuck := make(chan struct{})
	var once sync.Once
	// Run 1 acknowledges 5 batches, then holds the next ones until the hand-off's
	// deadline cancels them: they fail, and must come again after the restart.
	stop := consumetest.RunWorker(t, ccfg, s.Leases(), s, func(ctx context.Context, b stream.Batch) error {
		if batches.Add(1) > 5 {
			once.Do(func() { close(stuck) })
			<-ctx.Done()
			return ctx.Err()
		}
		return c.handle(ctx, b)
	})
	want := putMany(t, s, "a", 300)
	select {
	case <-stuck:
	case <-time.After(patience):
		t.Fatal("the consumer did not get past 5 batches")
	}
	stop()
	c.mu.Lock()
	acked := len(c.got)
	c.mu.Unlock()
	want = append(want, putMany(t, s, "b", 100)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, cfg)
	want = append(want, putMany(t, s, "c", 100)...)
	consumetest.RunWorker(t, ccfg, s.Leases(), s, c.handle)
	c.wait(want)
	c.check(want)
	waitEmpty(t, s)
	t.Logf("%d records acknowledged before the restart, %d after", acked, len(want)-acked)
}
