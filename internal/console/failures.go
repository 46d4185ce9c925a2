package console

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Failure is one event a pipeline failed on, or one record that became a dead letter.
type Failure struct {
	Time time.Time `json:"time"`
	// Type is the event's log type (its pipeline); empty for a dead letter whose
	// envelope could not be read.
	Type string `json:"type"`
	// Processor names the processor that failed ("processors[2] grok panos-header");
	// empty for a dead letter.
	Processor string `json:"processor,omitempty"`
	// Error is what failed.
	Error string `json:"error"`
	// Event is the raw event as shipped (the record's bytes for a dead letter),
	// truncated to the console's limit.
	Event string `json:"event"`
	// Truncated is set when Event holds only the first part of the event.
	Truncated bool `json:"truncated,omitempty"`
	// DeadLetter: the record could not be transformed at all and was written as a
	// dead letter (else the pipeline failed and the event was indexed marked as such).
	DeadLetter bool `json:"dead_letter"`
	// Class is what Failures counts by: the log type and the processor, or the dead
	// letter's reason.
	Class string `json:"class"`
}

// ClassCount is how often one class of failure happened.
type ClassCount struct {
	Class     string    `json:"class"`
	Type      string    `json:"type"`
	Processor string    `json:"processor,omitempty"`
	Count     int64     `json:"count"`
	Last      time.Time `json:"last"`
	// Error is the latest failure's error of the class.
	Error      string `json:"error"`
	DeadLetter bool   `json:"dead_letter"`
}

// Failures keeps the latest failures and a count per class, within fixed bounds: the
// last `keep` failures, each event cut to maxEvent bytes, and at most maxClasses
// classes (the rest counted as one "other" class). It is safe for concurrent use.
type Failures struct {
	maxEvent, maxClasses int

	mu      sync.Mutex
	ring    []Failure
	next    int // where the next failure goes in ring
	full    bool
	classes map[string]*ClassCount
	total   int64
}

// Limits of Failures (NewFailures' defaults).
const (
	DefaultKeepFailures = 200
	DefaultFailureBytes = 8 << 10
	DefaultMaxClasses   = 500
	// otherClass counts the failures of classes beyond the limit.
	otherClass = "other (more classes than the console counts)"
	// maxErrorBytes bounds a failure's error text.
	maxErrorBytes = 2 << 10
)

// NewFailures returns an empty Failures keeping the last keep failures (<= 0:
// DefaultKeepFailures).
func NewFailures(keep int) *Failures {
	if keep <= 0 {
		keep = DefaultKeepFailures
	}
	return &Failures{maxEvent: DefaultFailureBytes, maxClasses: DefaultMaxClasses, ring: make([]Failure, keep), classes: map[string]*ClassCount{}}
}

// Record keeps f (its Time set to now when zero, its Class set when empty). The event
// and error are cut to the limits; the caller keeps nothing of f's.
func (fs *Failures) Record(f Failure) {
	if fs == nil {
		return
	}
	if f.Time.IsZero() {
		f.Time = time.Now()
	}
	f.Event, f.Truncated = cut(f.Event, fs.maxEvent)
	f.Error, _ = cut(f.Error, maxErrorBytes)
	f.Event, f.Error = strings.Clone(f.Event), strings.Clone(f.Error)
	if f.Class == "" {
		f.Class = classOf(f)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.total++
	fs.ring[fs.next] = f
	fs.next = (fs.next + 1) % len(fs.ring)
	fs.full = fs.full || fs.next == 0
	c := fs.classes[f.Class]
	if c == nil {
		if len(fs.classes) >= fs.maxClasses {
			if c = fs.classes[otherClass]; c == nil {
				c = &ClassCount{Class: otherClass}
				fs.classes[otherClass] = c
			}
		} else {
			c = &ClassCount{Class: f.Class, Type: f.Type, Processor: f.Processor, DeadLetter: f.DeadLetter}
			fs.classes[f.Class] = c
		}
	}
	c.Count++
	c.Last, c.Error = f.Time, f.Error
}

// classOf is a failure's class: "TYPE: PROCESSOR" for a pipeline's, "dead letter:
// REASON" for a dead letter (the error's first part, before any detail after a colon).
func classOf(f Failure) string {
	if f.DeadLetter {
		reason, _, _ := strings.Cut(f.Error, ":")
		return "dead letter: " + reason
	}
	return f.Type + ": " + f.Processor
}

// FailuresView is what Failures holds: the latest failures, newest first, and the
// counts per class, most frequent first.
type FailuresView struct {
	Total    int64        `json:"total"`
	Latest   []Failure    `json:"latest"`
	Classes  []ClassCount `json:"classes"`
	Keep     int          `json:"keep"`
	Filtered bool         `json:"filtered,omitempty"`
}

// View returns the failures, of logType only when it is not empty, at most limit of
// the latest (<= 0: all kept).
func (fs *Failures) View(logType string, limit int) FailuresView {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	v := FailuresView{Total: fs.total, Keep: len(fs.ring), Filtered: logType != "", Latest: []Failure{}, Classes: []ClassCount{}}
	n := fs.next
	if fs.full {
		n = len(fs.ring)
	}
	for i := 1; i <= n; i++ {
		f := fs.ring[(fs.next-i+len(fs.ring))%len(fs.ring)]
		if logType != "" && f.Type != logType {
			continue
		}
		if limit > 0 && len(v.Latest) >= limit {
			break
		}
		v.Latest = append(v.Latest, f)
	}
	for _, c := range fs.classes {
		if logType != "" && c.Type != logType {
			continue
		}
		v.Classes = append(v.Classes, *c)
	}
	slices.SortFunc(v.Classes, func(a, b ClassCount) int {
		if a.Count != b.Count {
			return int(min(max(b.Count-a.Count, -1), 1))
		}
		return strings.Compare(a.Class, b.Class)
	})
	return v
}

// cut returns s cut to at most n bytes, on a rune boundary, and whether it was cut.
func cut(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}
