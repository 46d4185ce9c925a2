package consume

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluice-siem/sluice/stream"
)

// world is a lease table seen by decide, for tests.
type world struct {
	leases  []stream.Lease
	held    map[string]bool
	expired map[string]bool
	// listed shards per stream; a nil entry means not listed.
	listed map[string][]string
}

func (w world) input(me string) balanceInput {
	return balanceInput{
		me: me, leases: w.leases,
		held:    func(k string) bool { return w.held[k] },
		expired: func(l stream.Lease) bool { return w.expired[l.Key()] },
		known: func(stream, shard string) (bool, bool) {
			ids, ok := w.listed[stream]
			return slices.Contains(ids, shard), ok
		},
		rng: rand.New(rand.NewPCG(1, 2)),
	}
}

func owned(owners ...string) []stream.Lease {
	var out []stream.Lease
	for i, o := range owners {
		out = append(out, stream.Lease{Stream: "s", Shard: fmt.Sprintf("sh%d", i), Owner: o})
	}
	return out
}

func TestDecideTakesFreeUpToTarget(t *testing.T) {
	// 8 leases: a has 3, 5 free; b arrives. Workers a and b: target 4.
	w := world{leases: owned("a", "a", "a", "", "", "", "", "")}
	p := decide(w.input("b"))
	if p.target != 4 || p.workers != 2 || len(p.take) != 4 || p.steal != nil {
		t.Fatalf("plan = target %d workers %d take %d steal %v; want 4 2 4 none", p.target, p.workers, len(p.take), p.steal)
	}
	for _, l := range p.take {
		if l.Owner != "" {
			t.Errorf("took owned lease %s", l.Key())
		}
	}
}

func TestDecideFreeBeforeExpired(t *testing.T) {
	w := world{leases: owned("dead", "dead", "", "x", "x", "x"), expired: map[string]bool{"s/sh0": true, "s/sh1": true}}
	p := decide(w.input("me"))
	// Live workers: x and me; 6 eligible -> target 3.
	if p.target != 3 || len(p.take) != 3 {
		t.Fatalf("target %d take %d, want 3 3", p.target, len(p.take))
	}
	if p.take[0].Owner != "" {
		t.Errorf("first take %+v, want the free lease first", p.take[0])
	}
}

// TestDecideStealsOneFromMostLoaded: with nothing free, exactly one lease is asked
// for, from the most loaded worker, and only when it holds two more.
func TestDecideStealsOneFromMostLoaded(t *testing.T) {
	w := world{leases: owned("a", "a", "a", "a", "a", "b", "b", "c")}
	p := decide(w.input("c"))
	if p.steal == nil || p.steal.Owner != "a" || len(p.take) != 0 {
		t.Fatalf("plan %+v: want one steal from a", p)
	}
	// Within one of each other: no steal.
	w = world{leases: owned("a", "a", "a", "b", "b", "b", "c", "c")}
	if p := decide(w.input("c")); p.steal != nil {
		t.Errorf("balanced within one, yet stole %+v", p.steal)
	}
	// 3,3,1 over 7: target 3; a steal keeps the spread within one.
	w = world{leases: owned("a", "a", "a", "b", "b", "b", "c")}
	if p := decide(w.input("c")); p.steal == nil {
		t.Errorf("3/3/1: no steal")
	}
	// A request outstanding: no second one.
	w = world{leases: owned("a", "a", "a", "a", "a", "b", "b", "c")}
	w.leases[0].NextOwner = "c"
	if p := decide(w.input("c")); p.steal != nil {
		t.Errorf("second steal while one is pending: %+v", p.steal)
	}
	// Never ask for a lease someone else asked for already.
	w = world{leases: owned("a", "a", "a", "b")}
	for i := range 3 {
		w.leases[i].NextOwner = "b"
	}
	if p := decide(w.input("c")); p.steal != nil {
		t.Errorf("stole a lease already asked for: %+v", p.steal)
	}
}

