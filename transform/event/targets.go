package event

import "strings"

// Targets is a fixed list of paths a processor reads or writes in every event (a csv's
// columns, a grok pattern's captures, a rename's fields), compiled once, so that each
// event looks up each distinct parent object once instead of walking every path from
// the root: source.ip and source.port cost one lookup of source and two stores. A
// Writer does the accesses of one event.
type Targets struct {
	paths   []Path
	parent  []int    // index in parents; -1: a top-level field
	leaf    []string // the last part of each path
	parents []Path
	// cached is false when one target is, or is above, another's parent (a capture
	// would replace an object others go into): every write then walks its path.
	cached bool
}

// MaxCachedParents bounds the parent objects a Writer keeps (on the stack); the
// targets of a list with more parents than this walk their whole path.
const MaxCachedParents = 32

// NewTargets compiles a list of paths written together.
func NewTargets(paths []Path) *Targets {
	t := &Targets{paths: paths, parent: make([]int, len(paths)), leaf: make([]string, len(paths)), cached: true}
	index := map[string]int{}
	for i, p := range paths {
		parent, leaf, ok := p.Parent()
		t.leaf[i], t.parent[i] = leaf, -1
		if !ok {
			continue
		}
		n, seen := index[parent.full]
		if !seen {
			n = len(t.parents)
			index[parent.full] = n
			t.parents = append(t.parents, parent)
		}
		t.parent[i] = n
	}
	for _, p := range paths {
		for _, parent := range t.parents {
			if parent.full == p.full || strings.HasPrefix(parent.full, p.full+".") {
				t.cached = false
				return t
			}
		}
	}
	return t
}

// Len returns the number of targets.
func (t *Targets) Len() int { return len(t.paths) }

// Path returns target i.
func (t *Targets) Path(i int) Path { return t.paths[i] }

// Writer reads and writes the targets of one event. Make one per event with Targets.Writer and
// keep it on the stack; it must not outlive the processor call that made it, since
// another processor may replace the objects it holds.
type Writer struct {
	t       *Targets
	e       *Event
	objects [MaxCachedParents]map[string]any
}

// Writer returns a writer of t's targets into e.
func (t *Targets) Writer(e *Event) Writer { return Writer{t: t, e: e} }

// parent returns target i's parent object, made when missing (the root for a
// top-level target): looked up once per writer when the targets cache their parents,
// else each time. ok is false when a value on the way is not an object.
func (w *Writer) parent(i int) (map[string]any, bool) {
	t := w.t
	n := t.parent[i]
	if n < 0 {
		if w.e.Fields == nil {
			w.e.Fields = w.e.NewObject(0)
		}
		return w.e.Fields, true
	}
	cache := t.cached && n < MaxCachedParents
	if cache && w.objects[n] != nil {
		return w.objects[n], true
	}
	obj, err := w.e.Object(t.parents[n])
	if err != nil {
		return nil, false
	}
	if cache {
		w.objects[n] = obj
	}
	return obj, true
}

// Set stores v at target i, as Event.SetPath does (with its errors), creating the
// objects on the way.
func (w *Writer) Set(i int, v any) error {
	obj, ok := w.parent(i)
	if !ok {
		return w.e.SetPath(w.t.paths[i], v) // fails too, in SetPath's words
	}
	obj[w.t.leaf[i]] = v
	return nil
}

// SetNew stores v at target i unless a value is there, as Event.SetPathNew does.
func (w *Writer) SetNew(i int, v any) (exists bool, err error) {
	if _, ok := w.e.dotted(w.t.paths[i]); ok {
		return true, nil
	}
	obj, ok := w.parent(i)
	if !ok {
		return w.e.SetPathNew(w.t.paths[i], v) // fails too, in SetPathNew's words
	}
	leaf := w.t.leaf[i]
	if _, ok := obj[leaf]; ok {
		return true, nil
	}
	obj[leaf] = v
	return false, nil
}

// Take removes the value at target i and returns it, as Event.TakePath does.
func (w *Writer) Take(i int) (any, bool) {
	t := w.t
	n := t.parent[i]
	if !t.cached || n < 0 || n >= MaxCachedParents {
		return w.e.TakePath(t.paths[i])
	}
	obj := w.objects[n]
	if obj == nil {
		var ok bool
		if obj, ok = w.e.nested(t.parents[n]); !ok {
			// No such object (yet): nothing is cached, and the whole path is tried,
			// a top-level key with its dots included.
			return w.e.TakePath(t.paths[i])
		}
		w.objects[n] = obj
	}
	if v, ok := obj[t.leaf[i]]; ok {
		delete(obj, t.leaf[i])
		return v, true
	}
	return w.e.takeDotted(t.paths[i])
}

// Add stores v at target i, or, when a value is already there (nested, not null),
// makes an array of the two (appending to an array there): a key seen twice keeps
// both values, as kv does.
func (w *Writer) Add(i int, v any) error {
	obj, ok := w.parent(i)
	if !ok {
		return w.e.SetPath(w.t.paths[i], v) // fails too, in SetPath's words
	}
	leaf := w.t.leaf[i]
	switch old := obj[leaf].(type) {
	case nil:
		obj[leaf] = v
	case []any:
		obj[leaf] = append(old, v)
	default:
		obj[leaf] = []any{old, v}
	}
	return nil
}
