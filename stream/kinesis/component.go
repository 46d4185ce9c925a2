package kinesis

import "context"

// Start implements the lifecycle of cmd/sluice: the producer sends from New on, so
// there is nothing to start.
func (p *Producer) Start(context.Context) error { return nil }

// Shutdown flushes and closes the producer (Close): it stops accepting Puts, sends
// what it holds and waits until each record is durable or failed, abandoning the rest
// when ctx ends (the error then says how many events were not flushed). It is safe
// without Start; a second call returns nil.
func (p *Producer) Shutdown(ctx context.Context) error { return p.Close(ctx) }

// Start implements the lifecycle of cmd/sluice: the reader has no background work;
// its users read through it from NewReader on.
func (r *Reader) Start(context.Context) error { return nil }

// Shutdown closes the reader's idle connections (Close); list it below its users, so
// that it shuts down after them. It is safe without Start and twice, and returns nil.
func (r *Reader) Shutdown(context.Context) error {
	r.Close()
	return nil
}
