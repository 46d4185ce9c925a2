package stream

import "context"

// Deferral lets the handler of a batch acknowledge it after returning, for a sink that
// gathers many batches into one write (sink/archive: one S3 object holds minutes of a
// shard). A consumer that supports it puts one in the handler's context
// (WithDeferral); a handler finds it with DeferralFrom. Without one, a handler must
// finish its writes before it returns nil, as always.
//
// The acknowledgement stays one path: the consumer's checkpoint advances over a batch
// only once it is acknowledged, whether by the handler's nil or by the ack that Defer
// returned, and never past an earlier batch that is not. A deferred batch counts
// against the shard's bound on unacknowledged records, so a sink that holds batches
// holds the shard's reading too (backpressure).
type Deferral interface {
	// Defer takes the acknowledgement of the batch being handled off the handler's
	// return: when the handler then returns nil, the batch is acknowledged only once
	// ack is called. ack is idempotent and safe from any goroutine; an ack that comes
	// after the shard stopped is ignored (the batch is delivered again to the shard's
	// next owner). Call Defer at most once per batch, only before returning nil.
	Defer() (ack func())
	// OnStop registers f to run once when the shard stops reading (its end, a
	// hand-off, shutdown): the consumer then waits, up to its hand-off deadline, for
	// the deferred batches to be acknowledged before it checkpoints, so a sink holding
	// some should write them out now. f must not block. Registrations are per shard
	// run; key dedupes them (the same key registers once).
	OnStop(key any, f func())
}

type deferralKey struct{}

// WithDeferral returns ctx carrying d.
func WithDeferral(ctx context.Context, d Deferral) context.Context {
	return context.WithValue(ctx, deferralKey{}, d)
}

// DeferralFrom returns the Deferral of ctx, if its consumer offers one.
func DeferralFrom(ctx context.Context) (Deferral, bool) {
	d, ok := ctx.Value(deferralKey{}).(Deferral)
	return d, ok
}
