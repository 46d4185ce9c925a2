package archive

import (
	"context"
	"sync"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
)

// Writer is a destination that finishes its writes before returning: the search or
// file sink.
type Writer interface {
	Write(ctx context.Context, docs []sink.Document) error
}

// Tee is the transformer's sink when the archive is on: each batch goes to the
// primary destination (the search or file sink; nil: the archive alone), then to the
// archive. Write returns nil once the primary has the batch and the archive holds it;
// the batch's acknowledgement is then deferred (stream.Deferral) until the archive's
// objects holding it are uploaded, so the consumer checkpoints a batch only when both
// have it. Without a Deferral in ctx it waits for the upload itself.
type Tee struct {
	primary Writer
	archive *Archive
}

// NewTee returns the sink writing to primary (may be nil) and a.
func NewTee(primary Writer, a *Archive) *Tee {
	return &Tee{primary: primary, archive: a}
}

// Write writes docs to the primary destination, then to the archive. An error leaves
// the batch unacknowledged: it is delivered again (the search sink's ids and the
// archive's keys make that harmless).
func (t *Tee) Write(ctx context.Context, docs []sink.Document) error {
	if t.primary != nil {
		if err := t.primary.Write(ctx, docs); err != nil {
			return err
		}
	}
	if !t.archive.Archives(docs) {
		return nil
	}
	d, ok := stream.DeferralFrom(ctx)
	if !ok {
		return t.archive.Write(ctx, docs)
	}
	// Defer only once the archive holds the batch (Append fails before holding
	// anything), and let an upload that finishes first wait for it.
	var h handoff
	if err := t.archive.Append(ctx, docs, h.fire, d); err != nil {
		return err
	}
	h.set(d.Defer())
	return nil
}

// handoff runs ack once both it is set and fire was called, in either order.
type handoff struct {
	mu    sync.Mutex
	ack   func()
	fired bool
}

func (h *handoff) fire() {
	h.mu.Lock()
	h.fired = true
	ack := h.ack
	h.mu.Unlock()
	if ack != nil {
		ack()
	}
}

func (h *handoff) set(ack func()) {
	h.mu.Lock()
	h.ack = ack
	fired := h.fired
	h.mu.Unlock()
	if fired {
		ack()
	}
}
