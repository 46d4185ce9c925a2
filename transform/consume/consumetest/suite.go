package consumetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform/consume"
)

// TestLeasing is the shared suite of lease behaviour: consumers on the in-memory Source
// with their leases in the store newStore returns (an empty one per subtest), with the
// periods of tm. It proves, for any LeaseStore:
//
//   - workers share shards within one of each other, every record delivered exactly
//     once and never two workers in a shard's handler at once;
//   - a joining worker steals at most one lease per balance period, and steals
//     re-deliver nothing (the owner hands over after checkpointing);
//   - two workers racing for an expired lease: one wins, the shard is processed by
//     one of them only;
//   - a worker cut off from the store stops before the failover time, the others take
//     its shards only after it and re-deliver only what follows its last checkpoint;
//   - a worker that shuts down hands its shards over at once, re-delivering nothing;
//   - after a split and a merge, children are processed only after their parents.
func TestLeasing(t *testing.T, newStore func(t *testing.T) consume.LeaseStore, tm Timing) {
	testLeasing(t, newStore, tm, func(t *testing.T, f func(*testing.T)) { f(t) })
}

// TestLeasingBubbled runs TestLeasing with each subtest in a testing/synctest bubble:
// the workers' periods pass on the bubble's fake clock, which moves only when every
// goroutine of the test waits, so a loaded machine cannot stretch a renewal past the
// failover time or squeeze two balance rounds together. newStore must return a store
// that only uses memory, channels, locks and timers (no network), and it is called
// inside the bubble.
func TestLeasingBubbled(t *testing.T, newStore func(t *testing.T) consume.LeaseStore, tm Timing) {
	testLeasing(t, newStore, tm, synctest.Test)
}

func testLeasing(t *testing.T, newStore func(t *testing.T) consume.LeaseStore, tm Timing, in func(*testing.T, func(*testing.T))) {
	sub := func(name string, f func(*testing.T, consume.LeaseStore, Timing)) {
		t.Run(name, func(t *testing.T) {
			in(t, func(t *testing.T) { f(t, newStore(t), tm) })
		})
	}
	sub("share and balance", testShare)
	sub("steal at most one per period", testSteal)
	sub("race for an expired lease", testRace)
	sub("stop before failover", testFailover)
	sub("graceful hand-off", testHandOff)
	sub("resharding parents first", testResharding)
}

func testShare(t *testing.T, store consume.LeaseStore, tm Timing) {
	src := NewSource()
	shards := src.CreateStream("fw", 8)
	rc := NewRecorder(t)
	want := PutMany(src, "fw", shards, 20, "a")
	// One worker first, so the others must steal to balance.
	RunWorker(t, FastConfig(tm, "w1", "fw"), store, src, rc.Handler("w1"))
	WaitBalanced(t, store, "w1")
	RunWorker(t, FastConfig(tm, "w2", "fw"), store, src, rc.Handler("w2"))
	RunWorker(t, FastConfig(tm, "w3", "fw"), store, src, rc.Handler("w3"))
	for round := range 5 {
		want = append(want, PutMany(src, "fw", shards, 10, fmt.Sprintf("r%d", round))...)
		time.Sleep(tm.Balance)
	}
	counts := WaitBalanced(t, store, "w1", "w2", "w3")
	rc.WaitAll(want)
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("%d records delivered more than once, e.g. %v", len(d), d[:min(5, len(d))])
	}
	t.Logf("balanced: %v", counts)
}

// SwitchStore is one worker's view of a shared store, which a test can cut off. It
// also records the steal requests that go through it.
type SwitchStore struct {
	consume.LeaseStore
	// Down, when set, fails every call.
	Down atomic.Bool

	mu     sync.Mutex
	steals []time.Time
}

// ErrUnreachable is what a SwitchStore that is down returns.
var ErrUnreachable = errors.New("store unreachable")

// List fails while the store is down.
func (s *SwitchStore) List(ctx context.Context) ([]stream.Lease, error) {
	if s.Down.Load() {
		return nil, ErrUnreachable
	}
	return s.LeaseStore.List(ctx)
}

// Get fails while the store is down.
func (s *SwitchStore) Get(ctx context.Context, streamName, shard string) (stream.Lease, error) {
	if s.Down.Load() {
		return stream.Lease{}, ErrUnreachable
	}
	return s.LeaseStore.Get(ctx, streamName, shard)
}

// Create fails while the store is down.
func (s *SwitchStore) Create(ctx context.Context, l stream.Lease) error {
	if s.Down.Load() {
		return ErrUnreachable
	}
	return s.LeaseStore.Create(ctx, l)
}

// Update fails while the store is down, and records steal requests.
func (s *SwitchStore) Update(ctx context.Context, old, l stream.Lease) error {
	if s.Down.Load() {
		return ErrUnreachable
	}
	err := s.LeaseStore.Update(ctx, old, l)
	if err == nil && old.NextOwner == "" && l.NextOwner != "" && l.Counter == old.Counter {
		s.mu.Lock()
		s.steals = append(s.steals, time.Now())
		s.mu.Unlock()
	}
	return err
}

