package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	p      *grok.Pattern
	fields []grokField
	// parents are the distinct objects the fields go into (source for source.ip),
	// each looked up once per match; nil when a field is itself one of them or above
	// one (then every field is set by its whole path).
	parents []event.Path
}

type grokField struct {
	path   event.Path
	typ    string
	parent int // index in parents; -1: top level
	leaf   string
}

// maxParents bounds the parent objects a pattern caches per match (on the stack).
const maxParents = 32

// groupParents fills the parents of a pattern's fields, if they can be cached.
func (pat *grokPattern) groupParents() {
	index := map[string]int{}
	for i := range pat.fields {
		f := &pat.fields[i]
		parent, leaf, ok := f.path.Parent()
		f.leaf, f.parent = leaf, -1
		if !ok {
			continue
		}
		n, seen := index[parent.String()]
		if !seen {
			n = len(pat.parents)
			index[parent.String()] = n
			pat.parents = append(pat.parents, parent)
		}
		f.parent = n
	}
	for _, f := range pat.fields {
		for _, parent := range pat.parents {
			full := f.path.String()
			if p := parent.String(); p == full || strings.HasPrefix(p, full+".") {
				pat.parents = nil // a capture would replace an object others go into
				return
			}
		}
	}
	if len(pat.parents) > maxParents {
		pat.parents = nil
	}
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
		for _, f := range gp.Fields() {
			if err := requireField(fmt.Sprintf("patterns[%d]", i), f.Name, given["patterns"]); err != nil {
				errs = append(errs, err)
			}
			pat.fields = append(pat.fields, grokField{path: event.ParsePath(f.Name), typ: f.Type})
		}
		pat.groupParents()
		p.maxSpans = max(p.maxSpans, 2*len(pat.fields))
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
		var objects [maxParents]map[string]any
		for i, f := range pat.fields {
			start, end := spans[2*i], spans[2*i+1]
			if start < 0 || (start == end && !p.keepEmpty) {
				continue
			}
			var val any
			if f.typ == "" {
				val = s[start:end]
			} else {
				var err error
				if val, err = convertCapture(s[start:end], f.typ); err != nil {
					return fmt.Errorf("field %s: capture %s: %w", p.field, f.path, err)
				}
			}
			if pat.parents == nil || f.parent < 0 {
				if err := e.SetPath(f.path, val); err != nil {
					return fmt.Errorf("field %s: capture %s: %w", p.field, f.path, err)
				}
				continue
			}
			obj := objects[f.parent]
			if obj == nil {
				var err error
				if obj, err = e.Object(pat.parents[f.parent]); err != nil {
					return fmt.Errorf("field %s: capture %s: %w", p.field, f.path, err)
				}
				objects[f.parent] = obj
			}
			obj[f.leaf] = val
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
