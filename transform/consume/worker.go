package consume

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/sluice-siem/sluice/stream"
)

// worker is one Consume call: the coordinator (discovery and balance), the lease
// keeper (renewals and checkpoints) and the runs of the shards it holds.
type worker struct {
	c   *Consumer
	cfg Config
	me  string
	h   Handler

	// bg outlives Consume's context: the hand-off's lease writes run under it.
	bg context.Context

	mu       sync.Mutex
	held     map[string]*shardRun       // by lease key
	known    map[string]map[string]bool // stream -> shard ids of its last listing
	stealing map[string]bool            // lease keys this worker asked for
	stopping bool                       // shutdown began: no new shard runs

	// seen and rng belong to the coordinator goroutine.
	seen map[string]observation
	rng  *rand.Rand

	runs      sync.WaitGroup // shard runs
	wakeSync  chan struct{}
	wakeTaker chan struct{}
}

// observation is when this worker first saw a lease's current counter and owner: the
// lease is expired once they stood still for the failover time.
type observation struct {
	counter int64
	owner   string
	since   time.Time
}

func newWorker(c *Consumer, h Handler) *worker {
	return &worker{
		c: c, cfg: c.cfg, me: c.cfg.WorkerID, h: h,
		held:      map[string]*shardRun{},
		known:     map[string]map[string]bool{},
		stealing:  map[string]bool{},
		seen:      map[string]observation{},
		rng:       rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		wakeSync:  make(chan struct{}, 1),
		wakeTaker: make(chan struct{}, 1),
	}
}

// run is Consume's body: see there.
func (w *worker) run(ctx context.Context) {
	bg, cancelBg := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBg()
	w.bg = bg
	w.c.log.Info("consumer started", "streams", w.cfg.Streams)

	keeperCtx, stopKeeper := context.WithCancel(bg)
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		w.keep(keeperCtx)
	}()
	coordinatorDone := make(chan struct{})
	go func() {
		defer close(coordinatorDone)
		w.coordinate(ctx)
	}()

	<-ctx.Done()
	<-coordinatorDone // no shard starts from here on
	w.mu.Lock()
	w.stopping = true
	shards := w.heldLocked()
	w.mu.Unlock()
	w.c.log.Info("consumer stopping: handing off shards", "shards", len(shards), "deadline", w.cfg.HandoffTimeout)
	for _, s := range shards {
		s.stopGraceful("shutdown")
	}
	w.runs.Wait()
	stopKeeper()
	<-keeperDone
	w.releaseStray()
	w.c.log.Info("consumer stopped")
}

// releaseStray withdraws this worker's steal requests and releases leases handed over
// to it after it stopped taking any, so that nobody waits the failover time for them.
func (w *worker) releaseStray() {
	ctx, cancel := context.WithTimeout(w.bg, w.cfg.FailoverTime)
	defer cancel()
	// A conflict means a lease changed under us (say, handed over just now): look
	// again, a few times.
	for range 3 {
		if !w.releaseStrayOnce(ctx) {
			return
		}
	}
}

// releaseStrayOnce is one pass of releaseStray; it reports whether a write conflicted.
func (w *worker) releaseStrayOnce(ctx context.Context) (conflict bool) {
	leases, err := w.c.store.List(ctx)
	if err != nil {
		w.c.log.Warn("list leases to release", "err", err)
		return false
	}
	for _, l := range leases {
		nl := l.Clone()
		switch {
		case l.Owner == w.me:
			nl.Owner, nl.NextOwner, nl.Counter = "", "", l.Counter+1
		case l.NextOwner == w.me:
			nl.NextOwner = ""
		default:
			continue
		}
		if err := w.c.store.Update(ctx, l, nl); err != nil {
			w.c.log.Debug("release lease handed over late", "stream", l.Stream, "shard", l.Shard, "err", err)
			conflict = conflict || errors.Is(err, stream.ErrConflict)
			continue
		}
		if l.Owner != w.me {
			// Only a steal request was withdrawn: the lease was never this worker's.
			w.c.log.Info("steal request withdrawn", "stream", l.Stream, "shard", l.Shard, "owner", l.Owner, "counter", nl.Counter)
			continue
		}
		w.c.log.Info("lease released", "stream", l.Stream, "shard", l.Shard, "counter", nl.Counter,
			"checkpoint", nl.Checkpoint.Sequence, "sub_sequence", subOf(nl.Checkpoint))
	}
	return conflict
}

// heldShards returns the shards the worker holds.
func (w *worker) heldShards() []*shardRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.heldLocked()
}

func (w *worker) heldLocked() []*shardRun {
	out := make([]*shardRun, 0, len(w.held))
	for _, s := range w.held {
		out = append(out, s)
	}
	return out
}

func (w *worker) isHeld(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held[key] != nil
}

func (w *worker) isKnown(stream, shard string) (has, listed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids, ok := w.known[stream]
	return ids[shard], ok
}

