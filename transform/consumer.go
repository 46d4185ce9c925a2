package transform

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-siem/sluice/internal/background"
	"github.com/sluice-siem/sluice/stream"
)

// Source is what feeds the transformer, the consume step: the embedded stream, or the
// consumer of transform/consume that reads Kinesis or the durable embedded stream under
// shard leases. Consume calls h for each batch of every shard it delivers, and
// acknowledges a batch when h returns nil, until ctx ends; then it hands off (waits for
// the batches in h, checkpoints) and returns once no h runs.
type Source interface {
	Consume(ctx context.Context, h func(context.Context, stream.Batch) error) error
}

// ConsumerOptions are a Consumer's optional collaborators.
type ConsumerOptions struct {
	// Fatal, if set, receives the error that ends consuming on its own, after Start
	// (the process should stop then). Nil: Shutdown returns it.
	Fatal func(error)
}

// Consumer hands the batches of a Source to a Transformer between Start and Shutdown:
// the transform tier's consume step. List it below the stream it drains (and the
// receivers) and above the transformer's sink, so that it stops after what feeds it
// and before what it writes to.
type Consumer struct {
	src   Source
	t     *Transformer
	fatal func(error)
	work  background.Work
}

// NewConsumer returns the consumer of src into t. It starts nothing.
func NewConsumer(src Source, t *Transformer, opts ConsumerOptions) *Consumer {
	return &Consumer{src: src, t: t, fatal: opts.Fatal}
}

// Start consumes in the background, with t.Handle as the handler, until Shutdown: not
// until ctx ends.
func (c *Consumer) Start(ctx context.Context) error {
	run := func(ctx context.Context) error { return c.src.Consume(ctx, c.t.Handle) }
	if err := c.work.Start(ctx, run, c.fatal); err != nil {
		return fmt.Errorf("start consumer: %w", err)
	}
	return nil
}

// Shutdown ends consuming and waits, until ctx ends, for the source's hand-off: the
// batches in the transformer finish and the checkpoints are written. If the source is
// still handing off when ctx ends, it returns an error (list what the source reads
// through below the consumer: it is shut down after it regardless). It is safe
// without Start, and safe twice.
func (c *Consumer) Shutdown(ctx context.Context) error {
	if err := c.work.Stop(ctx); err != nil {
		if errors.Is(err, background.ErrRunning) {
			return fmt.Errorf("consume did not stop in time: %w", err)
		}
		return fmt.Errorf("consume: %w", err)
	}
	return nil
}
