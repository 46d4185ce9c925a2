package consume

import (
	"maps"
	"math/rand/v2"
	"slices"

	"github.com/sluice-siem/sluice/stream"
)

// plan is what one balance round does: leases to resume, to take and to steal.
type plan struct {
	// adopt are eligible leases that name this worker as owner but that it does not
	// process: handed over to it by their previous owner (a steal it asked for), or
	// left by an earlier process with the same worker id.
	adopt []stream.Lease
	// take are free or expired leases to take, in the order to try them.
	take []stream.Lease
	// steal is a lease of the most loaded worker to ask for, or nil.
	steal *stream.Lease
	// eligible is the number of leases that may be processed now, workers the number
	// of live workers seen (this one included), target ceil(eligible/workers).
	eligible, workers, target int
}

// balanceInput is the state a balance round decides on.
type balanceInput struct {
	me     string
	leases []stream.Lease
	// held reports the leases this worker processes.
	held func(key string) bool
	// expired reports a lease whose owner stopped renewing it (its counter did not
	// move for the failover time).
	expired func(stream.Lease) bool
	// known reports whether the last listing of a stream holds a shard, and whether
	// the stream was listed at all.
	known func(stream, shard string) (has, listed bool)
	rng   *rand.Rand
}

// decide plans one balance round, the lease taking and balancing of the published KCL
// design, with a cooperative steal:
//
//   - A lease is eligible when it is not finished and each of its parents is finished
//     (or gone from the stream, that is, trimmed), so children follow their parents.
//   - Live workers are the owners of eligible leases that are not expired, plus this
//     worker. The target is ceil(eligible/workers).
//   - Below target, the worker takes free and expired leases, in random order to spread
//     contention, up to the target. Conditional writes make exactly one of the workers
//     that try to take the same lease win.
//   - Below target with nothing free, it asks for one lease of the most loaded worker
//     if that one holds at least two more than it: the owner hands the lease over at
//     its next renewal, after checkpointing, so a steal never has two workers reading
//     one shard. At most one request is outstanding per worker.
func decide(in balanceInput) plan {
	byKey := make(map[string]stream.Lease, len(in.leases))
	for _, l := range in.leases {
		byKey[l.Key()] = l
	}
	eligible := func(l stream.Lease) bool {
		if l.Finished {
			return false
		}
		for _, p := range l.Parents {
			if pl, ok := byKey[stream.Lease{Stream: l.Stream, Shard: p}.Key()]; ok {
				if !pl.Finished {
					return false
				}
				continue
			}
			// No lease: wait for one unless the stream no longer holds the parent.
			if has, listed := in.known(l.Stream, p); has || !listed {
				return false
			}
		}
		return true
	}

	var p plan
	var candidates []stream.Lease
	counts := map[string]int{}
	owned := map[string][]stream.Lease{}
	mine, pending := 0, false
	for _, l := range in.leases {
		if !eligible(l) {
			continue
		}
		p.eligible++
		key := l.Key()
		switch {
		case l.Owner == in.me:
			mine++
			if !in.held(key) {
				p.adopt = append(p.adopt, l)
			}
		case l.Owner == "" || in.expired(l):
			candidates = append(candidates, l)
		default:
			counts[l.Owner]++
			if l.NextOwner == in.me {
				pending = true
				mine++ // on its way here
			} else if l.NextOwner == "" {
				owned[l.Owner] = append(owned[l.Owner], l)
			}
		}
	}
	p.workers = 1
	for _, n := range counts {
		if n > 0 {
			p.workers++
		}
	}
	p.target = (p.eligible + p.workers - 1) / p.workers
	need := p.target - mine
	if need <= 0 {
		return p
	}
	// Free leases first, then expired ones; random order within each.
	in.rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	slices.SortStableFunc(candidates, func(a, b stream.Lease) int {
		return boolInt(a.Owner != "") - boolInt(b.Owner != "")
	})
	p.take = candidates[:min(need, len(candidates))]
	if len(p.take) > 0 || pending {
		return p
	}
	victim, most := "", 0
	for _, w := range slices.Sorted(maps.Keys(counts)) {
		if counts[w] > most {
			victim, most = w, counts[w]
		}
	}
	if victim == "" || most < mine+2 || len(owned[victim]) == 0 {
		return p
	}
	l := owned[victim][in.rng.IntN(len(owned[victim]))]
	p.steal = &l
	return p
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
