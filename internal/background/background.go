// Package background runs a component's long-lived work between its Start and its
// Shutdown (the lifecycle of cmd/sluice): the work runs on its own goroutine with a
// context of its own, which Stop cancels, so that the component stops when it is told
// to, in its turn, and not when the context its Start was called with ends. It is
// shared plumbing of the components that have such work (receivers, consumers,
// reloaders, sweepers), no step of the data path.
package background

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrRunning is wrapped by Stop's error when its context ended before the work
// returned: the work is still running, and what it uses must not be released under it.
var ErrRunning = errors.New("still running")

// Work is one component's background work. The zero value is ready; a Work is started
// at most once and stopped any number of times. Its methods are safe for concurrent
// use.
type Work struct {
	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when run returned; nil without Start
	err     error         // run's error, when fatal did not take it
}

// Start runs run on a new goroutine with a context that carries ctx's values but
// neither its cancellation nor its deadline, and that Stop cancels. run must return
// soon after its context ends. If run returns an error, fatal receives it (the
// component's owner then stops the process), or, when fatal is nil, Stop returns it.
// Start fails if it was called before, or after Stop.
func (w *Work) Start(ctx context.Context, run func(context.Context) error, fatal func(error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
		return errors.New("start after shutdown")
	case w.started:
		return errors.New("started twice")
	}
	w.started = true
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		defer cancel()
		if err := run(runCtx); err != nil {
			if fatal != nil {
				fatal(err)
				return
			}
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
		}
	}()
	return nil
}

// Stop cancels the work's context and waits until run returns, or until ctx ends: then
// it returns an error wrapping ErrRunning and ctx's error. Once run returned, Stop
// returns run's error if fatal did not take it. Without Start it returns nil at once,
// and Start fails from then on.
func (w *Work) Stop(ctx context.Context) error {
	w.mu.Lock()
	w.stopped = true
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done: // both ready: the work did return
		default:
			return fmt.Errorf("%w: %w", ErrRunning, ctx.Err())
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Wait waits until run returned; without Start it returns at once.
func (w *Work) Wait() {
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Started reports whether Start started the work.
func (w *Work) Started() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started
}
