package transform

import (
	"context"
	"fmt"
	"runtime/debug"

	evt "github.com/sluice-siem/sluice/transform/event"
)

// Pipelines gives the pipeline of each log type: the processor that turns a decoded
// event into its document (transform/pipeline's Set). Pipeline returns nil for a type
// without one: its events pass through as shipped. A pipeline records failures in the
// event rather than returning them; an error it does return sends the record to the
// dead letters.
type Pipelines interface {
	Pipeline(logType string) evt.Processor
}

// runPipeline runs the pipeline of ev's log type over it, if there is one, its
// processors taking new objects from objs. keep is false when the pipeline dropped the
// event. A panic that escapes the pipeline is an error, so the record becomes a dead
// letter and the process lives on.
func (t *Transformer) runPipeline(ctx context.Context, ev *event, objs *evt.Objects) (keep bool, err error) {
	if t.pipelines == nil {
		return true, nil
	}
	p := t.pipelines.Pipeline(ev.typ)
	if p == nil {
		return true, nil
	}
	defer func() {
		if r := recover(); r != nil {
			t.log.ErrorContext(ctx, "pipeline panicked", "type", ev.typ, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			keep, err = false, fmt.Errorf("pipeline %s: panic: %v", ev.typ, r)
		}
	}()
	e := evt.Event{Type: ev.typ, Received: ev.received, Fields: ev.fields, Objects: objs}
	if err := p.Process(ctx, &e); err != nil {
		return false, fmt.Errorf("pipeline %s: %w", ev.typ, err)
	}
	if e.Dropped {
		return false, nil
	}
	ev.failure = e.Failure
	ev.fields = e.Fields
	if ev.fields == nil {
		ev.fields = map[string]any{}
	}
	return true, nil
}
