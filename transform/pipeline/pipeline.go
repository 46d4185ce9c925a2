// Package pipeline is the parse step of the transform tier (step 5 of the data path):
// one pipeline per log type, an ordered list of processors in the vocabulary of
// Elasticsearch ingest pipelines (grok, dissect, kv, json, csv, syslog, cef, date,
// rename, set, remove, convert, lowercase, uppercase, append, drop, community_id,
// dot_expander, translate; group runs a list of them under one condition), each with an optional
// `if` condition and its own failure handling, producing ECS documents.
// Enrichment processors (geoip, cidr_lookup, lookup, threat_intel) come from
// transform/enrich through Deps.Enrich.
//
// A pipeline is configured as plain data (Config, YAML) and compiled once by Build,
// which reports every problem of every pipeline at once, each with its path
// (pipelines.firewall.processors[2].grok.patterns[0]: ...). A compiled Pipeline is an
// event.Processor, safe for concurrent use, that never fails an event: a processor's
// failure runs its on_failure processors, or else stops the pipeline and runs the
// pipeline's on_failure processors, or else — the default, as with the common ES
// ingest handler — keeps the event with error.message set and the tag
// _sluice_parse_failure added to tags. A panic in a processor is such a failure too.
//
// The processor syntax:
//
//	processors:
//	  - grok:
//	      field: message
//	      patterns: ['%{IPV4:source.ip} %{WORD:event.action}']
//	      if: 'ctx.message != nil'          # expr-lang, compiled once (see cond.go)
//	      ignore_failure: false            # true: a failure is ignored
//	      on_failure:                      # run instead of failing the pipeline
//	        - append: {field: tags, value: grok_failed}
//	      tag: parse-line                  # names the processor in errors and metrics
//	      description: ...
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// FailureTag is the tag the default failure handling adds to an event's tags.
const FailureTag = "_sluice_parse_failure"

// Config is one pipeline as configured: plain data, compiled by Build.
type Config struct {
	Description string `yaml:"description,omitempty" doc:"what the pipeline is for"`
	// KeepOriginal copies the message field to event.original before the first
	// processor runs (if event.original is not set yet), as ECS recommends for raw logs.
	KeepOriginal bool `yaml:"keep_original,omitempty" doc:"copy message to event.original first"`
	// Processors run in order; each is a one-key object naming its kind.
	Processors []yaml.Node `yaml:"processors" doc:"the processors, in order"`
	// OnFailure runs when a processor fails without its own handling; empty means the
	// default handling (error.message and the _sluice_parse_failure tag).
	OnFailure []yaml.Node `yaml:"on_failure,omitempty" doc:"processors run when the pipeline fails"`
	// Origin says where the pipeline was defined ("pipelines.firewall",
	// "/etc/sluice/pipelines/firewall.yaml"), to start its error paths. Loaders set it.
	Origin string `yaml:"-"`
}

// Pipeline is a compiled pipeline. It is safe for concurrent use.
type Pipeline struct {
	name         string
	description  string
	keepOriginal bool
	steps        []*step
	onFailure    []*step
	log          *slog.Logger

	events, failures, dropped atomic.Int64
	// tick picks the events whose processors are timed: one in timeSample.
	tick atomic.Uint32
}

// timeSample is how many events one timed event stands for. Reading the clock for
// every processor would cost about as much as a cheap processor itself (30-40 ns a
// read on a VM's clock, against 50-150 ns for a set or a rename), so processor time
// is measured on one event in timeSample and counted timeSample times: at the rates
// a pipeline runs (tens of thousands of events a second) that is still a thousand
// timed events a second.
const timeSample = 32

// step is one compiled processor with its common options.
type step struct {
	path          string // "processors[2]", "processors[2].on_failure[0]"
	kind, tag     string
	proc          event.Processor
	cond          *program
	ignoreFailure bool
	onFailure     []*step
	// dispatch, when set, serves the run of steps this one is in (see dispatch.go).
	dispatch *dispatch

	events, failures, nanos atomic.Int64
}

// Name returns the pipeline's name, the log type it serves.
func (p *Pipeline) Name() string { return p.name }

// Description returns what the pipeline is for.
func (p *Pipeline) Description() string { return p.description }

// Failure is a processor's failure, naming where it happened.
type Failure struct {
	Pipeline string
	// Processor is the processor's place, such as "processors[2]".
	Processor string
	Kind, Tag string
	Err       error
}

