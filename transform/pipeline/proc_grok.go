package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline/grok"
)

type grokOptions struct {
	Field              string            `yaml:"field"`
	Patterns           []string          `yaml:"patterns"`
	PatternDefinitions map[string]string `yaml:"pattern_definitions"`
	IgnoreMissing      bool              `yaml:"ignore_missing"`
	KeepEmptyCaptures  bool              `yaml:"keep_empty_captures"`
}

// grokProc matches a string field against grok expressions, tried in order; the first
// that matches sets its captures straight into the event. Empty captures are skipped
// unless keep_empty_captures is set (as in Logstash), so "OUT=" with no interface sets
// nothing.
type grokProc struct {
	field         event.Path
	patterns      []grokPattern
	ignoreMissing bool
	keepEmpty     bool
	maxSpans      int
	// fallbacks counts the events for which regexp ran at least one of the patterns
	// instead of the fast matcher (see grok.Pattern.MatchFallback), for the metric
	// sluice_grok_fallbacks_total.
	fallbacks atomic.Int64
}

type grokPattern struct {
	p       *grok.Pattern
	types   []string // each capture's semantic type (int, float), "" for a string
	targets *event.Targets
}

func newGrok(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o grokOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	if len(o.Patterns) == 0 {
		errs = append(errs, optErr("patterns", node, "required: one or more grok expressions"))
	}
	p := &grokProc{field: event.ParsePath(o.Field), ignoreMissing: o.IgnoreMissing, keepEmpty: o.KeepEmptyCaptures}
	for i, src := range o.Patterns {
		gp, err := grok.Compile(src, o.PatternDefinitions)
		if err != nil {
			errs = append(errs, optErr(fmt.Sprintf("patterns[%d]", i), given["patterns"], "%v", err))
			continue
		}
		pat := grokPattern{p: gp}
		var paths []event.Path
		for _, f := range gp.Fields() {
			if err := requireField(fmt.Sprintf("patterns[%d]", i), f.Name, given["patterns"]); err != nil {
				errs = append(errs, err)
			}
			paths = append(paths, event.ParsePath(f.Name))
			pat.types = append(pat.types, f.Type)
		}
		pat.targets = event.NewTargets(paths)
		p.maxSpans = max(p.maxSpans, 2*len(paths))
		p.patterns = append(p.patterns, pat)
	}
	return p, errors.Join(errs...)
}

func (p *grokProc) Process(_ context.Context, e *event.Event) error {
	v, ok := e.GetPath(p.field)
	if !ok {
		if p.ignoreMissing {
			return nil
		}
		return missing(p.field.String())
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("field %s: is a %s, not a string", p.field, event.Kind(v))
	}
	var buf [256]int
	spans := buf[:]
	if p.maxSpans > len(buf) {
		spans = make([]int, p.maxSpans)
	}
	fellBack := false
	defer func() {
		if fellBack {
			p.fallbacks.Add(1)
		}
	}()
	for _, pat := range p.patterns {
		matched, fallback := pat.p.MatchFallback(s, spans)
		fellBack = fellBack || fallback
		if !matched {
			continue
		}
		w := pat.targets.Writer(e)
		for i, typ := range pat.types {
			start, end := spans[2*i], spans[2*i+1]
			if start < 0 || (start == end && !p.keepEmpty) {
				continue
			}
			var val any
			if typ == "" {
				val = s[start:end]
			} else {
				var err error
				if val, err = convertCapture(s[start:end], typ); err != nil {
					return fmt.Errorf("field %s: capture %s: %w", p.field, pat.targets.Path(i), err)
				}
			}
			if err := w.Set(i, val); err != nil {
				return fmt.Errorf("field %s: capture %s: %w", p.field, pat.targets.Path(i), err)
			}
		}
		return nil
	}
	return fmt.Errorf("field %s: no grok pattern matched", p.field)
}

// convertCapture converts a typed capture (%{INT:port:int}).
func convertCapture(s, typ string) (any, error) {
	switch typ {
	case "int", "long":
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", truncate(s, 64))
		}
		return i, nil
	default: // float, double
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", truncate(s, 64))
		}
		return f, nil
	}
}

// matchIndex returns the index of the pattern Process takes its captures from when
// the field is s (the first that matches), or -1. Process does not use it: coverage
// (see Coverage) matches again after Process, so that the hot path counts nothing.
func (p *grokProc) matchIndex(s string) int {
	spans := make([]int, p.maxSpans)
	for i, pat := range p.patterns {
		if pat.p.Match(s, spans) {
			return i
		}
	}
	return -1
}
