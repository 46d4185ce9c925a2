package consume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/retry"
	"github.com/sluice-siem/sluice/stream"
)

// Backoff of failed reads and failed batches.
const (
	initialBackoff = 100 * time.Millisecond
	maxBackoff     = 5 * time.Second
)

// errLeaseLost is the cause of a shard's hard stop when its lease is gone: taken by
// another worker, deleted, or not renewed in time.
var errLeaseLost = errors.New("lease lost")

// errHandoffTimeout is the cause of a hard stop when a hand-off's deadline passed with
// a batch still in the handler.
var errHandoffTimeout = errors.New("hand-off deadline passed")

// shardRun is the processing of one held shard: a reader goroutine fetching pages and
// a delivering goroutine calling the handler, under the shard's lease. Its lease is
// written only under mu, by the keeper (renewals, checkpoints) and by the run itself
// at its end (release, hand-off, finish), so the worker's own writes never conflict.
type shardRun struct {
	w      *worker
	stream string
	shard  string
	attrs  metric.MeasurementOption
	cp     *checkpointer
	// def holds the batches whose acknowledgement the handler deferred.
	def *deferrals

	// fetchCtx ends on any stop: no page is read and no batch is delivered after it.
	fetchCtx  context.Context
	stopFetch context.CancelFunc
	// handlerCtx ends on a hard stop: the handler's work is abandoned.
	handlerCtx context.Context
	kill       context.CancelCauseFunc

	// validUntil is when processing must stop unless a renewal succeeds (unix nanos):
	// the failover time minus one renew period after the last successful write began.
	validUntil atomic.Int64
	// handoffAt is the deadline of a graceful stop (unix nanos), 0 before one.
	handoffAt atomic.Int64
	// poke wakes the watchdog when handoffAt is set.
	poke     chan struct{}
	lost     atomic.Bool
	graceful atomic.Bool

	millisBehind atomic.Int64
	writtenAcked atomic.Int64 // user records covered by the written checkpoint

	mu       sync.Mutex
	lease    stream.Lease
	released bool // the lease is written away: nothing more to renew
}

func newShardRun(w *worker, l stream.Lease, start time.Time) *shardRun {
	s := &shardRun{
		w: w, stream: l.Stream, shard: l.Shard,
		attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("stream", l.Stream), attribute.String("shard", l.Shard))),
		cp:    newCheckpointer(w.cfg.MaxUnackedRecords, int(w.cfg.MaxUnackedBytes), l.Checkpoint),
		lease: l,
		poke:  make(chan struct{}, 1),
	}
	s.def = newDeferrals(s.cp)
	s.millisBehind.Store(-1)
	s.fetchCtx, s.stopFetch = context.WithCancel(w.bg)
	s.handlerCtx, s.kill = context.WithCancelCause(w.bg)
	s.validUntil.Store(start.Add(w.cfg.FailoverTime - w.cfg.RenewPeriod).UnixNano())
	return s
}

func streamAttr(stream string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("stream", stream)))
}

// extend moves the local expiry after a successful write that began at start.
func (s *shardRun) extend(start time.Time) {
	s.validUntil.Store(start.Add(s.w.cfg.FailoverTime - s.w.cfg.RenewPeriod).UnixNano())
}

// watch is the shard's watchdog, until done is closed: it stops the shard at once if
// its lease was not renewed in time (another worker may take it soon, and two must
// never process a shard together), and cancels the handler when a graceful stop's
// deadline passes.
func (s *shardRun) watch(done <-chan struct{}) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		now := time.Now()
		until := time.Unix(0, s.validUntil.Load())
		if !now.Before(until) {
			s.lose(fmt.Errorf("%w: not renewed within %s", errLeaseLost, s.w.cfg.FailoverTime-s.w.cfg.RenewPeriod))
			return
		}
		wake := until
		if h := s.handoffAt.Load(); h != 0 {
			if at := time.Unix(0, h); !now.Before(at) {
				s.kill(errHandoffTimeout)
			} else if at.Before(wake) {
				wake = at
			}
		}
		t.Reset(wake.Sub(now))
		select {
		case <-done:
			return
		case <-s.poke:
		case <-t.C:
		}
	}
}

// lose stops the shard at once: its lease is not this worker's anymore, so nothing may
// be written or processed. It is idempotent.
func (s *shardRun) lose(cause error) {
	if s.lost.Swap(true) {
		return
	}
	s.stopFetch()
	s.kill(cause)
	s.w.c.metrics.lost.Add(context.Background(), 1, streamAttr(s.stream))
	s.w.c.log.Warn("lease lost, shard stopped", "stream", s.stream, "shard", s.shard, "err", cause)
}

// stopGraceful stops reading the shard and lets the batch in the handler finish, up to
// the hand-off deadline; the run then checkpoints and hands the lease on. It is
// idempotent and does not block.
func (s *shardRun) stopGraceful(why string) {
	if s.lost.Load() || s.graceful.Swap(true) {
		return
	}
	s.handoffAt.Store(time.Now().Add(s.w.cfg.HandoffTimeout).UnixNano())
	kick(s.poke)
	s.stopFetch()
	s.w.c.log.Debug("shard stopping", "stream", s.stream, "shard", s.shard, "why", why)
}

