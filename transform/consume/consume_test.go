package consume_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform/consume"
	"github.com/sluice-siem/sluice/transform/consume/consumetest"
)

// TestConsumeEveryRecordOnce: one worker reads plain and aggregated records of three
// shards, each exactly once and in order per shard, and on shutdown checkpoints the
// last one and releases its leases.
func TestConsumeEveryRecordOnce(t *testing.T) {
	src := consumetest.NewSource()
	shards := src.CreateStream("fw", 3)
	store := consume.NewMemoryStore()
	rc := consumetest.NewRecorder(t)
	cfg := consumetest.FastConfig(consumetest.MemoryTiming, "w1", "fw")
	cfg.BatchRecords = 4
	want := consumetest.PutMany(src, "fw", shards, 10, "a")
	var aggSeq string
	for i := range 3 {
		aggSeq = src.PutAggregated("fw", shards[0], fmt.Sprintf("agg-%d-0", i), fmt.Sprintf("agg-%d-1", i), fmt.Sprintf("agg-%d-2", i))
		for sub := range 3 {
			want = append(want, fmt.Sprintf("fw/%s/%s/%d", shards[0], aggSeq, sub))
		}
	}
	stop := consumetest.RunWorker(t, cfg, store, src, rc.Handler("w1"))
	rc.WaitAll(want)
	more := consumetest.PutMany(src, "fw", shards, 5, "b") // while running
	rc.WaitAll(more)
	stop()
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("delivered more than once: %v", d)
	}
	// In order per shard: the Delivery order follows the sequence numbers.
	all := append(want, more...)
	last := map[string]int64{}
	slices.SortFunc(all, func(a, b string) int { return strings.Compare(a, b) })
	for _, id := range all {
		parts := strings.Split(id, "/")
		shard := parts[0] + "/" + parts[1]
		o := rc.Deliveries(id)[0].Order
		if o < last[shard] {
			t.Errorf("record %s delivered out of order", id)
		}
		last[shard] = o
	}
	leases, _ := store.List(context.Background())
	for _, l := range leases {
		if l.Owner != "" {
			t.Errorf("lease %s still owned by %q after shutdown", l.Key(), l.Owner)
		}
		if l.Checkpoint.IsZero() || l.Checkpoint.Partial {
			t.Errorf("lease %s checkpoint %+v, want the last record", l.Key(), l.Checkpoint)
		}
	}
}

// TestFailedBatchRedelivered: a batch whose handler fails is delivered again, the
// checkpoint never passes it, and the records after it wait.
func TestFailedBatchRedelivered(t *testing.T) {
	src := consumetest.NewSource()
	shards := src.CreateStream("fw", 1)
	store := consume.NewMemoryStore()
	rc := consumetest.NewRecorder(t)
	var fails atomic.Int32
	var failedSeq atomic.Value
	rc.Hook = func(_ context.Context, _ string, b stream.Batch) error {
		if fails.Load() < 3 && strings.HasSuffix(string(b.Records[0].Data), "-10") {
			fails.Add(1)
			failedSeq.Store(b.Records[0].Sequence)
			return errors.New("sink down")
		}
		return nil
	}
	cfg := consumetest.FastConfig(consumetest.MemoryTiming, "a", "fw")
	cfg.BatchRecords = 10
	want := consumetest.PutMany(src, "fw", shards, 30, "x")
	stop := consumetest.RunWorker(t, cfg, store, src, rc.Handler("a"))
	// While the batch fails, the checkpoint stays before it.
	deadline := time.Now().Add(consumetest.Patience)
	for fails.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("batch never failed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	l, _ := store.Get(context.Background(), "fw", shards[0])
	if seq, _ := failedSeq.Load().(string); l.Checkpoint.Sequence >= seq {
		t.Errorf("checkpoint %s at or past the failing batch starting at %s", l.Checkpoint.Sequence, seq)
	}
	rc.WaitAll(want)
	stop()
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("records delivered twice: %v (a failed batch is not recorded)", d)
	}
	if fails.Load() != 3 {
		t.Errorf("batch failed %d times, want 3", fails.Load())
	}
}

// holdUntil is a recorder hook that holds every batch until release is closed (or the
// handler's context ends).
func holdUntil(release <-chan struct{}) func(context.Context, string, stream.Batch) error {
	return func(ctx context.Context, _ string, _ stream.Batch) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
}

