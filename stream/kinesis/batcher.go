package kinesis

import (
	"context"
	"time"

	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// batcher is the state of a stream's batcher goroutine (streamProducer.run): the
// shard map, each shard's waiting events, limiter and busy flag. Only that goroutine
// touches it.
type batcher struct {
	smap     *shardMap
	shards   []*shardQueue // in map order
	byID     map[string]*shardQueue
	unmapped []*event // events that arrived before the first shard map

	pendingEvents int // events waiting in shard queues and unmapped
	pendingBytes  int

	inflightReqs int
	// retiring are the closed shards (a split or merge) whose last request is still in
	// flight. Their keys now belong to other shards' queues, which send nothing until
	// the request is done: a key's later events must not overtake its earlier ones.
	retiring    map[string]bool
	loading     bool      // a loader goroutine runs
	lastLoad    time.Time // when the latest load started
	nextRefresh time.Time // when the shard map is reloaded next
	loadFailed  bool      // the latest load spent its retry budget
	flushing    bool      // Close was called: linger no more, exit when empty
	rr          int       // the shard a request starts with, round robin
	// ratio predicts how many times smaller compression makes an aggregated record
	// (uncompressed over compressed, from the records sent so far, with a margin);
	// 1 without compression.
	ratio float64
}

// shardQueue is one open shard's side of the batcher.
type shardQueue struct {
	shardRange
	pending      []*event // in arrival order
	pendingBytes int
	busy         bool // a request with this shard's records is in flight
	limit        *bucket
}

// entry is one PutRecords entry: a record of one shard carrying one event or, with
// aggregation, many.
type entry struct {
	shard  string
	key    string
	agg    *kpl.Aggregator // nil for a plain single-event record
	events []*event
	size   int    // what Kinesis counts: len(key) + len(data)
	data   []byte // set by the sender (encode)
	// tokens is what the shard's byte bucket was charged when the record was sealed:
	// its size, or for a record to be compressed the size the compression ratio seen
	// so far predicts; the sender's note corrects the bucket by the difference.
	tokens int
	bytes  int64 // the events' in-flight bytes
}

// request is one PutRecords call's entries and the shards they hold busy.
type request struct {
	entries []*entry
	shards  []string
}

// run is the batcher goroutine: it takes Puts from intake, places their events on
// shards, starts senders when records are due, and exits once Close was called and
// every accepted event is durable or failed.
func (s *streamProducer) run() {
	defer close(s.exited)
	loadCtx, loadStop := context.WithCancel(s.p.ctx)
	b := &s.batch
	b.byID = map[string]*shardQueue{}
	s.startLoad(loadCtx, time.Now())

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	closing, canceled := s.closing, s.p.ctx.Done()
	for {
		select {
		case c := <-s.intake:
			s.accept(c, time.Now())
		case <-s.wake:
		case <-timer.C:
		case <-closing:
			b.flushing = true
			closing = nil
		case <-canceled:
			b.flushing = true
			canceled = nil
		}
		now := time.Now()
		s.takeNotes(now)
		if s.p.ctx.Err() != nil {
			s.abandonAll() // Close gave up: fail what waits, senders fail what is in flight
		}
		if b.smap == nil {
			s.dropGoneUnmapped()
		}
		s.dispatch(now)
		if b.flushing && b.pendingEvents == 0 && b.inflightReqs == 0 {
			break
		}
		if !b.loading && b.smap != nil && !now.Before(b.nextRefresh) {
			s.startLoad(loadCtx, now)
		}
		next := s.nextWake(now)
		timer.Reset(max(next.Sub(now), time.Millisecond))
	}
	loadStop()
	s.senders.Wait()
}

// accept places the events of a Put.
func (s *streamProducer) accept(c *call, now time.Time) {
	b := &s.batch
	for i := range c.events {
		ev := &c.events[i]
		ev.at = now
		b.pendingEvents++
		b.pendingBytes += ev.size
		if b.smap == nil {
			b.unmapped = append(b.unmapped, ev)
			continue
		}
		b.shards[b.smap.find(ev.hash)].push(ev)
	}
	if b.loadFailed && b.smap == nil {
		// The map could not be loaded within the budget: fail now, not at the deadline.
		if f := s.blocked.Load(); f != nil {
			s.failUnmapped(f)
		}
	}
}

func (q *shardQueue) push(ev *event) {
	q.pending = append(q.pending, ev)
	q.pendingBytes += ev.size
}

// pop removes the first n events of the queue.
func (q *shardQueue) pop(n int) {
	for _, ev := range q.pending[:n] {
		q.pendingBytes -= ev.size
	}
	clear(q.pending[:n])
	q.pending = q.pending[n:]
	if len(q.pending) == 0 {
		q.pending = nil
	}
}

// takeNotes applies what senders and the loader reported.
func (s *streamProducer) takeNotes(now time.Time) {
	s.mu.Lock()
	n := s.notes
	s.notes = notes{}
	s.mu.Unlock()
	b := &s.batch
	b.inflightReqs -= n.reqsDone
	for _, id := range n.freed {
		delete(b.retiring, id)
		if q, ok := b.byID[id]; ok {
			q.busy = false
		}
	}
	for _, id := range n.throttled {
		if q, ok := b.byID[id]; ok {
			q.limit.penalize(now)
		}
	}
	for id, bytes := range n.refunds {
		if q, ok := b.byID[id]; ok {
			q.limit.give(now, bytes)
		}
	}
	if n.packed > 0 {
		// A moving average of what compression did, with a tenth kept as margin so
		// that a record is rarely charged less than it is.
		seen := 0.9 * float64(n.raw) / float64(n.packed)
		if b.ratio == 0 {
			b.ratio = 1
		}
		b.ratio = min(maxRatio, max(1, 0.7*b.ratio+0.3*seen))
	}
	if n.loadDone {
		b.loading = false
	}
	if n.newMap != nil {
		b.loadFailed = false
		s.applyMap(n.newMap, now)
	}
	if n.loadFail != nil {
		b.loadFailed = true
		if b.smap == nil {
			s.failUnmapped(n.loadFail)
		}
	}
	if n.refresh {
		// Reload soon, but not more than once a second however many puts moved.
		if at := b.lastLoad.Add(time.Second); at.Before(b.nextRefresh) {
			b.nextRefresh = at
		}
	}
}

// applyMap switches to a new shard map. Queues of shards that stay keep their events,
// limiter and busy flag; events of shards that closed (a split or merge) move to the
// shards that now own their keys, in their order.
func (s *streamProducer) applyMap(m *shardMap, now time.Time) {
	b := &s.batch
	old := b.byID
	b.byID = make(map[string]*shardQueue, len(m.shards))
	b.shards = make([]*shardQueue, len(m.shards))
	for i, r := range m.shards {
		q, ok := old[r.id]
		if ok {
			q.shardRange = r
			delete(old, r.id)
		} else {
			q = &shardQueue{shardRange: r, limit: newBucket(s.cfg.Shard, now)}
		}
		b.shards[i] = q
		b.byID[r.id] = q
	}
	orphans := b.unmapped
	b.unmapped = nil
	for id, q := range old {
		orphans = append(orphans, q.pending...)
		if q.busy {
			if b.retiring == nil {
				b.retiring = map[string]bool{}
			}
			b.retiring[id] = true
		}
	}
	if b.smap != nil && len(old) > 0 {
		s.p.log.Info("kinesis shard map changed", "stream", s.name, "shards", len(m.shards), "closed", len(old))
	}
	b.smap = m
	b.nextRefresh = m.loaded.Add(s.cfg.ShardRefresh)
	for _, ev := range orphans {
		b.shards[m.find(ev.hash)].push(ev)
	}
}

// dispatch starts senders for the records that are due, as far as request slots,
// shard limits and busy shards allow. Records are due when any shard's oldest event has
// lingered long enough, a shard holds a full record's worth, the waiting events fill a
// request, or Close is flushing; then every shard that may send contributes, so that
// requests carry many shards.
func (s *streamProducer) dispatch(now time.Time) {
	b := &s.batch
	if b.smap == nil || b.pendingEvents == 0 || b.inflightReqs >= s.cfg.MaxInflightRequests || len(b.retiring) > 0 {
		return
	}
	if !s.due(now) {
		return
	}
	for b.inflightReqs < s.cfg.MaxInflightRequests {
		req := s.buildRequest(now)
		if req == nil {
			return
		}
		b.inflightReqs++
		s.senders.Add(1)
		go func() {
			defer s.senders.Done()
			s.send(req)
		}()
	}
}

// due reports whether records should be sent now.
func (s *streamProducer) due(now time.Time) bool {
	b := &s.batch
	if b.flushing || b.pendingBytes >= int(s.cfg.MaxRequestBytes) ||
		(!s.cfg.Aggregation && b.pendingEvents >= s.cfg.BatchRecords) {
		return true
	}
	for _, q := range b.shards {
		if len(q.pending) == 0 || q.busy {
			continue
		}
		if now.Sub(q.pending[0].at) >= s.cfg.Linger || q.pendingBytes >= s.fullBytes(q) {
			return true
		}
	}
	return false
}

// fullBytes is how many waiting bytes make a shard worth sending at once: what one
// record (aggregation) or one bucketful may carry.
func (s *streamProducer) fullBytes(q *shardQueue) int {
	full := int(q.limit.capBytes)
	if s.cfg.Aggregation {
		full = min(full, int(s.cfg.MaxRecordBytes))
	}
	return max(full, 1)
}

// ready reports whether a shard may contribute records now: not busy, and its bucket
// holds what it waits to send, or half a bucketful. Half, not all: a bucket that fills
// up while the batcher is a little late stops refilling, and that time is lost to the
// shard.
func (s *streamProducer) ready(q *shardQueue, now time.Time) bool {
	if q.busy || len(q.pending) == 0 {
		return false
	}
	bytes, records := s.want(q)
	return q.limit.allows(now, bytes, records)
}

// want is what a shard waits for its bucket to hold before it sends: its waiting
// events, or half a bucketful.
func (s *streamProducer) want(q *shardQueue) (bytes, records int) {
	bytes = min(q.pendingBytes, max(1, int(q.limit.capBytes/2)))
	records = 1
	if !s.cfg.Aggregation {
		records = min(len(q.pending), max(1, int(q.limit.capRecords/2)))
	}
	return bytes, records
}

// buildRequest seals records of ready shards into one request, or returns nil.
func (s *streamProducer) buildRequest(now time.Time) *request {
	b := &s.batch
	req := &request{}
	room, slots := int(s.cfg.MaxRequestBytes), s.cfg.BatchRecords
	n := len(b.shards)
	start := b.rr % n
	b.rr++
	for k := 0; k < n && slots > 0; k++ {
		q := b.shards[(start+k)%n]
		s.dropGone(q)
		if !s.ready(q, now) {
			continue
		}
		took := false
		for slots > 0 && len(q.pending) > 0 {
			e := s.seal(q, now, room)
			if e == nil {
				break
			}
			req.entries = append(req.entries, e)
			room -= e.size
			slots--
			took = true
		}
		if took {
			q.busy = true
			req.shards = append(req.shards, q.id)
		}
	}
	if len(req.entries) == 0 {
		return nil
	}
	return req
}

// dropGone removes, from the front of a queue, events nobody waits for any more.
func (s *streamProducer) dropGone(q *shardQueue) {
	k := 0
	for k < len(q.pending) && q.pending[k].call.gone.Load() {
		k++
	}
	if k > 0 {
		s.forget(q.pending[:k])
		q.pop(k)
	}
}

// dropGoneUnmapped forgets the events waiting for the first shard map whose callers
// have given up.
func (s *streamProducer) dropGoneUnmapped() {
	b := &s.batch
	var gone []*event
	kept := b.unmapped[:0]
	for _, ev := range b.unmapped {
		if ev.call.gone.Load() {
			gone = append(gone, ev)
		} else {
			kept = append(kept, ev)
		}
	}
	clear(b.unmapped[len(kept):])
	b.unmapped = kept
	s.forget(gone)
}

// forget releases events that will not be sent: their callers have been answered.
func (s *streamProducer) forget(evs []*event) {
	if len(evs) == 0 {
		return
	}
	var bytes int64
	for _, ev := range evs {
		bytes += int64(ev.size)
	}
	b := &s.batch
	b.pendingEvents -= len(evs)
	b.pendingBytes -= int(bytes)
	s.release(bytes)
	s.p.metrics.eventsAbandoned.Add(s.p.ctx, int64(len(evs)), s.streamAttr())
}

// maxRatio caps the compression ratio the batcher predicts, so that one odd run of
// records cannot make it charge a shard far too little.
const maxRatio = 16

// seal makes one record from the front of a shard's queue that fits in room bytes and
// the shard's tokens, spends its tokens and removes its events from the queue. It
// returns nil when nothing fits now. With compression an aggregated record may hold
// as many more bytes than the tokens as compression is predicted to take off (ratio),
// never more than max_record_bytes uncompressed, so it is always within Kinesis'
// limit once compressed.
func (s *streamProducer) seal(q *shardQueue, now time.Time, room int) *entry {
	s.dropGone(q)
	if len(q.pending) == 0 {
		return nil
	}
	tokBytes, _ := q.limit.room(now)
	ratio := 1.0
	if s.p.comp != nil && s.batch.ratio > 1 {
		ratio = s.batch.ratio
	}
	limit := min(int(s.cfg.MaxRecordBytes), room, int(float64(tokBytes)*ratio))
	first := q.pending[0]

	if s.cfg.Aggregation {
		// Events gone meanwhile are skipped (and forgotten once the record is sealed).
		agg := &kpl.Aggregator{}
		var kept, gone []*event
		k := 0
		for ; k < len(q.pending); k++ {
			ev := q.pending[k]
			if ev.call.gone.Load() {
				gone = append(gone, ev)
				continue
			}
			if agg.SizeWith(ev.key, "", len(ev.data)) > limit {
				break
			}
			agg.Add(ev.key, "", ev.data)
			kept = append(kept, ev)
		}
		if len(kept) > 1 || (len(kept) == 1 && kpl.NeedsWrapping(kept[0].data)) {
			tokens := agg.Size()
			if ratio > 1 && len(kept) > 1 {
				tokens = int(float64(tokens)/ratio) + 1
			}
			if !q.limit.allows(now, tokens, 1) {
				return nil
			}
			e := &entry{shard: q.id, key: agg.PartitionKey(), agg: agg, size: agg.Size(), tokens: tokens, events: kept}
			s.forget(gone)
			s.take(q, e, k, now)
			return e
		}
	}
	// One event as a plain record (or wrapped alone when its data looks aggregated).
	size := first.size
	var agg *kpl.Aggregator
	if kpl.NeedsWrapping(first.data) {
		agg = &kpl.Aggregator{}
		agg.Add(first.key, "", first.data)
		size = agg.Size()
	}
	if size > room || !q.limit.allows(now, size, 1) {
		return nil
	}
	e := &entry{shard: q.id, key: first.key, agg: agg, size: size, tokens: size, events: []*event{first}}
	s.take(q, e, 1, now)
	return e
}

// take spends a sealed record's tokens and removes its k queue events.
func (s *streamProducer) take(q *shardQueue, e *entry, k int, now time.Time) {
	q.limit.take(now, e.tokens, 1)
	for _, ev := range e.events {
		e.bytes += int64(ev.size)
	}
	b := &s.batch
	b.pendingEvents -= len(e.events)
	b.pendingBytes -= int(e.bytes)
	q.pop(k)
}

// nextWake returns when the batcher must look again without being poked: the next
// linger deadline or refill of a shard that waits, or the next shard map refresh.
func (s *streamProducer) nextWake(now time.Time) time.Time {
	b := &s.batch
	next := now.Add(time.Hour)
	if b.smap != nil && !b.loading {
		next = b.nextRefresh
	}
	if b.inflightReqs >= s.cfg.MaxInflightRequests || len(b.retiring) > 0 {
		return next // a finishing request pokes
	}
	for _, q := range b.shards {
		if len(q.pending) == 0 || q.busy {
			continue // a freed shard pokes
		}
		at := q.pending[0].at.Add(s.cfg.Linger)
		if b.flushing || q.pendingBytes >= s.fullBytes(q) {
			at = now
		}
		bytes, records := s.want(q)
		if w := q.limit.wait(now, bytes, records); now.Add(w).After(at) {
			at = now.Add(w)
		}
		if at.Before(next) {
			next = at
		}
	}
	return next
}

// abandonAll fails every waiting event: Close stopped waiting for the flush.
func (s *streamProducer) abandonAll() {
	b := &s.batch
	f := &failure{kind: failClosed, err: errClosed}
	var evs []*event
	evs = append(evs, b.unmapped...)
	b.unmapped = nil
	for _, q := range b.shards {
		evs = append(evs, q.pending...)
		q.pending, q.pendingBytes = nil, 0
	}
	s.failEvents(evs, f)
	s.abandonedOnClose.Add(int64(len(evs)))
}

// failUnmapped fails the events waiting for the first shard map.
func (s *streamProducer) failUnmapped(f *failure) {
	b := &s.batch
	evs := b.unmapped
	b.unmapped = nil
	s.failEvents(evs, f)
}

// failEvents fails waiting (unsealed) events with f and releases them.
func (s *streamProducer) failEvents(evs []*event, f *failure) {
	if len(evs) == 0 {
		return
	}
	b := &s.batch
	var bytes int64
	for _, ev := range evs {
		bytes += int64(ev.size)
	}
	b.pendingEvents -= len(evs)
	b.pendingBytes -= int(bytes)
	s.release(bytes)
	s.completeEvents(evs, f)
}
