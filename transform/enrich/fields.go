package enrich

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-siem/sluice/transform/event"
)

// leaf is one field an enrichment writes: a path below the target object and a
// JSON-shaped value that is not an object (objects are flattened into leaves, so that
// merging never replaces a whole object an event already has).
type leaf struct {
	path  []string
	value any
}

// flatten appends the leaves of a JSON-shaped object, prefixing their paths.
// Dotted keys ("asset.owner") are split.
func flatten(out []leaf, prefix []string, m map[string]any) []leaf {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		path := append(slices.Clip(prefix), strings.Split(k, ".")...)
		if child, ok := m[k].(map[string]any); ok {
			out = flatten(out, path, child)
			continue
		}
		out = append(out, leaf{path: path, value: m[k]})
	}
	return out
}

// applyLeaves writes leaves into obj, an object of e, creating the objects on the way
// and copying arrays, so that the event owns everything it receives. It fails on the
// first value on the way that is not an object; leaves before it are written.
func applyLeaves(e *event.Event, obj map[string]any, leaves []leaf) error {
	for _, l := range leaves {
		m := obj
		for i, part := range l.path[:len(l.path)-1] {
			next, ok := m[part]
			if !ok {
				child := e.NewObject(2)
				m[part] = child
				m = child
				continue
			}
			child, ok := next.(map[string]any)
			if !ok {
				return fmt.Errorf("set %s: %s is a %s, not an object",
					strings.Join(l.path, "."), strings.Join(l.path[:i+1], "."), event.Kind(next))
			}
			m = child
		}
		m[l.path[len(l.path)-1]] = copyValue(l.value)
	}
	return nil
}

// copyValue returns a deep copy of a JSON-shaped value's containers.
func copyValue(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = copyValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = copyValue(x)
		}
		return out
	default:
		return v
	}
}

// targetObject returns the object at a dotted path of e, creating it and the objects on
// the way; the empty path is the event itself.
func targetObject(e *event.Event, path string) (map[string]any, error) {
	if e.Fields == nil {
		e.Fields = e.NewObject(0)
	}
	m := e.Fields
	if path == "" {
		return m, nil
	}
	rest := path
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ".")
		next, ok := m[part]
		if !ok {
			child := e.NewObject(4)
			m[part] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is a %s, not an object", path, event.Kind(next))
		}
		m = child
	}
	return m, nil
}

// memberObject returns obj[key], an object of e, to merge members into: a new object
// (room for hint members) when it is absent or null. It fails, changing nothing, when
// obj[key] is something else.
func memberObject(e *event.Event, obj map[string]any, key string, hint int) (map[string]any, error) {
	cur, ok := obj[key]
	if !ok || cur == nil {
		m := e.NewObject(hint)
		obj[key] = m
		return m, nil
	}
	dst, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is a %s, not an object", key, event.Kind(cur))
	}
	return dst, nil
}

// parsePaths parses dotted field paths once, for processors reading them per event.
func parsePaths(fields []string) []event.Path {
	out := make([]event.Path, len(fields))
	for i, f := range fields {
		out[i] = event.ParsePath(f)
	}
	return out
}

// parentPath returns the parent of a dotted path: "source.ip" -> "source", "ip" -> "".
func parentPath(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// addTag appends tag, a string boxed once by the caller, to the event's tags (an
// array, created when absent; a single string becomes an array) unless it is there
// already.
func addTag(e *event.Event, tag any) error {
	if e.Fields == nil {
		e.Fields = map[string]any{}
	}
	switch tags := e.Fields["tags"].(type) {
	case nil:
		e.Fields["tags"] = []any{tag}
	case []any:
		for _, t := range tags {
			if t == tag {
				return nil
			}
		}
		e.Fields["tags"] = append(tags, tag)
	case string:
		if any(tags) != tag {
			e.Fields["tags"] = []any{tags, tag}
		}
	default:
		return fmt.Errorf("add tag: tags is a %s, not an array", event.Kind(tags))
	}
	return nil
}

// scalarString renders a key value: strings as they are, numbers and booleans in their
// JSON form. ok is false for null, objects and arrays.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	default:
		return "", false
	}
}

// errMissing is returned (wrapped) when a field a processor needs is absent.
var errMissing = errors.New("the field is absent")

// keyTemplate is a parsed key template: literal text and {{field.path}} placeholders.
type keyTemplate struct {
	literals []string // len(fields)+1 pieces around the placeholders
	fields   []string
}

// parseKeyTemplate parses "prefix-{{host.name}}:{{user.name}}".
func parseKeyTemplate(s string) (keyTemplate, error) {
	var t keyTemplate
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if strings.Contains(rest, "}}") {
				return t, fmt.Errorf("%q: }} without {{", s)
			}
			t.literals = append(t.literals, rest)
			break
		}
		if strings.Contains(rest[:i], "}}") {
			return t, fmt.Errorf("%q: }} without {{", s)
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return t, fmt.Errorf("%q: {{ without }}", s)
		}
		path := strings.TrimSpace(rest[i+2 : i+2+j])
		if err := checkPath("placeholder", path, true); err != nil || strings.ContainsAny(path, "{} ") {
			return t, fmt.Errorf("%q: invalid placeholder {{%s}}", s, path)
		}
		t.literals = append(t.literals, rest[:i])
		t.fields = append(t.fields, path)
		rest = rest[i+2+j+2:]
	}
	if len(t.fields) == 0 {
		return t, fmt.Errorf("%q: no {{field}} placeholder", s)
	}
	return t, nil
}

// render fills the template from e. A missing field is an error wrapping errMissing.
func (t keyTemplate) render(e *event.Event) (string, error) {
	var b strings.Builder
	for i, f := range t.fields {
		b.WriteString(t.literals[i])
		v, ok := e.Get(f)
		if !ok || v == nil {
			return "", fmt.Errorf("field %s: %w", f, errMissing)
		}
		s, ok := scalarString(v)
		if !ok {
			return "", fmt.Errorf("field %s is a %s, not a string or number", f, event.Kind(v))
		}
		b.WriteString(s)
	}
	b.WriteString(t.literals[len(t.fields)])
	return b.String(), nil
}