// TestUnackedBound: while the handler holds a batch, the reader stops at
// MaxUnackedRecords stream records, and resumes once acknowledged. It runs in a
// synctest bubble, so the read periods it waits are the reader's, whatever the load.
func TestUnackedBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := consumetest.NewSource()
		shards := src.CreateStream("fw", 1)
		store := consume.NewMemoryStore()
		rc := consumetest.NewRecorder(t)
		release := make(chan struct{})
		rc.Hook = holdUntil(release)
		cfg := consumetest.FastConfig(consumetest.MemoryTiming, "a", "fw")
		cfg.MaxUnackedRecords = 12
		cfg.BatchRecords = 5
		// 30 aggregated records of 3 user records: the bound counts stream records.
		var want []string
		for i := range 30 {
			seq := src.PutAggregated("fw", shards[0], fmt.Sprint(i, "a"), fmt.Sprint(i, "b"), fmt.Sprint(i, "c"))
			for sub := range 3 {
				want = append(want, fmt.Sprintf("fw/%s/%s/%d", shards[0], seq, sub))
			}
		}
		consumetest.RunWorker(t, cfg, store, src, rc.Handler("a"))
		time.Sleep(600 * time.Millisecond) // several read periods
		// Read so far: one page of at most 12 stream records (36 user records).
		if n := src.Served("fw", shards[0]); n > 12 {
			t.Errorf("read %d stream records with the handler blocked, bound 12", n)
		}
		close(release)
		rc.WaitAll(want)
	})
}

// TestUnackedByteBound: while the handler holds a batch, the reader stops once the
// records read and not acknowledged reach MaxUnackedBytes, with the record bound far
// off, and resumes once they are acknowledged. The bound is checked before each read,
// so a read may pass it by what one read returns (here RecordsPerCall, 2 records).
func TestUnackedByteBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := consumetest.NewSource()
		shards := src.CreateStream("fw", 1)
		store := consume.NewMemoryStore()
		rc := consumetest.NewRecorder(t)
		release := make(chan struct{})
		rc.Hook = holdUntil(release)
		cfg := consumetest.FastConfig(consumetest.MemoryTiming, "a", "fw")
		cfg.MaxUnackedBytes = 3500
		cfg.RecordsPerCall = 2
		cfg.BatchRecords = 2
		// 30 records of 1,000 bytes (999 of data, 1 of partition key).
		var want []string
		for i := range 30 {
			payload := fmt.Sprintf("%03d", i) + strings.Repeat("x", 996)
			for _, seq := range src.Put("fw", shards[0], payload) {
				want = append(want, fmt.Sprintf("fw/%s/%s", shards[0], seq))
			}
		}
		consumetest.RunWorker(t, cfg, store, src, rc.Handler("a"))
		time.Sleep(2 * time.Second) // several read periods
		// Reads of 2,000 bytes: after two, 4,000 bytes are held, past the bound.
		if n := src.Served("fw", shards[0]); n != 4 {
			t.Errorf("read %d records of 1,000 bytes with the handler blocked and a bound of 3,500 bytes, want 4", n)
		}
		close(release)
		rc.WaitAll(want)
	})
}

// TestReadRateAndThrottling: reads of a shard stay within CallsPerSecond, throttled
// reads back off, and every record still arrives. It runs in a synctest bubble: the
// rate is measured on the clock the reader paces itself by.
func TestReadRateAndThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := consumetest.NewSource()
		shards := src.CreateStream("fw", 1)
		store := consume.NewMemoryStore()
		rc := consumetest.NewRecorder(t)
		var throttled atomic.Int32
		src.SetFault(func(op, _, _ string) error {
			if op == "read" && throttled.Add(1) <= 3 {
				return fmt.Errorf("get records: %w", stream.ErrThrottled)
			}
			return nil
		})
		cfg := consumetest.FastConfig(consumetest.MemoryTiming, "a", "fw")
		cfg.IdleWait = 0
		cfg.CallsPerSecond = 5
		want := consumetest.PutMany(src, "fw", shards, 10, "x")
		start := time.Now()
		stop := consumetest.RunWorker(t, cfg, store, src, rc.Handler("a"))
		rc.WaitAll(want)
		time.Sleep(time.Second)
		stop()
		elapsed := time.Since(start)
		reads := src.Reads("fw", shards[0])
		if max := int(elapsed.Seconds()*5) + 2; reads > max {
			t.Errorf("%d reads in %v, more than 5/s", reads, elapsed)
		}
	})
}

