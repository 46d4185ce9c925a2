package enrich

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// result is how one lookup went, the result attribute of sluice_enrich_lookups_total
// (and of the backend durations): an index into resultNames, so that counting one is
// an array index.
type result uint8

// Results of one lookup.
const (
	resultHit result = iota // the database, table, set or backend had an answer
	// resultMiss: it had none (for geoip: also private and reserved addresses).
	resultMiss
	// resultCacheHit: a lookup source answered from its cache.
	resultCacheHit
	// resultNegativeCacheHit: a lookup source answered "no such key" from its cache.
	resultNegativeCacheHit
	// resultStale: the backend failed and an expired cache entry was served instead.
	resultStale
	// resultError: the lookup failed (a backend error, an invalid IP address, ...).
	resultError
	numResults
)

// resultNames are the results' attribute values.
var resultNames = [numResults]string{"hit", "miss", "cache_hit", "negative_cache_hit", "stale", "error"}

// String returns r's attribute value.
func (r result) String() string { return resultNames[r] }

// metrics holds the instruments of a Resources and its processors.
type metrics struct {
	backend metric.Float64Histogram
	reloads metric.Int64Counter

	// lookups are the processors' lookup counts by processor kind and resource,
	// observed by sluice_enrich_lookups_total's callback: a lookup costs an atomic
	// add, not an instrument call (which took 4% of `sluice dev`'s CPU, five per
	// event through the enriched firewall sample).
	mu           sync.Mutex
	lookups      map[[2]string]*lookupCounts
	registration metric.Registration
}

func newMetrics(meter metric.Meter) (*metrics, error) {
	in := instruments.New(meter, "github.com/sluice-siem/sluice/transform/enrich")
	m := &metrics{
		backend: in.Histogram("sluice_enrich_backend_duration_seconds", "s",
			"Duration of Redis and PostgreSQL lookup calls, by source, backend and result (hit, miss, error).",
			0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
		reloads: in.Counter("sluice_enrich_reloads_total", "{reload}",
			"Reloads of enrichment files after they changed, by kind, resource name and result (ok, error)."),
		lookups: map[[2]string]*lookupCounts{},
	}
	if err := in.Err("enrichment"); err != nil {
		return nil, err
	}
	lookups, err := in.Meter().Int64ObservableCounter("sluice_enrich_lookups_total", metric.WithUnit("{lookup}"),
		metric.WithDescription("Enrichment lookups, by processor kind, resource (database, table, set or source name) and result (hit, miss, cache_hit, negative_cache_hit, stale, error)."))
	if err != nil {
		return nil, fmt.Errorf("enrichment: create counter sluice_enrich_lookups_total: %w", err)
	}
	m.registration, err = in.Meter().RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, c := range m.lookups {
			for i := range c.n {
				if n := c.n[i].Load(); n > 0 {
					o.ObserveInt64(lookups, n, c.attrs[i])
				}
			}
		}
		return nil
	}, lookups)
	if err != nil {
		return nil, fmt.Errorf("enrichment: observe sluice_enrich_lookups_total: %w", err)
	}
	return m, nil
}

// close stops observing the lookup counts.
func (m *metrics) close() {
	if m.registration != nil {
		_ = m.registration.Unregister()
	}
}

// lookupCounts are the lookups of one processor kind in one resource, by result,
// with their attribute sets made once.
type lookupCounts struct {
	n     [numResults]atomic.Int64
	attrs [numResults]metric.ObserveOption
}

// lookupCounter counts one processor's lookups in one resource; the processors of a
// kind that use the same resource share their counts. The zero lookupCounter counts
// nothing.
type lookupCounter struct{ c *lookupCounts }

func (m *metrics) lookupCounter(processor, resource string) lookupCounter {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := [2]string{processor, resource}
	c := m.lookups[key]
	if c == nil {
		c = &lookupCounts{}
		for i, r := range resultNames {
			c.attrs[i] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("processor", processor),
				attribute.String("resource", resource),
				attribute.String("result", r)))
		}
		m.lookups[key] = c
	}
	return lookupCounter{c}
}

// add counts one lookup of result r.
func (lc lookupCounter) add(r result) {
	if lc.c != nil {
		lc.c.n[r].Add(1)
	}
}

// rateLimit lets one event through per interval and counts the ones it held back, for
// logs that a failing backend would otherwise repeat for every event.
type rateLimit struct {
	interval   time.Duration
	last       atomic.Int64 // unix nanoseconds of the last event let through
	suppressed atomic.Int64
}

// allow reports whether to log now and how many events were held back since the last
// one let through.
func (r *rateLimit) allow(now time.Time) (bool, int64) {
	last := r.last.Load()
	if last != 0 && now.UnixNano()-last < int64(r.interval) {
		r.suppressed.Add(1)
		return false, 0
	}
	if !r.last.CompareAndSwap(last, now.UnixNano()) {
		r.suppressed.Add(1)
		return false, 0
	}
	return true, r.suppressed.Swap(0)
}
