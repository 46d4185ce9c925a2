// Package event is the document model of the transform step: one event as pipelines
// and their processors see it, with dotted-path access ("source.ip") to its nested
// fields, and the Processor interface every parser and enricher implements. It is a
// leaf package so that pipelines (transform/pipeline) and enrichers
// (transform/enrich) share it without depending on each other.
package event

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Event is one event being transformed.
//
// Fields holds JSON-shaped values only: map[string]any for objects, []any for arrays,
// string, bool, nil, and numbers as json.Number (as decoded, written back exactly),
// int64 or float64 (as processors make them).
type Event struct {
	// Type is the event's log type; it selects the pipeline.
	Type string
	// Received is when the gateway accepted the event.
	Received time.Time
	// Fields is the event document.
	Fields map[string]any
	// Dropped is set by the drop processor: the event is acknowledged but not written.
	Dropped bool
	// Objects, when set, supplies the objects processors create (NewObject), to be
	// recycled by the event's owner once the event is encoded. Nil: plain maps.
	Objects *Objects
	// Failure is set by a pipeline that failed on the event (transform/pipeline's
	// *Failure, naming the processor): the event is kept, marked, and the transformer
	// shows it in the console's Failures.
	Failure error
}

// Processor changes an event in place. An error means the processor could not do its
// job for this event (a pattern that does not match, a field that is missing); the
// pipeline then applies the processor's on_failure handling. Processors must be safe
// for concurrent use: one instance serves every shard.
type Processor interface {
	Process(ctx context.Context, e *Event) error
}

// Get returns the value at a dotted path ("source.ip" is Fields["source"]["ip"]). A
// top-level key that itself contains dots ("source.ip" as one key) is found too.
func (e *Event) Get(path string) (any, bool) {
	if v, ok := e.Fields[path]; ok {
		return v, true
	}
	var cur any = e.Fields
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// GetString returns the string at a path; ok is false when it is absent or not a string.
func (e *Event) GetString(path string) (string, bool) {
	v, ok := e.Get(path)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// Set stores v at a dotted path, creating the objects on the way. It fails, changing
// nothing, when a value on the way is not an object.
func (e *Event) Set(path string, v any) error {
	if e.Fields == nil {
		e.Fields = e.NewObject(0)
	}
	m := e.Fields
	for {
		head, rest, more := strings.Cut(path, ".")
		if !more {
			m[head] = v
			return nil
		}
		next, ok := m[head]
		if !ok {
			child := e.NewObject(1)
			m[head] = child
			m, path = child, rest
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("set %s: %s is a %s, not an object", path, head, Kind(next))
		}
		m, path = child, rest
	}
}

// Delete removes the value at a dotted path and reports whether there was one.
func (e *Event) Delete(path string) bool {
	if _, ok := e.Fields[path]; ok {
		delete(e.Fields, path)
		return true
	}
	m := e.Fields
	for {
		head, rest, more := strings.Cut(path, ".")
		if !more {
			_, ok := m[head]
			delete(m, head)
			return ok
		}
		child, ok := m[head].(map[string]any)
		if !ok {
			return false
		}
		m, path = child, rest
	}
}

// Kind names the JSON kind of a field value, for error messages.
func Kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	default:
		return "number"
	}
}