func (f *Failure) Error() string {
	name := f.Kind
	if f.Tag != "" {
		name += " " + f.Tag
	}
	return fmt.Sprintf("pipeline %s: %s (%s): %v", f.Pipeline, f.Processor, name, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }

// Step names the processor that failed: its place, kind and tag
// ("processors[2] grok panos-header"), as the console counts failures by.
func (f *Failure) Step() string {
	s := f.Processor + " " + f.Kind
	if f.Tag != "" {
		s += " " + f.Tag
	}
	return s
}

// Process runs the pipeline on e. It never fails the event: failures are recorded in
// it (see the package documentation), and a dropped event has e.Dropped set. The
// error is always nil; it is there to satisfy event.Processor.
func (p *Pipeline) Process(ctx context.Context, e *event.Event) error {
	p.events.Add(1)
	if e.Fields == nil {
		e.Fields = map[string]any{}
	}
	if p.keepOriginal {
		if msg, ok := e.Fields["message"].(string); ok {
			if _, has := e.Get("event.original"); !has {
				_ = e.Set("event.original", msg) // fails only if event is not an object: then keep it
			}
		}
	}
	timed := p.tick.Add(1)%timeSample == 0
	if err := p.run(ctx, e, p.steps, timed); err != nil {
		p.failures.Add(1)
		e.Failure = err
		p.fail(ctx, e, err, timed)
	}
	if e.Dropped {
		p.dropped.Add(1)
	}
	return nil
}

// run runs steps in order until one fails without handling or the event is dropped.
// timed: measure each step's time (see timeSample).
func (p *Pipeline) run(ctx context.Context, e *event.Event, steps []*step, timed bool) error {
	// One wall-clock read, then the monotonic clock alone (time.Since) after each
	// step: half the clock reads of time.Now before and after.
	var start time.Time
	var last time.Duration
	if timed {
		start = time.Now()
	}
	for i := 0; ; i++ {
		if e.Dropped {
			return nil
		}
		if i = skip(e.Fields, steps, i); i == len(steps) {
			return nil
		}
		s := steps[i]
		err := p.runStep(ctx, e, s)
		if timed {
			now := time.Since(start)
			s.nanos.Add(timeSample * int64(now-last))
			last = now
		}
		if err == nil {
			continue
		}
		if s.ignoreFailure {
			continue
		}
		if len(s.onFailure) == 0 {
			return err
		}
		restore := setFailureMetadata(e, err)
		herr := p.run(ctx, e, s.onFailure, timed)
		restore()
		if herr != nil {
			return herr
		}
		if timed {
			last = time.Since(start) // the handlers timed themselves
		}
	}
}

// runStep evaluates a step's condition and runs its processor, turning a panic into
// a failure.
func (p *Pipeline) runStep(ctx context.Context, e *event.Event, s *step) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.ErrorContext(ctx, "processor panicked", "pipeline", p.name, "processor", s.path,
				"kind", s.kind, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = p.failure(s, fmt.Errorf("panic: %v", r))
		}
	}()
	if s.cond != nil {
		ok, err := s.cond.test(e)
		if err != nil {
			return p.failure(s, fmt.Errorf("if: %w", err))
		}
		if !ok {
			return nil
		}
	}
	s.events.Add(1)
	if err := s.proc.Process(ctx, e); err != nil {
		if s.kind == groupKind {
			// A step of the group failed, named already; it is the group's failure too
			// (its ignore_failure and on_failure apply), so the group counts it.
			s.failures.Add(1)
			return err
		}
		return p.failure(s, err)
	}
	return nil
}

func (p *Pipeline) failure(s *step, err error) error {
	s.failures.Add(1)
	return &Failure{Pipeline: p.name, Processor: s.path, Kind: s.kind, Tag: s.tag, Err: err}
}

// fail handles a failure that stopped the pipeline: the pipeline's on_failure
// processors, or the default.
func (p *Pipeline) fail(ctx context.Context, e *event.Event, err error, timed bool) {
	if len(p.onFailure) > 0 {
		restore := setFailureMetadata(e, err)
		herr := p.run(ctx, e, p.onFailure, timed)
		restore()
		if herr == nil {
			return
		}
		err = fmt.Errorf("%w; then on_failure: %w", err, herr)
	}
	MarkFailed(e, err.Error())
}

// MarkFailed records a failure in an event the default way: error.message (a list
// once there is more than one) and the _sluice_parse_failure tag.
func MarkFailed(e *event.Event, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]any{}
	}
	errObj, ok := e.Fields["error"].(map[string]any)
	if !ok {
		if old, exists := e.Fields["error"]; exists {
			// Keep what the event called "error" rather than lose it.
			e.Fields["error.original"] = old
		}
		errObj = map[string]any{}
		e.Fields["error"] = errObj
	}
	switch old := errObj["message"].(type) {
	case nil:
		errObj["message"] = msg
	case []any:
		errObj["message"] = append(old, msg)
	default:
		errObj["message"] = []any{old, msg}
	}
	addTag(e, FailureTag)
}

// addTag appends tag to the event's tags unless it is there already.
func addTag(e *event.Event, tag string) {
	switch tags := e.Fields["tags"].(type) {
	case nil:
		e.Fields["tags"] = []any{tag}
	case []any:
		for _, t := range tags {
			if t == tag {
				return
			}
		}
		e.Fields["tags"] = append(tags, tag)
	case string:
		if tags != tag {
			e.Fields["tags"] = []any{tags, tag}
		}
	default:
		e.Fields["tags"] = []any{tags, tag}
	}
}

// The metadata an on_failure processor can read, under _ingest as in ES ingest:
// {{_ingest.on_failure_message}} in templates, ctx._ingest.on_failure_message in
// conditions.
const ingestKey = "_ingest"

// setFailureMetadata puts the failure under _ingest for on_failure processors and
// returns the function that takes it out again.
func setFailureMetadata(e *event.Event, err error) (restore func()) {
	meta := map[string]any{"on_failure_message": err.Error()}
	if f, ok := err.(*Failure); ok {
		meta["on_failure_message"] = f.Err.Error()
		meta["on_failure_pipeline"] = f.Pipeline
		meta["on_failure_processor"] = f.Processor
		meta["on_failure_processor_type"] = f.Kind
		meta["on_failure_processor_tag"] = f.Tag
	}
	old, had := e.Fields[ingestKey]
	e.Fields[ingestKey] = meta
	return func() {
		if had {
			e.Fields[ingestKey] = old
		} else {
			delete(e.Fields, ingestKey)
		}
	}
}