// TestPartialCheckpointResume: a hand-off inside an aggregated record checkpoints the
// last acknowledged user record; the next worker resumes after it.
func TestPartialCheckpointResume(t *testing.T) {
	src := consumetest.NewSource()
	shards := src.CreateStream("fw", 1)
	store := consume.NewMemoryStore()
	rc := consumetest.NewRecorder(t)
	var users []string
	for i := range 10 {
		users = append(users, fmt.Sprint("u", i))
	}
	seq := src.PutAggregated("fw", shards[0], users...)
	var want []string
	for sub := range 10 {
		want = append(want, fmt.Sprintf("fw/%s/%s/%d", shards[0], seq, sub))
	}
	block := make(chan struct{})
	rc.Hook = func(ctx context.Context, w string, b stream.Batch) error {
		if w == "a" && b.Records[0].SubSequence >= 6 {
			select { // a holds its third batch until its hand-off deadline
			case <-block:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	cfg := consumetest.FastConfig(consumetest.MemoryTiming, "a", "fw")
	cfg.BatchRecords = 3
	cfg.HandoffTimeout = 200 * time.Millisecond
	stopA := consumetest.RunWorker(t, cfg, store, src, rc.Handler("a"))
	rc.WaitAll(want[:6])
	stopA()
	l, _ := store.Get(context.Background(), "fw", shards[0])
	if l.Checkpoint != (stream.Checkpoint{Sequence: seq, Partial: true, SubSequence: 5}) || l.Owner != "" {
		t.Fatalf("lease after a's hand-off: %+v, want a partial checkpoint at sub-sequence 5, released", l)
	}
	cfg.WorkerID = "b"
	consumetest.RunWorker(t, cfg, store, src, rc.Handler("b"))
	rc.WaitAll(want)
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("records delivered twice: %v", d)
	}
	for _, id := range want[6:] {
		if ds := rc.Deliveries(id); ds[0].Worker != "b" {
			t.Errorf("%s delivered by %s", id, ds[0].Worker)
		}
	}
}

// TestInitialPositionLatest: a stream first seen with initial position latest is read
// from the records put after its leases were made; closed shards are finished at once.
// It runs in a synctest bubble, so the readers are positioned when the test puts.
func TestInitialPositionLatest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := consumetest.NewSource()
		shards := src.CreateStream("fw", 2)
		old := consumetest.PutMany(src, "fw", shards, 5, "old")
		children := src.Split("fw", shards[0])
		store := consume.NewMemoryStore()
		rc := consumetest.NewRecorder(t)
		cfg := consumetest.FastConfig(consumetest.MemoryTiming, "a", "fw")
		cfg.InitialPosition = stream.Latest
		consumetest.RunWorker(t, cfg, store, src, rc.Handler("a"))
		consumetest.WaitBalanced(t, store, "a")
		time.Sleep(300 * time.Millisecond) // readers positioned
		fresh := consumetest.PutMany(src, "fw", []string{shards[1], children[0], children[1]}, 5, "new")
		rc.WaitAll(fresh)
		for _, id := range old {
			if len(rc.Deliveries(id)) > 0 {
				t.Errorf("old record %s delivered with initial position latest", id)
			}
		}
		l, _ := store.Get(context.Background(), "fw", shards[0])
		if !l.Finished {
			t.Errorf("closed shard's lease %+v not finished", l)
		}
	})
}

// TestConfigValidate reports every problem with its path.
func TestConfigValidate(t *testing.T) {
	cfg := consume.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg.Streams = []string{"ok", "bad name", "ok"}
	cfg.InitialPosition = "sometime"
	cfg.RenewPeriod = 5 * time.Second
	cfg.FailoverTime = 10 * time.Second
	cfg.RecordsPerCall = 20000
	cfg.CallsPerSecond = 6
	cfg.MaxUnackedRecords = 0
	cfg.MaxUnackedBytes = 0
	err := cfg.Validate()
	for _, want := range []string{
		"streams[1]", "streams[2]: duplicate", "initial_position",
		"failover_time", "records_per_call", "calls_per_second",
		"max_unacked_records", "max_unacked_bytes",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a problem at %s", err, want)
		}
	}
	cfg = consume.DefaultConfig()
	cfg.InitialPosition = stream.AtTimestamp
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "initial_timestamp") {
		t.Errorf("at_timestamp without a time: %v", err)
	}
	cfg.InitialTimestamp = "2026-01-02T03:04:05Z"
	if err := cfg.Validate(); err != nil {
		t.Errorf("at_timestamp with a time: %v", err)
	}
}