// write applies mutate to the lease and stores it with its counter bumped. On a
// conflict that left this worker the owner (a steal request arrived) it adopts the
// stored lease and tries again. It returns an error wrapping errLeaseLost when the
// lease is not this worker's anymore. s.mu is held.
func (s *shardRun) write(ctx context.Context, mutate func(*stream.Lease)) error {
	store := s.w.c.store
	for attempt := 0; ; attempt++ {
		start := time.Now()
		old := s.lease
		nl := old.Clone()
		mutate(&nl)
		nl.Counter = old.Counter + 1
		err := store.Update(ctx, old, nl)
		if err == nil {
			s.lease = nl
			if nl.Owner == s.w.me {
				s.extend(start)
			}
			return nil
		}
		if !errors.Is(err, stream.ErrConflict) || attempt == 2 {
			return err
		}
		cur, err := store.Get(ctx, s.stream, s.shard)
		if errors.Is(err, stream.ErrNotFound) {
			return fmt.Errorf("%w: deleted", errLeaseLost)
		}
		if err != nil {
			return err
		}
		if cur.Owner != s.w.me {
			return fmt.Errorf("%w: owner is now %q", errLeaseLost, cur.Owner)
		}
		s.lease = cur
	}
}

// renew renews the lease, and starts the hand-off when another worker asked for it.
func (s *shardRun) renew() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released || s.lost.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(s.w.bg, s.w.cfg.RenewPeriod)
	defer cancel()
	if err := s.write(ctx, func(*stream.Lease) {}); err != nil {
		if errors.Is(err, errLeaseLost) {
			s.lose(err)
		} else {
			s.w.c.log.Warn("renew lease", "stream", s.stream, "shard", s.shard, "err", err,
				"stops_in", time.Until(time.Unix(0, s.validUntil.Load())).Round(time.Millisecond))
		}
		return
	}
	if next := s.lease.NextOwner; next != "" {
		s.w.c.log.Info("lease asked for by another worker, handing off", "stream", s.stream, "shard", s.shard, "to", next)
		s.stopGraceful("hand-off to " + next)
	}
}

// checkpoint writes the acknowledged position if it moved.
func (s *shardRun) checkpoint() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released || s.lost.Load() {
		return
	}
	pos, acked, _ := s.cp.position()
	if pos == s.lease.Checkpoint {
		return
	}
	ctx, cancel := context.WithTimeout(s.w.bg, s.w.cfg.RenewPeriod)
	defer cancel()
	if err := s.write(ctx, func(l *stream.Lease) { l.Checkpoint = pos }); err != nil {
		if errors.Is(err, errLeaseLost) {
			s.lose(err)
		} else {
			s.w.c.log.Warn("checkpoint", "stream", s.stream, "shard", s.shard, "err", err)
		}
		return
	}
	s.writtenAcked.Store(acked)
}

// checkpointLag returns the user records read and not covered by the written
// checkpoint.
func (s *shardRun) checkpointLag() int64 {
	read, _ := s.cp.counts()
	return read - s.writtenAcked.Load()
}

// run processes the shard until it stops, then finishes the lease: finished at the
// shard's end, handed on (released, or to the worker that asked for it) after a
// graceful stop, left alone when lost.
func (s *shardRun) run() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(done) })
	end := s.process()
	close(done)
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill(context.Canceled)
	s.released = true
	if s.lost.Load() {
		return
	}
	pos, acked, idle := s.cp.position()
	ctx, cancel := context.WithTimeout(s.w.bg, s.w.cfg.FailoverTime)
	defer cancel()
	log := s.w.c.log.With("stream", s.stream, "shard", s.shard)
	if end && idle {
		err := s.write(ctx, func(l *stream.Lease) {
			l.Checkpoint, l.Finished, l.Owner, l.NextOwner = pos, true, "", ""
		})
		if err != nil {
			log.Warn("finish shard", "err", err)
			return
		}
		s.writtenAcked.Store(acked)
		log.Info("shard finished", "counter", s.lease.Counter, "checkpoint", pos.Sequence)
		kick(s.w.wakeSync) // its children may be ready
		return
	}
	err := s.write(ctx, func(l *stream.Lease) {
		l.Checkpoint, l.Owner, l.NextOwner = pos, l.NextOwner, ""
	})
	if err != nil {
		log.Warn("release lease", "err", err)
		return
	}
	s.writtenAcked.Store(acked)
	if s.lease.Owner != "" {
		log.Info("lease handed off", "to", s.lease.Owner, "counter", s.lease.Counter,
			"checkpoint", pos.Sequence, "sub_sequence", subOf(pos))
	} else {
		log.Info("lease released", "counter", s.lease.Counter, "checkpoint", pos.Sequence, "sub_sequence", subOf(pos))
	}
	kick(s.w.wakeTaker)
}