// kick wakes a loop without blocking.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// coordinate lists shards and balances leases until ctx ends: at once, then on their
// periods, and when a shard run asks (a shard's end).
func (w *worker) coordinate(ctx context.Context) {
	w.sync(ctx)
	w.balance(ctx)
	syncT := time.NewTicker(w.cfg.ShardRefresh)
	defer syncT.Stop()
	balanceT := time.NewTicker(w.cfg.BalancePeriod)
	defer balanceT.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-syncT.C:
			w.sync(ctx)
		case <-w.wakeSync:
			w.sync(ctx)
			w.balance(ctx)
		case <-balanceT.C:
			w.balance(ctx)
		case <-w.wakeTaker:
			w.balance(ctx)
		}
	}
}

// sync lists the shards of every stream and creates the leases that are missing, and
// deletes finished leases of shards the stream no longer holds.
func (w *worker) sync(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.FailoverTime)
	defer cancel()
	leases, err := w.c.store.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.c.log.Warn("list leases for shard discovery", "err", err)
		}
		return
	}
	byStream := map[string]map[string]stream.Lease{}
	for _, l := range leases {
		if byStream[l.Stream] == nil {
			byStream[l.Stream] = map[string]stream.Lease{}
		}
		byStream[l.Stream][l.Shard] = l
	}
	now := time.Now()
	for _, name := range w.cfg.Streams {
		shards, err := w.c.src.Shards(ctx, name)
		if err != nil {
			if ctx.Err() == nil {
				w.c.log.Warn("list shards", "stream", name, "err", err)
			}
			continue
		}
		ids := make(map[string]bool, len(shards))
		for _, sh := range shards {
			ids[sh.ID] = true
		}
		w.mu.Lock()
		w.known[name] = ids
		w.mu.Unlock()

		have := byStream[name]
		first := len(have) == 0
		start := w.cfg.start(now)
		created := 0
		for _, sh := range parentsFirst(shards) {
			if _, ok := have[sh.ID]; ok {
				continue
			}
			l := stream.Lease{Stream: name, Shard: sh.ID, Parents: slices.Clone(sh.Parents), Start: stream.Start{Position: stream.TrimHorizon}}
			if first {
				// The stream is new to the lease table: its shards start where the
				// configuration says, and with "latest" closed shards hold nothing to
				// read. Shards that appear later are children, read from their start.
				l.Start = start
				if w.cfg.InitialPosition == stream.Latest && sh.Closed {
					l.Finished = true
				}
			}
			if err := w.c.store.Create(ctx, l); err != nil {
				if !errors.Is(err, stream.ErrConflict) && ctx.Err() == nil {
					w.c.log.Warn("create lease", "stream", name, "shard", sh.ID, "err", err)
				}
				continue
			}
			created++
		}
		if created > 0 {
			w.c.log.Info("leases created for new shards", "stream", name, "leases", created, "shards", len(shards))
		}
		for id, l := range have {
			if l.Finished && !ids[id] {
				// Trimmed from the stream: children treat a missing parent as done.
				if err := w.c.store.Delete(ctx, l); err == nil {
					w.c.log.Debug("lease of trimmed shard deleted", "stream", name, "shard", id)
				}
			}
		}
	}
}

// parentsFirst orders shards so that every shard comes after its listed parents.
func parentsFirst(shards []stream.Shard) []stream.Shard {
	byID := make(map[string]stream.Shard, len(shards))
	for _, s := range shards {
		byID[s.ID] = s
	}
	done := make(map[string]bool, len(shards))
	out := make([]stream.Shard, 0, len(shards))
	var visit func(s stream.Shard)
	visit = func(s stream.Shard) {
		if done[s.ID] {
			return
		}
		done[s.ID] = true
		for _, p := range s.Parents {
			if ps, ok := byID[p]; ok {
				visit(ps)
			}
		}
		out = append(out, s)
	}
	for _, s := range shards {
		visit(s)
	}
	return out
}

// balance runs one round of lease taking and balancing (see decide).
func (w *worker) balance(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.FailoverTime)
	defer cancel()
	leases, err := w.c.store.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.c.log.Warn("list leases", "err", err)
		}
		return
	}
	now := time.Now()
	present := make(map[string]bool, len(leases))
	for _, l := range leases {
		key := l.Key()
		present[key] = true
		if o, ok := w.seen[key]; !ok || o.counter != l.Counter || o.owner != l.Owner {
			w.seen[key] = observation{counter: l.Counter, owner: l.Owner, since: now}
		}
	}
	for key := range w.seen {
		if !present[key] {
			delete(w.seen, key)
		}
	}
	p := decide(balanceInput{
		me:     w.me,
		leases: leases,
		held:   w.isHeld,
		expired: func(l stream.Lease) bool {
			return now.Sub(w.seen[l.Key()].since) >= w.cfg.FailoverTime
		},
		known: w.isKnown,
		rng:   w.rng,
	})
	for _, l := range p.adopt {
		w.acquire(ctx, l)
	}
	for _, l := range p.take {
		w.acquire(ctx, l)
	}
	if p.steal != nil {
		w.requestSteal(ctx, *p.steal, p)
	}
}

