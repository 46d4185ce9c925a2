package embedded

import (
	"context"
	"fmt"
)

// Start implements the lifecycle of cmd/sluice: the stream takes Puts from New on and
// starts no goroutines of its own, so there is nothing to start.
func (s *Stream) Start(context.Context) error { return nil }

// Shutdown drains the stream: the process is its only copy, so it waits until every
// record put so far has been acknowledged (WaitEmpty), or until ctx ends, and then
// returns an error naming the bytes that are lost. List it above its consumer, which
// must still run while it drains, and below the receivers that put into it. It holds
// nothing else to release: it is safe without Start (an empty stream returns nil at
// once) and safe to call again.
func (s *Stream) Shutdown(ctx context.Context) error {
	if err := s.WaitEmpty(ctx); err != nil {
		return fmt.Errorf("drain stream (events not yet written are lost with the embedded stream): %w", err)
	}
	return nil
}
