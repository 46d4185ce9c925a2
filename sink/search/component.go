package search

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-siem/sluice/internal/background"
)

// Start implements the lifecycle of cmd/sluice: it runs sluice's retention sweeper
// (RunLifecycle) in the background until Shutdown, where the engine has no ILM or ISM
// (otherwise there is nothing to run). The sink writes from New on.
func (s *Sink) Start(ctx context.Context) error {
	if err := s.sweeper.Start(ctx, s.RunLifecycle, nil); err != nil {
		return fmt.Errorf("start search sink: %w", err)
	}
	return nil
}

// Shutdown ends the sweeper, waiting for it until ctx ends, then closes the sink
// (Close): the _bulk requests in flight finish and the client is released. If the
// sweeper is still running when ctx ends, the client is left open under it and
// Shutdown returns an error. It is safe without Start, and safe twice.
func (s *Sink) Shutdown(ctx context.Context) error {
	if err := s.sweeper.Stop(ctx); err != nil {
		if errors.Is(err, background.ErrRunning) {
			return fmt.Errorf("retention sweeper did not stop in time: %w", err)
		}
		return errors.Join(err, s.Close())
	}
	return s.Close()
}