// TestLeasingInMemory runs the shared lease suite on the in-memory store, each subtest
// in a synctest bubble so that machine load does not move its timing.
func TestLeasingInMemory(t *testing.T) {
	consumetest.TestLeasingBubbled(t, func(*testing.T) consume.LeaseStore { return consume.NewMemoryStore() }, consumetest.MemoryTiming)
}

// TestMemoryStoreContract runs the LeaseStore contract on the in-memory store.
func TestMemoryStoreContract(t *testing.T) {
	consumetest.TestLeaseStore(t, func(*testing.T) consume.LeaseStore { return consume.NewMemoryStore() }, 200)
}

// meterReader returns a meter whose measurements collect reads.
func meterReader(t *testing.T) (metric.Meter, func() map[string]map[string]int64) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	collect := func() map[string]map[string]int64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]int64{} // metric -> shard (or stream) -> value
		add := func(name string, attrs attribute.Set, v int64) {
			key, _ := attrs.Value("shard")
			if key.AsString() == "" {
				key, _ = attrs.Value("stream")
			}
			if out[name] == nil {
				out[name] = map[string]int64{}
			}
			out[name][key.AsString()] += v
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					for _, dp := range d.DataPoints {
						add(m.Name, dp.Attributes, dp.Value)
					}
				case metricdata.Gauge[int64]:
					for _, dp := range d.DataPoints {
						add(m.Name, dp.Attributes, dp.Value)
					}
				}
			}
		}
		return out
	}
	return mp.Meter("test"), collect
}

// TestMetrics: leases owned, taken, stolen and lost, records read per shard,
// MillisBehindLatest, checkpoint lag and throttled reads are exported. It runs in a
// synctest bubble, so the checkpoint periods it waits have passed for the keeper too.
func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := consumetest.NewSource()
		shards := src.CreateStream("fw", 2)
		var throttled atomic.Int32
		src.SetFault(func(op, _, shard string) error {
			if op == "read" && shard == shards[0] && throttled.Add(1) == 1 {
				return stream.ErrThrottled
			}
			return nil
		})
		shared := consume.NewMemoryStore()
		rc := consumetest.NewRecorder(t)
		want := consumetest.PutMany(src, "fw", shards, 10, "a")
		seq := src.PutAggregated("fw", shards[1], "x", "y", "z")
		for sub := range 3 {
			want = append(want, fmt.Sprintf("fw/%s/%s/%d", shards[1], seq, sub))
		}
		meterA, collectA := meterReader(t)
		cfgA := consumetest.FastConfig(consumetest.MemoryTiming, "a", "fw")
		storeA := &consumetest.SwitchStore{LeaseStore: shared}
		ca, err := consume.New(cfgA, storeA, src, consume.Options{Meter: meterA})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ca.Consume(ctx, rc.Handler("a")) }()
		defer func() {
			cancel()
			<-done
		}()
		rc.WaitAll(want)
		time.Sleep(3 * cfgA.CheckpointPeriod)
		m := collectA()
		if m["sluice_consumer_leases_taken_total"]["fw"] != 2 || m["sluice_consumer_leases_owned"]["fw"] != 2 {
			t.Errorf("taken %v owned %v, want 2 and 2", m["sluice_consumer_leases_taken_total"], m["sluice_consumer_leases_owned"])
		}
		if r := m["sluice_consumer_records_read_total"]; r[shards[0]] != 10 || r[shards[1]] != 13 {
			t.Errorf("records read %v, want 10 and 13", r)
		}
		if n := m["sluice_consumer_get_records_throttles_total"][shards[0]]; n != 1 {
			t.Errorf("throttles %v, want 1 on %s", m["sluice_consumer_get_records_throttles_total"], shards[0])
		}
		if mb, ok := m["sluice_consumer_millis_behind_latest"]; !ok || len(mb) != 2 || mb[shards[0]] != 0 {
			t.Errorf("millis behind %v, want 0 for both shards", mb)
		}
		if lag, ok := m["sluice_consumer_checkpoint_lag_records"]; !ok || lag[shards[0]] != 0 || lag[shards[1]] != 0 {
			t.Errorf("checkpoint lag %v, want 0 once checkpointed", lag)
		}

		// b joins and is handed one lease: stolen; then a loses the store: lost.
		meterB, collectB := meterReader(t)
		cfgB := consumetest.FastConfig(consumetest.MemoryTiming, "b", "fw")
		cb, err := consume.New(cfgB, shared, src, consume.Options{Meter: meterB})
		if err != nil {
			t.Fatal(err)
		}
		ctxB, cancelB := context.WithCancel(context.Background())
		doneB := make(chan error, 1)
		go func() { doneB <- cb.Consume(ctxB, rc.Handler("b")) }()
		defer func() {
			cancelB()
			<-doneB
		}()
		consumetest.WaitBalanced(t, shared, "a", "b")
		// The store shows the hand-over before b's next round counts it: wait for that.
		stolenBy := time.Now().Add(consumetest.Patience)
		for collectB()["sluice_consumer_leases_stolen_total"]["fw"] == 0 && time.Now().Before(stolenBy) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := collectB()["sluice_consumer_leases_stolen_total"]["fw"]; n != 1 {
			t.Errorf("b stolen = %d, want 1", n)
		}
		storeA.Down.Store(true)
		deadline := time.Now().Add(consumetest.Patience)
		for collectA()["sluice_consumer_leases_lost_total"]["fw"] != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("a's lost lease never counted: %v", collectA()["sluice_consumer_leases_lost_total"])
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// takeDuringShutdown is a store whose first take of a free lease by worker is applied
// while the worker's Consume context ends, as when SIGTERM arrives with the write in
// flight: the write reaches the store, and a caller that gave up on its context
// cannot know.
type takeDuringShutdown struct {
	consume.LeaseStore
	worker string
	stop   context.CancelFunc
	once   sync.Once
}