// item is what the reader hands the deliverer: a batch and its span id, or the end of
// the shard.
type item struct {
	batch stream.Batch
	id    uint64
	end   bool
}

// process reads and delivers until the shard stops or ends; it reports whether the
// shard was read to its end with every batch delivered.
func (s *shardRun) process() bool {
	r, err := s.open()
	if err != nil {
		return false
	}
	items := make(chan item, 4)
	var wg sync.WaitGroup
	wg.Go(func() { s.fetch(r, items) })
	defer wg.Wait()
	defer s.stopFetch()
	end := s.deliver(items)
	// Batches whose acknowledgement the handler deferred (stream.Deferral): ask for
	// them to be written out and wait, while the watchdog still runs, until they are
	// acknowledged, the lease is lost or the hand-off deadline passes.
	s.def.drain(s.handlerCtx)
	return end
}

// open opens the shard's reader at the lease's checkpoint, retrying until it works or
// the shard stops.
func (s *shardRun) open() (stream.ShardReader, error) {
	s.mu.Lock()
	from, start := s.lease.Checkpoint, s.lease.Start
	s.mu.Unlock()
	backoff := initialBackoff
	for {
		r, err := s.w.c.src.Open(s.fetchCtx, s.stream, s.shard, from, start)
		if err == nil {
			return r, nil
		}
		if s.fetchCtx.Err() != nil {
			return nil, s.fetchCtx.Err()
		}
		if errors.Is(err, stream.ErrThrottled) {
			s.w.c.metrics.throttles.Add(s.fetchCtx, 1, s.attrs)
		} else {
			s.w.c.log.Warn("open shard", "stream", s.stream, "shard", s.shard, "err", err)
		}
		if !retry.Sleep(s.fetchCtx, retry.Jitter(backoff)) {
			return nil, s.fetchCtx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// fetch reads pages at the configured rate while there is room for more unacknowledged
// records, cuts them into batches and queues them. It closes items when it returns.
func (s *shardRun) fetch(r stream.ShardReader, items chan<- item) {
	defer close(items)
	ctx := s.fetchCtx
	cfg := s.w.cfg
	interval := time.Second / time.Duration(cfg.CallsPerSecond)
	var next time.Time
	backoff := initialBackoff
	for {
		room, err := s.cp.waitRoom(ctx)
		if err != nil {
			return
		}
		if !retry.Sleep(ctx, time.Until(next)) {
			return
		}
		next = time.Now().Add(interval)
		page, err := r.Read(ctx, min(room, cfg.RecordsPerCall))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, stream.ErrThrottled) {
				s.w.c.metrics.throttles.Add(ctx, 1, s.attrs)
				s.w.c.log.Debug("get records throttled", "stream", s.stream, "shard", s.shard, "backoff", backoff)
			} else {
				s.w.c.log.Warn("read shard", "stream", s.stream, "shard", s.shard, "err", err)
			}
			if !retry.Sleep(ctx, retry.Jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = initialBackoff
		s.millisBehind.Store(page.MillisBehind)
		if n := len(page.Records); n > 0 {
			s.w.c.metrics.records.Add(ctx, int64(n), s.attrs)
		}
		for _, b := range cut(page.Records, cfg.BatchRecords) {
			id := s.cp.track(b.units, len(b.records), b.bytes, b.end)
			select {
			case items <- item{batch: stream.Batch{Stream: s.stream, Shard: s.shard, Records: b.records}, id: id}:
			case <-ctx.Done():
				return
			}
		}
		if page.End {
			select {
			case items <- item{end: true}:
			case <-ctx.Done():
			}
			return
		}
		if len(page.Records) == 0 && !retry.Sleep(ctx, cfg.IdleWait) {
			return
		}
	}
}

// deliver hands each queued batch to the handler until it succeeds, in order, and
// acknowledges it. It reports whether it reached the shard's end.
func (s *shardRun) deliver(items <-chan item) bool {
	backoff := initialBackoff
	for {
		if s.fetchCtx.Err() != nil {
			return false
		}
		var it item
		var ok bool
		select {
		case it, ok = <-items:
		case <-s.fetchCtx.Done():
			return false
		}
		if !ok {
			return false
		}
		if it.end {
			return true
		}
		for {
			if s.handlerCtx.Err() != nil {
				return false
			}
			err := s.def.handle(s.handlerCtx, s.w.h, it.batch, it.id)
			if err == nil {
				backoff = initialBackoff
				break
			}
			if s.fetchCtx.Err() != nil {
				s.w.c.log.Debug("handler failed while stopping; the batch is left for the next owner",
					"stream", s.stream, "shard", s.shard, "records", len(it.batch.Records), "err", err)
				return false
			}
			s.w.c.log.Warn("handler failed, redelivering batch", "stream", s.stream, "shard", s.shard,
				"records", len(it.batch.Records), "backoff", backoff, "err", err)
			if !retry.Sleep(s.fetchCtx, backoff) {
				return false
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}
}
