package consume

import (
	"context"
	"sync"

	"github.com/sluice-siem/sluice/stream"
)

// deferrals is a shard run's side of stream.Deferral: how many batches wait for a
// deferred acknowledgement, and what to call when the shard stops reading so that
// they are written out.
type deferrals struct {
	cp *checkpointer

	mu      sync.Mutex
	pending int
	// idle is closed and replaced whenever pending drops to 0.
	idle    chan struct{}
	keys    map[any]bool
	stop    []func()
	stopped bool
}

func newDeferrals(cp *checkpointer) *deferrals {
	return &deferrals{cp: cp, idle: make(chan struct{})}
}

// batchDeferral is the Deferral handed to one delivery of one batch (span id).
type batchDeferral struct {
	d   *deferrals
	id  uint64
	ack func() // what Defer returned; nil until it is called
}

var _ stream.Deferral = (*batchDeferral)(nil)

func (b *batchDeferral) Defer() func() {
	if b.ack != nil {
		return b.ack // a second call defers nothing more
	}
	d := b.d
	d.mu.Lock()
	d.pending++
	d.mu.Unlock()
	var once sync.Once
	b.ack = func() {
		once.Do(func() {
			d.cp.ack(b.id)
			d.mu.Lock()
			d.pending--
			if d.pending == 0 {
				close(d.idle)
				d.idle = make(chan struct{})
			}
			d.mu.Unlock()
		})
	}
	return b.ack
}

func (b *batchDeferral) OnStop(key any, f func()) {
	d := b.d
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		f()
		return
	}
	if d.keys == nil {
		d.keys = map[any]bool{}
	}
	if !d.keys[key] {
		d.keys[key] = true
		d.stop = append(d.stop, f)
	}
	d.mu.Unlock()
}

// handle runs h on the batch with a Deferral in its context and acknowledges the
// span when h returns nil without deferring. It returns h's error.
func (d *deferrals) handle(ctx context.Context, h func(context.Context, stream.Batch) error, b stream.Batch, id uint64) error {
	bd := &batchDeferral{d: d, id: id}
	err := h(stream.WithDeferral(ctx, bd), b)
	if err == nil && bd.ack == nil {
		d.cp.ack(id)
	}
	return err
}

// drain runs the stop functions once and waits until no deferred batch waits for its
// acknowledgement, or ctx ends (the lease is lost, or the hand-off deadline passed).
// Without deferred batches it returns at once.
func (d *deferrals) drain(ctx context.Context) {
	d.mu.Lock()
	stop := d.stop
	d.stop, d.stopped = nil, true
	d.mu.Unlock()
	for _, f := range stop {
		f()
	}
	for {
		d.mu.Lock()
		n, idle := d.pending, d.idle
		d.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return
		}
	}
}