// Delete fails while the store is down.
func (s *SwitchStore) Delete(ctx context.Context, old stream.Lease) error {
	if s.Down.Load() {
		return ErrUnreachable
	}
	return s.LeaseStore.Delete(ctx, old)
}

// Steals returns when the steal requests through s were made.
func (s *SwitchStore) Steals() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.steals)
}

func testSteal(t *testing.T, shared consume.LeaseStore, tm Timing) {
	src := NewSource()
	shards := src.CreateStream("fw", 8)
	rc := NewRecorder(t)
	want := PutMany(src, "fw", shards, 5, "a")
	RunWorker(t, FastConfig(tm, "w1", "fw"), shared, src, rc.Handler("w1"))
	WaitBalanced(t, shared, "w1")
	cfg2 := FastConfig(tm, "w2", "fw")
	cfg2.BalancePeriod = 3 * tm.Balance
	s2 := &SwitchStore{LeaseStore: shared}
	RunWorker(t, cfg2, s2, src, rc.Handler("w2"))
	counts := WaitBalanced(t, shared, "w1", "w2")
	if counts["w1"] != 4 || counts["w2"] != 4 {
		t.Errorf("counts %v, want 4 and 4", counts)
	}
	rc.WaitAll(want)
	steals := s2.Steals()
	if len(steals) < 4 {
		t.Fatalf("%d steal requests, want at least 4", len(steals))
	}
	for i := 1; i < len(steals); i++ {
		// One request per balance round of w2, and rounds are a period apart.
		if gap := steals[i].Sub(steals[i-1]); gap < cfg2.BalancePeriod*8/10 {
			t.Errorf("steal requests %d and %d only %v apart, balance period %v", i-1, i, gap, cfg2.BalancePeriod)
		}
	}
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("steals re-delivered %d records: %v", len(d), d)
	}
}

func testRace(t *testing.T, store consume.LeaseStore, tm Timing) {
	src := NewSource()
	shards := src.CreateStream("fw", 1)
	ctx := context.Background()
	// The lease of a worker that died: its counter never moves again.
	dead := stream.Lease{Stream: "fw", Shard: shards[0], Owner: "dead", Counter: 41, Start: stream.Start{Position: stream.TrimHorizon}}
	if err := store.Create(ctx, dead); err != nil {
		t.Fatal(err)
	}
	rc := NewRecorder(t)
	want := PutMany(src, "fw", shards, 20, "a")
	start := time.Now()
	for _, w := range []string{"a", "b", "c"} {
		RunWorker(t, FastConfig(tm, w, "fw"), store, src, rc.Handler(w))
	}
	rc.WaitAll(want)
	if took := time.Since(start); took < tm.Failover {
		t.Errorf("expired lease taken after %v, before the failover time %v", took, tm.Failover)
	}
	owner := Owners(t, store)[dead.Key()]
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("%d records delivered twice: more than one worker won the lease", len(d))
	}
	for _, id := range want {
		if w := rc.Deliveries(id)[0].Worker; w != owner {
			t.Errorf("record %s delivered by %s, the lease belongs to %s", id, w, owner)
		}
	}
}

func testFailover(t *testing.T, shared consume.LeaseStore, tm Timing) {
	src := NewSource()
	shards := src.CreateStream("fw", 4)
	rc := NewRecorder(t)
	cfgA, cfgB := FastConfig(tm, "a", "fw"), FastConfig(tm, "b", "fw")
	sa := &SwitchStore{LeaseStore: shared}
	RunWorker(t, cfgA, sa, src, rc.Handler("a"))
	WaitBalanced(t, shared, "a")
	want := PutMany(src, "fw", shards, 10, "x")
	rc.WaitAll(want)
	RunWorker(t, cfgB, shared, src, rc.Handler("b"))
	WaitBalanced(t, shared, "a", "b")
	heldByA := map[string]bool{}
	for k, o := range Owners(t, shared) {
		if o == "a" {
			heldByA[k] = true
		}
	}
	time.Sleep(2 * cfgA.CheckpointPeriod) // let a checkpoint what it has
	before := map[string]stream.Lease{}
	leases, err := shared.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		before[l.Key()] = l
	}

	// a keeps running but cannot reach the store: it must stop before b may take.
	cut := time.Now()
	sa.Down.Store(true)
	want = append(want, PutMany(src, "fw", shards, 10, "y")...)
	WaitBalanced(t, shared, "b")
	rc.WaitAll(want)
	// a may have delivered the y records itself before it stopped; b still resumes
	// each of a's shards from a's last checkpoint, before them. Wait for that.
	deadline := time.Now().Add(Patience)
	for key := range heldByA {
		shard := key[strings.Index(key, "/")+1:]
		for _, _, ok := rc.Span("b", "fw", shard); !ok && time.Now().Before(deadline); _, _, ok = rc.Span("b", "fw", shard) {
			time.Sleep(10 * time.Millisecond)
		}
	}

	for key := range heldByA {
		shard := key[strings.Index(key, "/")+1:]
		_, lastA, _ := rc.Span("a", "fw", shard)
		firstB, _, ok := rc.Span("b", "fw", shard)
		if !ok {
			t.Errorf("b never processed %s", key)
			continue
		}
		if !lastA.Before(firstB) {
			t.Errorf("shard %s: a's last handler call ended %v after b's first began", key, lastA.Sub(firstB))
		}
		if lastA.Sub(cut) > cfgA.FailoverTime {
			t.Errorf("shard %s: a processed until %v after the cut, past the failover time %v", key, lastA.Sub(cut), cfgA.FailoverTime)
		}
		if firstB.Sub(cut) < cfgA.FailoverTime-cfgA.RenewPeriod {
			t.Errorf("shard %s: b took over %v after the cut, before the failover time", key, firstB.Sub(cut))
		}
	}
	// Only records after a's last checkpoint may come twice.
	for _, id := range rc.Duplicates() {
		key := id[:strings.LastIndex(id, "/")]
		seq := id[strings.LastIndex(id, "/")+1:]
		if !heldByA[key] {
			t.Errorf("record %s of a shard a never held delivered twice", id)
		} else if seq <= before[key].Checkpoint.Sequence {
			t.Errorf("record %s at or before a's checkpoint %s delivered again", id, before[key].Checkpoint.Sequence)
		}
	}
}