// TestDecideConverges plays rounds of decide for several workers, applying each plan
// at once (steals included), and checks the spread ends within one, from any start.
func TestDecideConverges(t *testing.T) {
	for _, tc := range []struct {
		shards, workers int
	}{{8, 3}, {7, 3}, {8, 8}, {3, 5}, {16, 3}, {1, 2}} {
		leases := owned(slices.Repeat([]string{"w0"}, tc.shards)...)
		var rounds int
		for rounds = 0; rounds < 50; rounds++ {
			moved := false
			for i := range tc.workers {
				me := fmt.Sprintf("w%d", i)
				mine := map[string]bool{}
				for _, l := range leases {
					if l.Owner == me {
						mine[l.Key()] = true
					}
				}
				p := decide(world{leases: leases, held: mine}.input(me))
				for _, l := range append(p.take, p.adopt...) {
					for j := range leases {
						if leases[j].Key() == l.Key() {
							leases[j].Owner, leases[j].NextOwner = me, ""
							moved = true
						}
					}
				}
				if p.steal != nil {
					for j := range leases {
						if leases[j].Key() == p.steal.Key() {
							leases[j].Owner = me // the hand-off, at once
							moved = true
						}
					}
				}
			}
			if !moved {
				break
			}
		}
		counts := map[string]int{}
		for _, l := range leases {
			counts[l.Owner]++
		}
		lo, hi := tc.shards, 0
		for i := range tc.workers {
			n := counts[fmt.Sprintf("w%d", i)]
			lo, hi = min(lo, n), max(hi, n)
		}
		if hi-lo > 1 || rounds == 50 {
			t.Errorf("%d shards over %d workers: counts %v after %d rounds", tc.shards, tc.workers, counts, rounds)
		}
	}
}

// TestDecideParentsFirst: a child is eligible only once every parent lease is
// finished, or the parent is gone from the stream.
func TestDecideParentsFirst(t *testing.T) {
	parent := stream.Lease{Stream: "s", Shard: "p", Owner: "x"}
	child := stream.Lease{Stream: "s", Shard: "c", Parents: []string{"p", "q"}}
	q := stream.Lease{Stream: "s", Shard: "q", Finished: true}
	w := world{leases: []stream.Lease{parent, child, q}, listed: map[string][]string{"s": {"p", "q", "c"}}}
	p := decide(w.input("me"))
	for _, l := range p.take {
		if l.Shard == "c" {
			t.Fatal("took a child whose parent is not finished")
		}
	}
	w.leases[0].Finished = true
	if p := decide(w.input("me")); len(p.take) != 1 || p.take[0].Shard != "c" {
		t.Fatalf("take = %+v, want the child once its parents are finished", p.take)
	}
	// A parent without a lease: wait while the stream lists it, or while the stream was
	// not listed yet; go on once it is trimmed away.
	w = world{leases: []stream.Lease{child, q}, listed: map[string][]string{"s": {"p", "q", "c"}}}
	if p := decide(w.input("me")); len(p.take) != 0 {
		t.Errorf("took a child whose parent has no lease yet")
	}
	w.listed = nil
	if p := decide(w.input("me")); len(p.take) != 0 {
		t.Errorf("took a child of a stream never listed")
	}
	w.listed = map[string][]string{"s": {"q", "c"}}
	if p := decide(w.input("me")); len(p.take) != 1 {
		t.Errorf("child of a trimmed parent not taken")
	}
}

func TestDecideAdoptsOwnLeases(t *testing.T) {
	w := world{leases: owned("me", "me", "x"), held: map[string]bool{"s/sh0": true}}
	p := decide(w.input("me"))
	if len(p.adopt) != 1 || p.adopt[0].Shard != "sh1" {
		t.Errorf("adopt = %+v, want sh1 (named mine, not held)", p.adopt)
	}
}
