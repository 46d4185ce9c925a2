// Package instruments creates a package's OpenTelemetry instruments: one call per
// instrument, a no-op meter when metrics are off, and every failure reported at once,
// so that each package's constructor states its metrics and nothing else.
package instruments

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Set creates instruments with one meter and gathers their errors. It is not safe for
// concurrent use; the instruments it returns are.
type Set struct {
	meter metric.Meter
	errs  []error
}

// New returns a Set creating instruments with meter or, when meter is nil (metrics
// off), with a no-op meter named scope.
func New(meter metric.Meter, scope string) *Set {
	if meter == nil {
		meter = noop.NewMeterProvider().Meter(scope)
	}
	return &Set{meter: meter}
}

// Meter is the meter of the Set, for instruments it does not make (observable gauges).
func (s *Set) Meter() metric.Meter { return s.meter }

// Add records the error of an instrument made with Meter.
func (s *Set) Add(err error) {
	if err != nil {
		s.errs = append(s.errs, err)
	}
}

// Counter returns an int64 counter.
func (s *Set) Counter(name, unit, desc string) metric.Int64Counter {
	c, err := s.meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	s.Add(err)
	return c
}

// SecondsBuckets are the bucket boundaries of a histogram in seconds made without its
// own: the SDK's default boundaries (0 to 10,000) suit milliseconds, and would put
// every observation in seconds in the first bucket.
var SecondsBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Histogram returns a float64 histogram, with the given bucket boundaries, or
// SecondsBuckets for a histogram in seconds ("s") given none.
func (s *Set) Histogram(name, unit, desc string, bounds ...float64) metric.Float64Histogram {
	opts := []metric.Float64HistogramOption{metric.WithUnit(unit), metric.WithDescription(desc)}
	if len(bounds) == 0 && unit == "s" {
		bounds = SecondsBuckets
	}
	if len(bounds) > 0 {
		opts = append(opts, metric.WithExplicitBucketBoundaries(bounds...))
	}
	h, err := s.meter.Float64Histogram(name, opts...)
	s.Add(err)
	return h
}

// Int64Histogram returns an int64 histogram, with the given bucket boundaries if any.
func (s *Set) Int64Histogram(name, unit, desc string, bounds ...float64) metric.Int64Histogram {
	opts := []metric.Int64HistogramOption{metric.WithUnit(unit), metric.WithDescription(desc)}
	if len(bounds) > 0 {
		opts = append(opts, metric.WithExplicitBucketBoundaries(bounds...))
	}
	h, err := s.meter.Int64Histogram(name, opts...)
	s.Add(err)
	return h
}

// Err returns every error so far, as "create <what> metrics: ...", or nil.
func (s *Set) Err(what string) error {
	if err := errors.Join(s.errs...); err != nil {
		return fmt.Errorf("create %s metrics: %w", what, err)
	}
	return nil
}