func testHandOff(t *testing.T, store consume.LeaseStore, tm Timing) {
	src := NewSource()
	shards := src.CreateStream("fw", 6)
	rc := NewRecorder(t)
	slow := tm
	slow.Failover = 5 * time.Second // a take after the failover time would show
	slow.Renew = 300 * time.Millisecond
	cfg := FastConfig(slow, "a", "fw")
	stopA := RunWorker(t, cfg, store, src, rc.Handler("a"))
	cfgB := cfg
	cfgB.WorkerID = "b"
	RunWorker(t, cfgB, store, src, rc.Handler("b"))
	want := PutMany(src, "fw", shards, 30, "x")
	WaitBalanced(t, store, "a", "b")
	rc.WaitAll(want)
	start := time.Now()
	stopA()
	WaitBalanced(t, store, "b")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("hand-off took %v", took)
	}
	want = append(want, PutMany(src, "fw", shards, 30, "y")...)
	rc.WaitAll(want)
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("hand-off re-delivered %d records: %v", len(d), d)
	}
}

func testResharding(t *testing.T, store consume.LeaseStore, tm Timing) {
	src := NewSource()
	shards := src.CreateStream("fw", 3)
	rc := NewRecorder(t)
	// Slow handlers, so that children have records waiting while parents drain.
	rc.Hook = func(ctx context.Context, _ string, b stream.Batch) error {
		time.Sleep(2 * time.Millisecond)
		return nil
	}
	for _, w := range []string{"a", "b"} {
		cfg := FastConfig(tm, w, "fw")
		cfg.BatchRecords = 5
		RunWorker(t, cfg, store, src, rc.Handler(w))
	}
	var order []string
	perKey := map[string][]string{}
	put := func(key, shard string, n int) {
		for range n {
			seq := src.Put("fw", shard, key)[0]
			id := "fw/" + shard + "/" + seq
			perKey[key] = append(perKey[key], id)
			order = append(order, id)
		}
	}
	put("k0", shards[0], 50)
	put("k1", shards[1], 30)
	put("k2", shards[2], 30)
	children := src.Split("fw", shards[0])
	put("k0", children[0], 40)
	merged := src.Merge("fw", shards[1], shards[2])
	put("k1", merged, 20)
	put("k2", merged, 20)
	put("k0b", children[1], 40)
	rc.WaitAll(order)
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("%d records delivered twice", len(d))
	}
	first := func(id string) int64 { return rc.Deliveries(id)[0].Order }
	bound := func(shard string, last bool) int64 {
		m := int64(1 << 62)
		if last {
			m = 0
		}
		for _, id := range order {
			if strings.HasPrefix(id, "fw/"+shard+"/") {
				if last {
					m = max(m, first(id))
				} else {
					m = min(m, first(id))
				}
			}
		}
		return m
	}
	for _, c := range children {
		if bound(c, false) < bound(shards[0], true) {
			t.Errorf("child %s delivered before its parent %s was finished", c, shards[0])
		}
	}
	if bound(merged, false) < max(bound(shards[1], true), bound(shards[2], true)) {
		t.Errorf("merged child delivered before both parents were finished")
	}
	// Each key's records are delivered in the order they were put.
	for key, ids := range perKey {
		for i := 1; i < len(ids); i++ {
			if first(ids[i]) < first(ids[i-1]) {
				t.Fatalf("key %s: %s delivered before %s", key, ids[i], ids[i-1])
			}
		}
	}
	leases, err := store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	finished := 0
	for _, l := range leases {
		if l.Finished {
			finished++
		}
	}
	if finished != 3 {
		t.Errorf("%d finished leases, want the 3 parents", finished)
	}
}
