package pipeline

import (
	"context"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// This file holds the group processor: a list of processors run as one step, so that
// one `if` decides for all of them. A pipeline for a source of many record kinds (a
// firewall's TRAFFIC, THREAT and SYSTEM logs; Zeek's twenty logs) then tests one
// condition per kind instead of one per processor: the steps of the other kinds are
// never visited.
//
//	- group:
//	    if: 'ctx._tmp.kind == "TRAFFIC"'
//	    processors:
//	      - csv: {...}
//	      - convert: {...}
//
// The group's steps are named below it (processors[3].group.processors[1]) in errors,
// metrics and coverage; a failure inside the group that none of its own steps handles
// is the group's failure, so the group's ignore_failure and on_failure apply to it.

// groupKind is the group processor's kind name.
const groupKind = "group"

// groupProc runs its steps in order with the pipeline's own runner.
type groupProc struct {
	p     *Pipeline
	steps []*step
}

// Process runs the group's steps. Their time is measured on the events the pipeline
// samples (timeSample); the pipeline's tick, read again here, picks about as many.
func (g *groupProc) Process(ctx context.Context, e *event.Event) error {
	return g.p.run(ctx, e, g.steps, g.p.tick.Load()%timeSample == 0)
}

// group builds a group processor from its own options: processors, a non-empty list.
func (b *builder) group(opts *yaml.Node, path string) (event.Processor, error) {
	var o struct {
		Processors []yaml.Node `yaml:"processors"`
	}
	given, errs := decodeOptions(opts, &o)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(o.Processors) == 0 {
		at := given["processors"]
		if at == nil {
			at = opts
		}
		return nil, optErr("processors", at, "a group needs at least one processor")
	}
	if b.depth >= maxGroupDepth {
		return nil, fmt.Errorf("groups nest more than %d deep", maxGroupDepth)
	}
	b.depth++
	defer func() { b.depth-- }()
	return &groupProc{p: b.p, steps: b.steps(o.Processors, path+".processors")}, nil
}

// maxGroupDepth bounds how deep groups nest: the pipeline runs them recursively.
const maxGroupDepth = 8

// groupSteps returns the steps of a group step (under the coverage wrapper, if any),
// or nil.
func groupSteps(s *step) []*step {
	proc := s.proc
	if c, ok := proc.(*coveredProc); ok {
		proc = c.inner
	}
	if g, ok := proc.(*groupProc); ok {
		return g.steps
	}
	return nil
}
