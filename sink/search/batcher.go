package search

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// batcher gathers the documents of concurrent Write calls (one per shard, each often
// small) into shared _bulk requests: a request goes out when it reaches BulkMaxDocs or
// BulkMaxBytes, or FlushInterval after its first document. Each Write still waits for
// its own documents' results and retries them itself.
type batcher struct {
	s        *Sink
	interval time.Duration

	mu    sync.Mutex
	body  []byte
	slots []slot
	timer *time.Timer
	gen   uint64 // the request being gathered; a timer of an earlier one does nothing
	wg    sync.WaitGroup
}

// slot is where the result of one gathered document goes.
type slot struct {
	sub *submission
	k   int
}

// submission is one Write call's round of documents in the batcher.
type submission struct {
	results []result
	left    atomic.Int64
	done    chan struct{}
}

func (u *submission) set(k int, r result) {
	u.results[k] = r
	if u.left.Add(-1) == 0 {
		close(u.done)
	}
}

// submit gathers the pending items and returns their results once every one has been
// answered, or, when ctx ends first, a retry result for each.
func (b *batcher) submit(ctx context.Context, items []item, pending []int) []result {
	u := &submission{results: make([]result, len(pending)), done: make(chan struct{})}
	u.left.Store(int64(len(pending)))
	b.mu.Lock()
	for k, i := range pending {
		line := items[i].line
		if len(b.slots) > 0 && (len(b.slots) >= b.s.cfg.BulkMaxDocs || len(b.body)+len(line) > int(b.s.cfg.BulkMaxBytes)) {
			b.flushLocked()
		}
		b.body = append(b.body, line...)
		b.slots = append(b.slots, slot{sub: u, k: k})
	}
	if len(b.slots) >= b.s.cfg.BulkMaxDocs || len(b.body) >= int(b.s.cfg.BulkMaxBytes) {
		b.flushLocked()
	} else if len(b.slots) > 0 && b.timer == nil {
		gen := b.gen
		b.timer = time.AfterFunc(b.interval, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.gen == gen {
				b.flushLocked()
			}
		})
	}
	b.mu.Unlock()
	select {
	case <-u.done:
		return u.results
	case <-ctx.Done():
		out := make([]result, len(pending))
		for k := range out {
			out[k] = result{out: outRetry, reason: ctx.Err().Error()}
		}
		return out
	}
}

// flushLocked sends the gathered request in the background. b.mu is held.
func (b *batcher) flushLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.gen++
	if len(b.slots) == 0 {
		return
	}
	body, slots := b.body, b.slots
	b.body, b.slots = nil, nil
	b.wg.Go(func() {
		b.s.sem <- struct{}{}
		defer func() { <-b.s.sem }()
		res := make([]result, len(slots))
		// The request serves several Write calls, so no one caller's context bounds
		// it: RequestTimeout does.
		b.s.send(context.Background(), body, res)
		for i, sl := range slots {
			sl.sub.set(sl.k, res[i])
		}
	})
}

// close sends what is gathered and waits for every request in flight.
func (b *batcher) close() {
	b.mu.Lock()
	b.flushLocked()
	b.mu.Unlock()
	b.wg.Wait()
}
