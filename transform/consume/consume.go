// Package consume is step 4 of the data path, consume: it reads the shards of the
// streams between the tiers (Kinesis, through a Source) and hands their records to the
// transform step in batches, with any number of workers sharing the shards through a
// lease table (a LeaseStore), so that each shard has one worker at a time and a worker
// that stops hands its shards to the others without losing or re-processing what was
// acknowledged. It declares the Source and the LeaseStore it needs; the types both
// sides of them share (stream.Shard, stream.ShardReader, stream.Checkpoint,
// stream.Lease, ...) are package stream's, so that the streams and their lease tables
// never import this package.
//
// How it works (the published design of the Kinesis Client Library, written anew):
//
//   - Discovery: every Config.ShardRefresh, and at the end of a shard, the worker
//     lists the shards of its streams and creates a lease for each shard that has
//     none, with its parents.
//   - Leases: the worker renews its leases every Config.RenewPeriod (a conditional
//     write that bumps the lease counter). A lease whose counter stands still for
//     Config.FailoverTime belongs to a worker that stopped, and others take it. A
//     worker that cannot renew stops processing a shard at FailoverTime minus
//     RenewPeriod after its last successful renewal began, before anyone may take it.
//   - Balance: every Config.BalancePeriod the worker reads the table, takes free and
//     expired leases up to ceil(leases/workers) and, if nothing is free, asks the most
//     loaded worker for one lease; that worker hands it over at its next renewal,
//     after checkpointing (see decide).
//   - Resharding: a child shard is processed only after all its parents are finished,
//     so the records of one partition key stay in order across a split or merge.
//   - Reading: one reader per held shard, from the checkpoint, at most
//     Config.CallsPerSecond calls per second, backing off when throttled.
//   - Acknowledgement: a batch is acknowledged when the handler returns nil for it; a
//     failed batch is delivered again. The checkpoint advances only to the end of the
//     longest acknowledged prefix, every Config.CheckpointPeriod, at a shard's end and
//     at hand-off; at most Config.MaxUnackedRecords are read ahead of it per shard.
//   - Hand-off: when Consume's context ends, the worker stops reading, waits up to
//     Config.HandoffTimeout for the batches in the handler, checkpoints and releases
//     its leases, so others take them at once.
//
// Delivery is at least once: records after the last checkpoint of a worker that died are
// delivered again, to the next owner. Each record carries stream, shard, sequence and
// sub-sequence, from which the sink derives a deterministic document id.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/sluice-siem/sluice/stream"
)

// Handler processes one batch of one shard; batches of a shard come one at a time, in
// order, and batches of different shards concurrently. Returning nil acknowledges
// every record of the batch; an error makes the consumer deliver the same batch again
// after a backoff, unless the shard stops meanwhile. The handler may keep nothing of the
// batch after it returns and must not modify it (neither the Records slice nor the
// record data): a failed batch is delivered again from them. Its context is cancelled
// when the worker loses the shard's lease, or when a hand-off's deadline passes.
type Handler = func(context.Context, stream.Batch) error

// Options are a consumer's collaborators; nil fields get defaults.
type Options struct {
	// Logger receives lease changes (info) and failures (warn); nil discards them.
	Logger *slog.Logger
	// Meter creates the consumer's instruments; nil means no-op.
	Meter metric.Meter
}

// Consumer reads streams under shard leases and hands their records to a Handler.
// Create it with New; run it with Consume.
type Consumer struct {
	cfg     Config
	store   LeaseStore
	src     Source
	log     *slog.Logger
	metrics metrics

	mu      sync.Mutex
	running *worker // the worker of the Consume call in progress, or nil
}

// New validates cfg and returns a consumer of cfg.Streams from src under the leases of
// store. An empty cfg.WorkerID becomes DefaultWorkerID(). It starts nothing.
func New(cfg Config, store LeaseStore, src Source, opts Options) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("consumer config: %w", err)
	}
	if len(cfg.Streams) == 0 {
		return nil, errors.New("consumer config: streams: at least one stream is required")
	}
	if store == nil || src == nil {
		return nil, errors.New("new consumer: lease store and source are required")
	}
	if cfg.WorkerID == "" {
		cfg.WorkerID = DefaultWorkerID()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Meter == nil {
		opts.Meter = noop.NewMeterProvider().Meter("")
	}
	c := &Consumer{cfg: cfg, store: store, src: src, log: opts.Logger.With("worker", cfg.WorkerID)}
	m, err := newMetrics(opts.Meter, c)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// WorkerID returns the worker id the consumer holds leases under.
func (c *Consumer) WorkerID() string { return c.cfg.WorkerID }

// Consume runs the worker until ctx ends, calling h for each batch of every shard it
// holds, then hands off gracefully: it stops reading, waits up to
// Config.HandoffTimeout for the batches in h to be acknowledged, checkpoints and
// releases every lease. It returns nil after that, once no h runs and every goroutine
// it started has ended. Failures of the store or the stream are logged and retried,
// never returned. Only one Consume call may run at a time.
func (c *Consumer) Consume(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("consume: nil handler")
	}
	w := newWorker(c, h)
	c.mu.Lock()
	if c.running != nil {
		c.mu.Unlock()
		return errors.New("consume: another Consume call is already running")
	}
	c.running = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = nil
		c.mu.Unlock()
	}()
	w.run(ctx)
	return nil
}

// eachShard calls f for every shard the running worker holds.
func (c *Consumer) eachShard(f func(*shardRun)) {
	c.mu.Lock()
	w := c.running
	c.mu.Unlock()
	if w == nil {
		return
	}
	for _, s := range w.heldShards() {
		f(s)
	}
}