// acquire takes the lease l as read from the store (free, expired, or already naming
// this worker) and starts its shard run.
func (w *worker) acquire(ctx context.Context, l stream.Lease) {
	w.mu.Lock()
	stopping, requested := w.stopping, w.stealing[l.Key()]
	w.mu.Unlock()
	if stopping || ctx.Err() != nil {
		return
	}
	nl := l.Clone()
	nl.Owner, nl.NextOwner, nl.Counter = w.me, "", l.Counter+1
	start := time.Now()
	// The take is written under bg, not ctx: a shutdown that begins while the write is
	// in flight must not abandon it, since the store may apply it all the same. The
	// lease would then be this worker's with no "lease taken" logged and no run, and
	// releaseStray would release a take that nobody saw. A take that completes after
	// ctx ended starts its run, which the shutdown then hands off like the others.
	wctx, cancel := context.WithTimeout(w.bg, w.cfg.FailoverTime)
	defer cancel()
	if err := w.c.store.Update(wctx, l, nl); err != nil {
		if errors.Is(err, stream.ErrConflict) {
			w.c.log.Debug("lease changed before it could be taken", "stream", l.Stream, "shard", l.Shard, "err", err)
		} else {
			// The write may have been applied: the next balance round adopts the
			// lease, or releaseStray releases it at shutdown.
			w.c.log.Warn("take lease", "stream", l.Stream, "shard", l.Shard, "counter", nl.Counter, "err", err)
		}
		return
	}
	how := "free"
	switch {
	case l.Owner == w.me && requested:
		how = "handed over"
		w.c.metrics.stolen.Add(ctx, 1, streamAttr(l.Stream))
	case l.Owner == w.me:
		how = "resumed"
		w.c.metrics.taken.Add(ctx, 1, streamAttr(l.Stream))
	case l.Owner != "":
		how = "expired"
		w.c.metrics.taken.Add(ctx, 1, streamAttr(l.Stream))
	default:
		w.c.metrics.taken.Add(ctx, 1, streamAttr(l.Stream))
	}
	w.c.log.Info("lease taken", "stream", l.Stream, "shard", l.Shard, "how", how, "previous_owner", l.Owner,
		"counter", nl.Counter, "checkpoint", nl.Checkpoint.Sequence, "sub_sequence", subOf(nl.Checkpoint))
	w.mu.Lock()
	delete(w.stealing, l.Key())
	w.startLocked(nl, start)
	w.mu.Unlock()
}

// subOf returns the sub-sequence of a partial checkpoint, or -1.
func subOf(c stream.Checkpoint) int {
	if c.Partial {
		return c.SubSequence
	}
	return -1
}

// requestSteal asks the owner of l to hand it over.
func (w *worker) requestSteal(ctx context.Context, l stream.Lease, p plan) {
	nl := l.Clone()
	nl.NextOwner = w.me // no counter bump: the owner's renewals go on
	if err := w.c.store.Update(ctx, l, nl); err != nil {
		if !errors.Is(err, stream.ErrConflict) && ctx.Err() == nil {
			w.c.log.Warn("request lease", "stream", l.Stream, "shard", l.Shard, "err", err)
		}
		return
	}
	w.mu.Lock()
	w.stealing[l.Key()] = true
	w.mu.Unlock()
	w.c.log.Info("lease requested for balance", "stream", l.Stream, "shard", l.Shard, "owner", l.Owner,
		"target", p.target, "workers", p.workers)
}

// startLocked starts the run of a shard whose lease l this worker has just written,
// at start. w.mu is held.
func (w *worker) startLocked(l stream.Lease, start time.Time) {
	s := newShardRun(w, l, start)
	w.held[l.Key()] = s
	w.runs.Add(1)
	go func() {
		defer w.runs.Done()
		s.run()
		w.mu.Lock()
		delete(w.held, l.Key())
		w.mu.Unlock()
	}()
}

// keep renews every held lease each RenewPeriod and writes checkpoints each
// CheckpointPeriod, until ctx ends. Each lease's writes run concurrently with the
// others', so one slow write does not delay the rest.
func (w *worker) keep(ctx context.Context) {
	renewT := time.NewTicker(w.cfg.RenewPeriod)
	defer renewT.Stop()
	checkpointT := time.NewTicker(w.cfg.CheckpointPeriod)
	defer checkpointT.Stop()
	for {
		var do func(*shardRun)
		select {
		case <-ctx.Done():
			return
		case <-renewT.C:
			do = (*shardRun).renew
		case <-checkpointT.C:
			do = (*shardRun).checkpoint
		}
		var wg sync.WaitGroup
		for _, s := range w.heldShards() {
			wg.Go(func() { do(s) })
		}
		wg.Wait()
	}
}
