package enrich

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// Results of one lookup, the result attribute of sluice_enrich_lookups_total.
const (
	resultHit = "hit" // the database, table, set or backend had an answer
	// resultMiss: it had none (for geoip: also private and reserved addresses).
	resultMiss = "miss"
	// resultCacheHit: a lookup source answered from its cache.
	resultCacheHit = "cache_hit"
	// resultNegativeCacheHit: a lookup source answered "no such key" from its cache.
	resultNegativeCacheHit = "negative_cache_hit"
	// resultStale: the backend failed and an expired cache entry was served instead.
	resultStale = "stale"
	// resultError: the lookup failed (a backend error, an invalid IP address, ...).
	resultError = "error"
)

// metrics holds the instruments of a Resources and its processors.
type metrics struct {
	lookups metric.Int64Counter
	backend metric.Float64Histogram
	reloads metric.Int64Counter
}

func newMetrics(meter metric.Meter) (*metrics, error) {
	in := instruments.New(meter, "github.com/sluice-siem/sluice/transform/enrich")
	m := &metrics{
		lookups: in.Counter("sluice_enrich_lookups_total", "{lookup}",
			"Enrichment lookups, by processor kind, resource (database, table, set or source name) and result (hit, miss, cache_hit, negative_cache_hit, stale, error)."),
		backend: in.Histogram("sluice_enrich_backend_duration_seconds", "s",
			"Duration of Redis and PostgreSQL lookup calls, by source, backend and result (hit, miss, error).",
			0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
		reloads: in.Counter("sluice_enrich_reloads_total", "{reload}",
			"Reloads of enrichment files after they changed, by kind, resource name and result (ok, error)."),
	}
	if err := in.Err("enrichment"); err != nil {
		return nil, err
	}
	return m, nil
}

// lookupCounter counts one processor's lookups in one resource, with the attribute sets
// made once so that counting allocates nothing.
type lookupCounter struct {
	c    metric.Int64Counter
	opts map[string][]metric.AddOption
}

func (m *metrics) lookupCounter(processor, resource string) lookupCounter {
	results := [...]string{resultHit, resultMiss, resultCacheHit, resultNegativeCacheHit, resultStale, resultError}
	lc := lookupCounter{c: m.lookups, opts: make(map[string][]metric.AddOption, len(results))}
	for _, r := range results {
		set := attribute.NewSet(
			attribute.String("processor", processor),
			attribute.String("resource", resource),
			attribute.String("result", r))
		lc.opts[r] = []metric.AddOption{metric.WithAttributeSet(set)}
	}
	return lc
}

func (lc lookupCounter) add(ctx context.Context, result string) {
	lc.c.Add(ctx, 1, lc.opts[result]...)
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
