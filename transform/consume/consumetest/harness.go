package consumetest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform/consume"
)

// Patience bounds every wait that should succeed.
const Patience = 20 * time.Second

// Timing is the periods of the workers of a test: short, so tests run fast, and
// scaled to the store (a store over the network needs more room than memory).
type Timing struct {
	Renew, Failover, Balance time.Duration
}

// MemoryTiming suits a store in memory.
var MemoryTiming = Timing{Renew: 50 * time.Millisecond, Failover: 400 * time.Millisecond, Balance: 50 * time.Millisecond}

// FastConfig returns a consumer configuration with the periods of tm.
func FastConfig(tm Timing, worker string, streams ...string) consume.Config {
	cfg := consume.DefaultConfig()
	cfg.WorkerID = worker
	cfg.Streams = streams
	cfg.RenewPeriod = tm.Renew
	cfg.FailoverTime = tm.Failover
	cfg.BalancePeriod = tm.Balance
	cfg.CheckpointPeriod = tm.Renew
	cfg.ShardRefresh = 4 * tm.Balance
	cfg.HandoffTimeout = 2 * time.Second
	cfg.IdleWait = 10 * time.Millisecond
	cfg.BatchRecords = 50
	return cfg
}

// Logger writes to the test log with -v, and nowhere otherwise.
func Logger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Delivery is one delivery of a record to a worker's handler.
type Delivery struct {
	Worker string
	// Order is the delivery's place among all deliveries of the test.
	Order int64
	At    time.Time
}

// Recorder is the handler of every worker of a test: it records each record's
// deliveries, and fails the test if two workers are inside the handler for the same
// shard at the same time. Its methods are safe for concurrent use.
type Recorder struct {
	t     testing.TB
	order atomic.Int64

	mu       sync.Mutex
	got      map[string][]Delivery // by record id
	active   map[string]string     // shard -> worker in the handler
	lastCall map[string]time.Time  // worker|shard -> end of its last handler call
	firstAt  map[string]time.Time  // worker|shard -> start of its first handler call

	// Hook, when set before the workers start, runs inside the handler before the
	// batch is recorded; an error fails the batch.
	Hook func(ctx context.Context, worker string, b stream.Batch) error
}

// NewRecorder returns an empty Recorder.
func NewRecorder(t testing.TB) *Recorder {
	return &Recorder{t: t, got: map[string][]Delivery{}, active: map[string]string{},
		lastCall: map[string]time.Time{}, firstAt: map[string]time.Time{}}
}

// RecordID names a record: stream/shard/sequence, and /sub-sequence if aggregated.
func RecordID(r stream.Delivered) string {
	id := r.Stream + "/" + r.Shard + "/" + r.Sequence
	if r.Aggregated {
		id += fmt.Sprintf("/%d", r.SubSequence)
	}
	return id
}

// Handler returns the handler of one worker.
func (rc *Recorder) Handler(worker string) consume.Handler {
	return func(ctx context.Context, b stream.Batch) error {
		key := b.Stream + "/" + b.Shard
		rc.mu.Lock()
		if other, ok := rc.active[key]; ok {
			rc.t.Errorf("shard %s: %s and %s in the handler at once", key, other, worker)
		}
		rc.active[key] = worker
		if _, ok := rc.firstAt[worker+"|"+key]; !ok {
			rc.firstAt[worker+"|"+key] = time.Now()
		}
		rc.mu.Unlock()
		defer func() {
			rc.mu.Lock()
			delete(rc.active, key)
			rc.lastCall[worker+"|"+key] = time.Now()
			rc.mu.Unlock()
		}()
		if rc.Hook != nil {
			if err := rc.Hook(ctx, worker, b); err != nil {
				return err
			}
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, r := range b.Records {
			id := RecordID(r)
			rc.got[id] = append(rc.got[id], Delivery{Worker: worker, Order: rc.order.Add(1), At: time.Now()})
		}
		return nil
	}
}

// WaitAll waits until every id in want was delivered at least once.
func (rc *Recorder) WaitAll(want []string) {
	rc.t.Helper()
	deadline := time.Now().Add(Patience)
	for {
		rc.mu.Lock()
		missing := 0
		for _, id := range want {
			if len(rc.got[id]) == 0 {
				missing++
			}
		}
		rc.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("%d of %d records not delivered within %v", missing, len(want), Patience)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Duplicates returns the ids delivered more than once, sorted.
func (rc *Recorder) Duplicates() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for id, ds := range rc.got {
		if len(ds) > 1 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Deliveries returns the deliveries of one record.
func (rc *Recorder) Deliveries(id string) []Delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got[id])
}

// Span returns when a worker's first handler call for a shard began and its last one
// ended; ok is false if it never processed the shard.
func (rc *Recorder) Span(worker, streamName, shard string) (first, last time.Time, ok bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	key := worker + "|" + streamName + "/" + shard
	first, ok = rc.firstAt[key]
	return first, rc.lastCall[key], ok
}

// RunWorker runs a consumer until the returned stop is called or the test ends; stop
// cancels Consume's context and waits for it to return.
func RunWorker(t testing.TB, cfg consume.Config, store consume.LeaseStore, src consume.Source, h consume.Handler) (stop func()) {
	t.Helper()
	c, err := consume.New(cfg, store, src, consume.Options{Logger: Logger(t).With("w", cfg.WorkerID)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Consume of %s: %v", cfg.WorkerID, err)
				}
			case <-time.After(Patience):
				t.Errorf("Consume of %s did not return within %v of its context's end", cfg.WorkerID, Patience)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// PutMany puts n plain records to each shard and returns their ids.
func PutMany(src *Source, streamName string, shards []string, n int, tag string) []string {
	var ids []string
	for _, sh := range shards {
		for i := range n {
			seq := src.Put(streamName, sh, fmt.Sprintf("%s-%s-%d", tag, sh, i))[0]
			ids = append(ids, streamName+"/"+sh+"/"+seq)
		}
	}
	return ids
}

// Owners returns the owner of every unfinished lease, by lease key.
func Owners(t testing.TB, store consume.LeaseStore) map[string]string {
	t.Helper()
	leases, err := store.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	out := map[string]string{}
	for _, l := range leases {
		if !l.Finished {
			out[l.Key()] = l.Owner
		}
	}
	return out
}

// WaitBalanced waits until there are leases, every unfinished one is owned by one of
// workers, and the workers' counts are within one of each other. It returns the
// counts.
func WaitBalanced(t testing.TB, store consume.LeaseStore, workers ...string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for {
		counts := map[string]int{}
		all := Owners(t, store)
		ok := len(all) > 0
		for _, o := range all {
			if !slices.Contains(workers, o) {
				ok = false
			}
			counts[o]++
		}
		lo, hi := 1<<30, 0
		for _, w := range workers {
			lo, hi = min(lo, counts[w]), max(hi, counts[w])
		}
		if ok && hi-lo <= 1 {
			return counts
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases not balanced over %v within %v: %v", workers, Patience, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
