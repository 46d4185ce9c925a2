package enrich

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-siem/sluice/internal/background"
)

// Start implements the lifecycle of cmd/sluice: it runs Run in the background, which
// reloads the files that change, until Shutdown. The lookups serve from NewResources
// on.
func (r *Resources) Start(ctx context.Context) error {
	if err := r.reload.Start(ctx, r.Run, nil); err != nil {
		return fmt.Errorf("start lookups: %w", err)
	}
	return nil
}

// Shutdown ends the reloading, waiting for it until ctx ends, then closes the lookup
// sources' connections (Close). If a reload is still running when ctx ends, nothing is
// closed under it and Shutdown returns an error. It is safe without Start, and safe
// twice.
func (r *Resources) Shutdown(ctx context.Context) error {
	if err := r.reload.Stop(ctx); err != nil {
		if errors.Is(err, background.ErrRunning) {
			return fmt.Errorf("reload lookups did not stop in time: %w", err)
		}
		r.Close()
		return fmt.Errorf("reload lookups: %w", err)
	}
	r.Close()
	return nil
}
