package event

import (
	"fmt"
	"strings"
)

// Path is a dotted field path split once, for processors that read or write the same
// path in every event: the per-event cost is then the map lookups alone. The zero Path
// is invalid; make one with ParsePath.
type Path struct {
	full  string
	parts []string
}

// ParsePath splits a dotted path ("source.ip").
func ParsePath(s string) Path {
	return Path{full: s, parts: strings.Split(s, ".")}
}

// String returns the path as written.
func (p Path) String() string { return p.full }

// GetPath is Get of a parsed path. The nested field is looked up first and a
// top-level key with the dots in it only when there is none: nested fields are the
// rule, so the common case costs one map lookup per part.
func (e *Event) GetPath(p Path) (any, bool) {
	v, _, _, ok := e.Lookup(p)
	return v, ok
}

// Lookup is GetPath that also returns where the value is: the object holding it and
// its key there (a nested field's last part, or the whole path for a top-level key
// with dots in it). A processor that replaces a value in place (convert, lowercase)
// stores the new one with obj[key] = v instead of walking the path again.
func (e *Event) Lookup(p Path) (v any, obj map[string]any, key string, ok bool) {
	m := e.Fields
	last := len(p.parts) - 1
	for _, part := range p.parts[:last] {
		child, isObj := m[part].(map[string]any)
		if !isObj {
			return e.lookupDotted(p)
		}
		m = child
	}
	if v, ok := m[p.parts[last]]; ok {
		return v, m, p.parts[last], true
	}
	return e.lookupDotted(p)
}

func (e *Event) lookupDotted(p Path) (any, map[string]any, string, bool) {
	v, ok := e.dotted(p)
	if !ok {
		return nil, nil, "", false
	}
	return v, e.Fields, p.full, true
}

// nested returns the object at p, found by walking its parts (no top-level key with
// dots in it); ok is false when there is none.
func (e *Event) nested(p Path) (map[string]any, bool) {
	m := e.Fields
	for _, part := range p.parts {
		child, ok := m[part].(map[string]any)
		if !ok {
			return nil, false
		}
		m = child
	}
	return m, true
}

// dotted looks p up as one top-level key with dots in it.
func (e *Event) dotted(p Path) (any, bool) {
	if len(p.parts) == 1 {
		return nil, false
	}
	v, ok := e.Fields[p.full]
	return v, ok
}

// SetPath is Set of a parsed path: it stores v, creating the objects on the way, and
// fails, changing nothing, when a value on the way is not an object.
func (e *Event) SetPath(p Path, v any) error {
	if e.Fields == nil {
		e.Fields = e.NewObject(0)
	}
	m := e.Fields
	last := len(p.parts) - 1
	for _, part := range p.parts[:last] {
		next, ok := m[part]
		if !ok {
			child := e.NewObject(4)
			m[part] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return e.Set(p.full, v) // reports the conflict in Set's words
		}
		m = child
	}
	m[p.parts[last]] = v
	return nil
}

// TakePath removes the value at p and returns it: GetPath and DeletePath in one walk.
func (e *Event) TakePath(p Path) (any, bool) {
	m := e.Fields
	last := len(p.parts) - 1
	for _, part := range p.parts[:last] {
		child, ok := m[part].(map[string]any)
		if !ok {
			return e.takeDotted(p)
		}
		m = child
	}
	if v, ok := m[p.parts[last]]; ok {
		delete(m, p.parts[last])
		return v, true
	}
	return e.takeDotted(p)
}

func (e *Event) takeDotted(p Path) (any, bool) {
	v, ok := e.dotted(p)
	if ok {
		delete(e.Fields, p.full)
	}
	return v, ok
}

// SetPathNew is SetPath that leaves a value already at p alone and reports it
// (exists): a lookup and a store in one walk. A top-level key with the dots of p in
// it counts as a value at p, as GetPath finds it.
func (e *Event) SetPathNew(p Path, v any) (exists bool, err error) {
	if _, ok := e.dotted(p); ok {
		return true, nil
	}
	if e.Fields == nil {
		e.Fields = e.NewObject(0)
	}
	m := e.Fields
	last := len(p.parts) - 1
	for _, part := range p.parts[:last] {
		next, ok := m[part]
		if !ok {
			child := e.NewObject(4)
			m[part] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return false, e.Set(p.full, v) // reports the conflict in Set's words
		}
		m = child
	}
	if _, ok := m[p.parts[last]]; ok {
		return true, nil
	}
	m[p.parts[last]] = v
	return false, nil
}

// DeletePath is Delete of a parsed path: the nested field, else a top-level key with
// the dots in it (the order of GetPath).
func (e *Event) DeletePath(p Path) bool {
	m := e.Fields
	last := len(p.parts) - 1
	for _, part := range p.parts[:last] {
		child, ok := m[part].(map[string]any)
		if !ok {
			return e.deleteDotted(p)
		}
		m = child
	}
	if _, ok := m[p.parts[last]]; ok {
		delete(m, p.parts[last])
		return true
	}
	return e.deleteDotted(p)
}

func (e *Event) deleteDotted(p Path) bool {
	if len(p.parts) == 1 {
		return false
	}
	if _, ok := e.Fields[p.full]; ok {
		delete(e.Fields, p.full)
		return true
	}
	return false
}

// Object returns the object at p, creating it and the objects on the way, so that a
// processor setting many fields below one parent looks it up once. It fails, changing
// nothing, when a value on the way or at p is not an object.
func (e *Event) Object(p Path) (map[string]any, error) {
	if e.Fields == nil {
		e.Fields = e.NewObject(0)
	}
	m := e.Fields
	for i, part := range p.parts {
		next, ok := m[part]
		if !ok {
			child := e.NewObject(4)
			m[part] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("object %s: %s is a %s, not an object", p.full, strings.Join(p.parts[:i+1], "."), Kind(next))
		}
		m = child
	}
	return m, nil
}

// Parent returns the path without its last part, and the last part; ok is false for a
// path of one part.
func (p Path) Parent() (parent Path, last string, ok bool) {
	n := len(p.parts)
	if n < 2 {
		return Path{}, p.full, false
	}
	return Path{full: strings.Join(p.parts[:n-1], "."), parts: p.parts[:n-1]}, p.parts[n-1], true
}
