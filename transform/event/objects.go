package event

// Objects recycles the objects (map[string]any) of events, so that a transformer
// making many similar documents does not allocate and collect some twenty maps per
// event: processors take new objects with Event.NewObject, and once the event is
// encoded its owner calls Release, which clears them (clear keeps a map's memory) and
// keeps them for the next event.
//
// Only the objects Objects handed out are recycled; objects the event got elsewhere
// (decoded with the event, made by a processor without NewObject) are left to the
// garbage collector, so a map shared with anything else is never cleared. Objects is
// not safe for concurrent use: one serves one event at a time. The zero value is ready
// to use and keeps at most DefaultMaxFree objects.
type Objects struct {
	// MaxFree bounds the objects kept for reuse between events; 0 means
	// DefaultMaxFree. The objects in use by one event are not bounded.
	MaxFree int

	used []map[string]any
	free []map[string]any
}

// DefaultMaxFree is how many free objects Objects keeps by default: a few events'
// worth of a large document.
const DefaultMaxFree = 256

// maxRecycledLen is the size above which a released object is left to the garbage
// collector: clearing keeps a map's memory, and one huge object must not make every
// later one huge.
const maxRecycledLen = 64

// New returns an empty object, recycled when one is free, owned by the current event
// until Release.
func (o *Objects) New(hint int) map[string]any {
	var m map[string]any
	if n := len(o.free); n > 0 {
		m = o.free[n-1]
		o.free[n-1] = nil
		o.free = o.free[:n-1]
	} else {
		m = make(map[string]any, hint)
	}
	o.used = append(o.used, m)
	return m
}

// Release clears every object handed out since the last Release and keeps them for
// reuse. The event that used them must not be read after: its objects are empty.
func (o *Objects) Release() {
	limit := o.MaxFree
	if limit <= 0 {
		limit = DefaultMaxFree
	}
	// Pushed last to first, so that New hands them out again in the order they were
	// taken: a pipeline doing the same work per event then gets back, for each of its
	// objects, the map that already grew to that object's size.
	for i := len(o.used) - 1; i >= 0; i-- {
		m := o.used[i]
		if len(o.free) < limit && len(m) <= maxRecycledLen {
			clear(m)
			o.free = append(o.free, m)
		}
		o.used[i] = nil
	}
	o.used = o.used[:0]
}

// InUse returns how many objects the current event holds (for tests and metrics).
func (o *Objects) InUse() int { return len(o.used) }

// NewObject returns a new empty object for e: recycled from e.Objects when it is set
// (so the object lives only until the event's owner releases it), else a new map with
// room for hint members.
func (e *Event) NewObject(hint int) map[string]any {
	if e.Objects == nil {
		return make(map[string]any, hint)
	}
	return e.Objects.New(hint)
}
