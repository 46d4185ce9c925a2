package consumetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform/consume"
)

// TestLeaseStore is the contract test of a consume.LeaseStore. newStore returns an
// empty store for each subtest (a fresh table, for a shared server). Races is the
// number of contention rounds of the race subtest.
func TestLeaseStore(t *testing.T, newStore func(t *testing.T) consume.LeaseStore, races int) {
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		leases := []stream.Lease{
			{Stream: "fw", Shard: "shardId-000000000000", Start: stream.Start{Position: stream.TrimHorizon}},
			{Stream: "fw", Shard: "shardId-000000000001", Owner: "w1", Counter: 7, NextOwner: "w2",
				Checkpoint: stream.Checkpoint{Sequence: "49590338271490256608559692538361571095921575989136588898", Partial: true, SubSequence: 12},
				Start:      stream.Start{Position: stream.AtTimestamp, Timestamp: at},
				Parents:    []string{"shardId-000000000000"}},
			{Stream: "ids", Shard: "shardId-000000000002", Counter: 3, Finished: true,
				Checkpoint: stream.Checkpoint{Sequence: "12"}, Parents: []string{"a", "b"},
				Start: stream.Start{Position: stream.TrimHorizon}},
		}
		for _, l := range leases {
			if err := s.Create(ctx, l); err != nil {
				t.Fatalf("Create %s: %v", l.Key(), err)
			}
		}
		for _, want := range leases {
			got, err := s.Get(ctx, want.Stream, want.Shard)
			if err != nil {
				t.Fatalf("Get %s: %v", want.Key(), err)
			}
			checkEqual(t, got, want)
		}
		all, err := s.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(all) != len(leases) {
			t.Fatalf("List returned %d leases, want %d", len(all), len(leases))
		}
		slices.SortFunc(all, func(a, b stream.Lease) int { return compare(a.Key(), b.Key()) })
		for i := range leases {
			checkEqual(t, all[i], leases[i])
		}
		if _, err := s.Get(ctx, "fw", "nope"); !errors.Is(err, stream.ErrNotFound) {
			t.Errorf("Get of a missing lease = %v, want ErrNotFound", err)
		}
	})

	t.Run("create is conditional", func(t *testing.T) {
		s := newStore(t)
		l := stream.Lease{Stream: "fw", Shard: "s0", Start: stream.Start{Position: stream.TrimHorizon}}
		if err := s.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
		l2 := l
		l2.Owner = "intruder"
		if err := s.Create(ctx, l2); !errors.Is(err, stream.ErrConflict) {
			t.Fatalf("second Create = %v, want ErrConflict", err)
		}
		if got, _ := s.Get(ctx, "fw", "s0"); got.Owner != "" {
			t.Errorf("second Create changed the lease: owner %q", got.Owner)
		}
	})

	t.Run("update and delete are conditional", func(t *testing.T) {
		s := newStore(t)
		base := stream.Lease{Stream: "fw", Shard: "s0", Owner: "w1", Counter: 5, Start: stream.Start{Position: stream.TrimHorizon}}
		if err := s.Create(ctx, base); err != nil {
			t.Fatal(err)
		}
		next := base
		next.Counter = 6
		next.Checkpoint = stream.Checkpoint{Sequence: "100"}
		for _, stale := range []stream.Lease{
			with(base, func(l *stream.Lease) { l.Counter = 4 }),
			with(base, func(l *stream.Lease) { l.Owner = "w2" }),
			with(base, func(l *stream.Lease) { l.Owner = "" }),
			with(base, func(l *stream.Lease) { l.NextOwner = "w3" }),
		} {
			if err := s.Update(ctx, stale, next); !errors.Is(err, stream.ErrConflict) {
				t.Errorf("Update from stale %+v = %v, want ErrConflict", stale, err)
			}
			if err := s.Delete(ctx, stale); !errors.Is(err, stream.ErrConflict) {
				t.Errorf("Delete of stale %+v = %v, want ErrConflict", stale, err)
			}
		}
		if err := s.Update(ctx, base, next); err != nil {
			t.Fatalf("Update: %v", err)
		}
		got, _ := s.Get(ctx, "fw", "s0")
		checkEqual(t, got, next)
		// A steal request: next owner set without a counter change.
		asked := with(next, func(l *stream.Lease) { l.NextOwner = "w2" })
		if err := s.Update(ctx, next, asked); err != nil {
			t.Fatalf("Update setting next owner: %v", err)
		}
		if err := s.Update(ctx, next, with(next, func(l *stream.Lease) { l.Counter = 7 })); !errors.Is(err, stream.ErrConflict) {
			t.Errorf("Update ignoring the next owner = %v, want ErrConflict", err)
		}
		released := with(asked, func(l *stream.Lease) { l.Owner, l.NextOwner, l.Counter = "", "", 7 })
		if err := s.Update(ctx, asked, released); err != nil {
			t.Fatalf("release: %v", err)
		}
		got, _ = s.Get(ctx, "fw", "s0")
		checkEqual(t, got, released)
		if err := s.Delete(ctx, released); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, "fw", "s0"); !errors.Is(err, stream.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		if err := s.Update(ctx, released, released); !errors.Is(err, stream.ErrConflict) {
			t.Errorf("Update of a deleted lease = %v, want ErrConflict", err)
		}
	})

	t.Run("contention: exactly one taker wins", func(t *testing.T) {
		s := newStore(t)
		const takers = 6
		for round := range races {
			expired := stream.Lease{Stream: "fw", Shard: fmt.Sprintf("s%d", round), Owner: "dead", Counter: int64(round),
				Start: stream.Start{Position: stream.TrimHorizon}}
			if err := s.Create(ctx, expired); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wins := make(chan string, takers)
			start := make(chan struct{})
			for i := range takers {
				me := fmt.Sprintf("w%d", i)
				wg.Go(func() {
					<-start
					taken := with(expired, func(l *stream.Lease) { l.Owner, l.Counter = me, l.Counter+1 })
					err := s.Update(ctx, expired, taken)
					switch {
					case err == nil:
						wins <- me
					case !errors.Is(err, stream.ErrConflict):
						t.Errorf("round %d: %s: %v", round, me, err)
					}
				})
			}
			close(start)
			wg.Wait()
			close(wins)
			var winners []string
			for w := range wins {
				winners = append(winners, w)
			}
			if len(winners) != 1 {
				t.Fatalf("round %d: winners %v, want exactly one", round, winners)
			}
			got, err := s.Get(ctx, "fw", expired.Shard)
			if err != nil || got.Owner != winners[0] || got.Counter != expired.Counter+1 {
				t.Fatalf("round %d: stored %+v (%v), want owner %s counter %d", round, got, err, winners[0], expired.Counter+1)
			}
		}
	})
}

func with(l stream.Lease, f func(*stream.Lease)) stream.Lease {
	l.Parents = slices.Clone(l.Parents)
	f(&l)
	return l
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func checkEqual(t *testing.T, got, want stream.Lease) {
	t.Helper()
	eq := got.Stream == want.Stream && got.Shard == want.Shard && got.Owner == want.Owner &&
		got.Counter == want.Counter && got.NextOwner == want.NextOwner && got.Checkpoint == want.Checkpoint &&
		got.Start.Position == want.Start.Position && got.Start.Timestamp.Equal(want.Start.Timestamp) &&
		slices.Equal(got.Parents, want.Parents) && got.Finished == want.Finished
	if !eq {
		t.Errorf("lease %s:\n got %+v\nwant %+v", want.Key(), got, want)
	}
}