func (s *takeDuringShutdown) Update(ctx context.Context, old, l stream.Lease) error {
	first := false
	if old.Owner == "" && l.Owner == s.worker && l.Counter == old.Counter+1 {
		s.once.Do(func() { first = true })
	}
	if !first {
		return s.LeaseStore.Update(ctx, old, l)
	}
	s.stop()
	err := s.LeaseStore.Update(context.Background(), old, l)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// leaseLog records the lease events a consumer logs.
type leaseLog struct {
	mu     *sync.Mutex
	events *[]leaseEvent
	attrs  []slog.Attr
}

type leaseEvent struct {
	msg, shard string
	counter    int64
}

func (h leaseLog) Enabled(context.Context, slog.Level) bool { return true }
func (h leaseLog) WithGroup(string) slog.Handler            { return h }
func (h leaseLog) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clone(h.attrs), as...)
	return h
}
func (h leaseLog) Handle(_ context.Context, r slog.Record) error {
	e := leaseEvent{msg: r.Message}
	set := func(a slog.Attr) bool {
		switch a.Key {
		case "shard":
			e.shard = a.Value.String()
		case "counter":
			e.counter = a.Value.Int64()
		}
		return true
	}
	for _, a := range h.attrs {
		set(a)
	}
	r.Attrs(set)
	h.mu.Lock()
	*h.events = append(*h.events, e)
	h.mu.Unlock()
	return nil
}

// TestTakeDuringShutdownLogged: a take whose write is in flight when shutdown begins
// is not abandoned: the worker logs it and hands the shard back, so that its log shows
// every epoch it held (it once released, at shutdown, a lease it never logged taking).
func TestTakeDuringShutdownLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := consumetest.NewSource()
		shards := src.CreateStream("fw", 1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mem := consume.NewMemoryStore()
		store := &takeDuringShutdown{LeaseStore: mem, worker: "a", stop: cancel}
		var mu sync.Mutex
		var events []leaseEvent
		c, err := consume.New(consumetest.FastConfig(consumetest.MemoryTiming, "a", "fw"), store, src,
			consume.Options{Logger: slog.New(leaseLog{mu: &mu, events: &events})})
		if err != nil {
			t.Fatal(err)
		}
		rc := consumetest.NewRecorder(t)
		if err := c.Consume(ctx, rc.Handler("a")); err != nil {
			t.Fatalf("Consume: %v", err)
		}
		l, err := mem.Get(context.Background(), "fw", shards[0])
		if err != nil {
			t.Fatal(err)
		}
		if l.Owner != "" || l.Counter == 0 {
			t.Fatalf("lease after shutdown %+v, want taken once and released", l)
		}
		var taken, released []int64
		for _, e := range events {
			switch e.msg {
			case "lease taken":
				taken = append(taken, e.counter)
			case "lease released":
				released = append(released, e.counter)
			}
		}
		if !slices.Equal(taken, []int64{l.Counter - 1}) || !slices.Equal(released, []int64{l.Counter}) {
			t.Errorf("logged takes at counters %v and releases at %v, want a take at %d and its release at %d",
				taken, released, l.Counter-1, l.Counter)
		}
	})
}
