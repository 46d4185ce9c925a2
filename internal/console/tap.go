package console

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The points of the data path where the tap samples events.
const (
	// PointReceived: durable in the stream, as the gateway accepted it (the gateway).
	PointReceived = "received"
	// PointTransformed: the document its pipeline made, before the sink (the transformer).
	PointTransformed = "transformed"
	// PointIndexed: the document once the sink acknowledged it (the transformer).
	PointIndexed = "indexed"
)

// Points lists the tap's points in data-path order.
var Points = []string{PointReceived, PointTransformed, PointIndexed}

// pointIndex returns the index of a point in Points, or -1.
func pointIndex(point string) int {
	switch point {
	case PointReceived:
		return 0
	case PointTransformed:
		return 1
	case PointIndexed:
		return 2
	}
	return -1
}

// Sample is one event the tap saw.
type Sample struct {
	Time  time.Time `json:"time"`
	Point string    `json:"point"`
	Type  string    `json:"type"`
	// Source is the receiver an event came in by (at PointReceived).
	Source string `json:"source,omitempty"`
	// Event is the event or document, or, for one over the tap's size limit, an
	// object saying so ({"_sluice_tap_truncated": size, "head": its first bytes}).
	Event json.RawMessage `json:"event"`
}

// TapFilter chooses what a subscription receives.
type TapFilter struct {
	// Point is one of Points.
	Point string
	// Type, when not empty, is the only log type received.
	Type string
}

// Tap hands samples of the events passing the data path's points to the subscriptions
// watching them, rate-limited per subscription. Watching is one atomic load: the
// receivers and the transformer ask it first, so that the tap costs the data path
// nothing while no one watches. Sample never blocks: what a subscription has no room
// or no tokens for is counted as skipped. A Tap is safe for concurrent use.
type Tap struct {
	maxBytes int
	watchers [3]atomic.Int32 // per point

	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// NewTap returns a tap whose samples hold at most maxBytes of an event each (<= 0:
// DefaultTapMaxBytes).
func NewTap(maxBytes int) *Tap {
	if maxBytes <= 0 {
		maxBytes = DefaultTapMaxBytes
	}
	return &Tap{maxBytes: maxBytes, subs: map[*Subscription]struct{}{}}
}

// DefaultTapMaxBytes is the size above which a tapped event is shown truncated.
const DefaultTapMaxBytes = 16 << 10

// Subscription is one watcher of the tap: its samples arrive on C until Close.
type Subscription struct {
	C      <-chan Sample
	c      chan Sample
	tap    *Tap
	filter TapFilter
	point  int

	// A token bucket of rate tokens a second, rate deep; under tap.mu.
	rate   float64
	tokens float64
	last   time.Time

	skipped atomic.Int64
	closed  bool
}

// Subscribe starts a subscription to the events of filter.Point (of filter.Type only,
// when set), at most rate a second (at least 1), with room for buffer samples not yet
// read (at least 1). Close it when done.
func (t *Tap) Subscribe(filter TapFilter, rate float64, buffer int) (*Subscription, error) {
	pi := pointIndex(filter.Point)
	if pi < 0 {
		return nil, &UnknownPointError{Point: filter.Point}
	}
	if !(rate >= 1) { // below 1, and NaN, which would let every sample through
		rate = 1
	}
	buffer = max(buffer, 1)
	c := make(chan Sample, buffer)
	s := &Subscription{C: c, c: c, tap: t, filter: filter, point: pi, rate: rate, tokens: rate, last: time.Now()}
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	t.watchers[pi].Add(1)
	return s, nil
}

// UnknownPointError is Subscribe's error for a point that is not one of Points.
type UnknownPointError struct{ Point string }

func (e *UnknownPointError) Error() string {
	return "unknown tap point " + strconv.Quote(e.Point) + ": use received, transformed or indexed"
}

// Close ends the subscription; C is closed. Safe to call twice.
func (s *Subscription) Close() {
	t := s.tap
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(t.subs, s)
	t.watchers[s.point].Add(-1)
	close(s.c)
}

// Skipped returns how many samples the subscription missed: over its rate, or while
// its buffer was full.
func (s *Subscription) Skipped() int64 { return s.skipped.Load() }

// Watching reports whether anyone watches point: the data path's check before Sample.
func (t *Tap) Watching(point string) bool {
	if t == nil {
		return false
	}
	pi := pointIndex(point)
	return pi >= 0 && t.watchers[pi].Load() > 0
}

// Sample offers one event at point to the subscriptions watching it. doc is copied
// when a subscription takes it; the caller keeps it. more reports whether a
// subscription of the point could take another event now: a caller offering a batch
// stops at the first false, so that a watched tap costs a batch a few calls, not one
// per event.
func (t *Tap) Sample(point, logType, source string, doc []byte) (more bool) {
	if t == nil {
		return false
	}
	pi := pointIndex(point)
	if pi < 0 || t.watchers[pi].Load() == 0 {
		return false
	}
	now := time.Now()
	var sample *Sample
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range t.subs {
		if s.point != pi {
			continue
		}
		s.tokens = min(s.rate, s.tokens+now.Sub(s.last).Seconds()*s.rate)
		s.last = now
		if s.filter.Type != "" && s.filter.Type != logType {
			more = more || (s.tokens >= 1 && len(s.c) < cap(s.c))
			continue
		}
		if s.tokens < 1 || len(s.c) == cap(s.c) {
			s.skipped.Add(1)
			continue
		}
		s.tokens--
		if sample == nil {
			sample = &Sample{Time: now, Point: point, Type: logType, Source: source, Event: t.copyEvent(doc)}
		}
		s.c <- *sample // room checked above, under the lock every sender holds
		more = more || (s.tokens >= 1 && len(s.c) < cap(s.c))
	}
	return more
}

// copyEvent returns a copy of doc, or the object that stands for it when it is over
// the size limit or not JSON.
func (t *Tap) copyEvent(doc []byte) json.RawMessage {
	if len(doc) <= t.maxBytes && json.Valid(doc) {
		return append(json.RawMessage(nil), doc...)
	}
	head := doc[:min(len(doc), 512)]
	out, _ := json.Marshal(map[string]any{"_sluice_tap_truncated": len(doc), "head": string(head)})
	return out
}
