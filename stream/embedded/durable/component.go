package durable

import "context"

// Start implements the lifecycle of cmd/sluice: the stream runs from Open on (its
// background syncing and trimming included), so there is nothing to start.
func (s *Stream) Start(context.Context) error { return nil }

// Shutdown closes the stream (Close): its goroutines stop, the write-ahead log is
// synced and the directory unlocked; what is not yet acknowledged stays on disk for
// the next Open. List it below its consumer and the receivers that put into it. It is
// safe without Start; a second call returns what the first did.
func (s *Stream) Shutdown(context.Context) error { return s.Close() }
