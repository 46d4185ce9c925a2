package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// component is the lifecycle every part of a role implements (after the OpenTelemetry
// Collector's component.Component): Start begins its work, bound to the component and
// not to Start's context; Shutdown ends it and releases what it holds, and is safe
// without Start and safe to call twice. The sinks, the stream's producers, readers and
// lease table, the streams, the lookups, the consumer and the receivers' servers
// implement it themselves; an error that ends their work on its own is reported to the
// fatal function their options take (app.fatal).
type component interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// part adapts to component a step of a role's lifecycle that is no component of its
// own: readiness dropping and the durable embedded stream's drain, which only wait in
// their turn of the shutdown. start and stop are its calls (either may be nil).
// Shutdown runs stop once, whether or not Start ran; later calls return the first
// call's error.
type part struct {
	start func(context.Context) error
	stop  func(context.Context) error

	once sync.Once
	err  error
}

// Start implements component.
func (p *part) Start(ctx context.Context) error {
	if p.start == nil {
		return nil
	}
	return p.start(ctx)
}

// Shutdown implements component.
func (p *part) Shutdown(ctx context.Context) error {
	p.once.Do(func() {
		if p.stop != nil {
			p.err = p.stop(ctx)
		}
	})
	return p.err
}

// named is a component with the name its errors carry.
type named struct {
	name string
	c    component
}

// lifecycle is a role's components in data-path order, downstream first (the sink
// before the transformer before the consumer; the stream before the receivers): Start
// starts them in that order, so that nothing sends to a part not yet running, and
// Shutdown stops them the other way round, so that each part drains into parts still
// running.
type lifecycle struct {
	parts []named
}

// add appends c, upstream of every component added before.
func (l *lifecycle) add(name string, c component) { l.parts = append(l.parts, named{name, c}) }

// Start starts every component, downstream first. When one fails, it shuts down every
// component, upstream first (those never started release what their constructors
// opened), and returns the failure joined with theirs.
func (l *lifecycle) Start(ctx context.Context) error {
	for _, p := range l.parts {
		if err := p.c.Start(ctx); err != nil {
			err = fmt.Errorf("start %s: %w", p.name, err)
			return errors.Join(err, l.Shutdown(ctx))
		}
	}
	return nil
}

// Shutdown shuts down every component, upstream first, each even when one before it
// failed, and returns their errors joined.
func (l *lifecycle) Shutdown(ctx context.Context) error { return shutdown(ctx, l.parts) }

// shutdown shuts down parts in reverse order.
func shutdown(ctx context.Context, parts []named) error {
	var errs []error
	for i := len(parts) - 1; i >= 0; i-- {
		if err := parts[i].c.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down %s: %w", parts[i].name, err))
		}
	}
	return errors.Join(errs...)
}
