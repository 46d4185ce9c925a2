package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

// This file holds the dot_expander processor, Elasticsearch's: a key that holds dots
// ("id.orig_h", as Zeek's JSON logs and other flattened JSON write their nested
// records) becomes the nested objects it names ({"id":{"orig_h":...}}), so that
// processors can reach it by its path.

type dotExpanderOptions struct {
	Field    string `yaml:"field"`
	Path     string `yaml:"path"`
	Override bool   `yaml:"override"`
}

// dotExpanderProc expands one dotted key, or with field "*" every dotted key, of the
// object at path (the event's root by default; the keys of that object only, not of
// the objects below it). Where the expanded field already exists, the values are
// merged into an array (the existing value first), or with override the expanded
// value replaces it. A value in the way that is not an object fails the processor,
// as does a path that is missing or not an object; a named field that is absent
// changes nothing. Keys that are not field paths (".a", "a..b", "a.") are left alone.
type dotExpanderProc struct {
	field    string // "*" or a dotted key
	path     *event.Path
	override bool
	maxDepth int // limits.max_depth: a key of more parts is refused (the json processor's bound)
}

func newDotExpander(node *yaml.Node, deps *Deps) (event.Processor, error) {
	var o dotExpanderOptions
	given, errs := decodeOptions(node, &o)
	p := &dotExpanderProc{field: o.Field, override: o.Override, maxDepth: deps.maxDepth()}
	switch {
	case o.Field == "*":
	case strings.TrimSpace(o.Field) == "":
		errs = append(errs, optErr("field", given["field"], "required: a key with dots, or * for every such key"))
	case !dottedPath(o.Field):
		errs = append(errs, optErr("field", given["field"], "%q is not a field path with dots (or *)", o.Field))
	}
	if given["path"] != nil {
		if err := requireField("path", o.Path, given["path"]); err != nil {
			errs = append(errs, err)
		}
		path := event.ParsePath(o.Path)
		p.path = &path
	}
	return p, errors.Join(errs...)
}

// dottedPath reports whether a key is a field path of two or more non-empty parts.
func dottedPath(key string) bool {
	return strings.IndexByte(key, '.') > 0 && !strings.HasSuffix(key, ".") && !strings.Contains(key, "..")
}

func (p *dotExpanderProc) Process(_ context.Context, e *event.Event) error {
	obj := e.Fields
	if p.path != nil {
		v, ok := e.GetPath(*p.path)
		if !ok {
			return missing(p.path.String())
		}
		if obj, ok = v.(map[string]any); !ok {
			return fmt.Errorf("path %s: is a %s, not an object", p.path, event.Kind(v))
		}
	}
	if obj == nil {
		return nil
	}
	if p.field != "*" {
		return p.expand(e, obj, p.field)
	}
	// The dotted keys first (sorted, so that keys that collide always merge in one
	// order), then their expansion: the object is not changed while it is ranged over.
	var buf [16]string
	keys := buf[:0]
	for k := range obj {
		if dottedPath(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := p.expand(e, obj, k); err != nil {
			return err
		}
	}
	return nil
}

// expand moves obj[key] to the nested field key names, within obj.
func (p *dotExpanderProc) expand(e *event.Event, obj map[string]any, key string) error {
	v, ok := obj[key]
	if !ok {
		return nil
	}
	if parts := strings.Count(key, ".") + 1; parts > p.maxDepth {
		// A key from the event may hold any number of dots: bound the nesting it makes
		// as the json processor bounds what it decodes.
		return fmt.Errorf("field %.64s...: cannot expand: %d levels, more than limits.max_depth (%d)", key, parts, p.maxDepth)
	}
	// Find or make the objects on the way first, so that a conflict changes nothing.
	m := obj
	rest := key
	for {
		head, tail, more := strings.Cut(rest, ".")
		if !more {
			break
		}
		next, exists := m[head]
		if !exists {
			child := e.NewObject(4)
			m[head] = child
			m = child
		} else if child, isObj := next.(map[string]any); isObj {
			m = child
		} else {
			return fmt.Errorf("field %s: cannot expand: %s is a %s, not an object", key, key[:len(key)-len(rest)+len(head)], event.Kind(next))
		}
		rest = tail
	}
	delete(obj, key)
	old, exists := m[rest]
	switch {
	case !exists || p.override:
		m[rest] = v
	default:
		list, isList := old.([]any)
		if !isList {
			list = []any{old}
		}
		if add, isList := v.([]any); isList {
			list = append(list, add...)
		} else {
			list = append(list, v)
		}
		m[rest] = list
	}
	return nil
}
