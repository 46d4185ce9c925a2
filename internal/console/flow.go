package console

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The kinds of a flow series: how it is computed from its metric at each sample.
const (
	kindRate     = iota // a counter: its increase per second since the last sample
	kindGauge           // a gauge: its value
	kindQuantile        // a histogram: a quantile of the observations since the last sample
)

// seriesSpec is one kind of series of the Flow view: a metric of the process, the
// labels it is split by (the others summed), and how it is computed.
type seriesSpec struct {
	name, metric string
	kind         int
	quantile     float64
	labels       []string
	scale        float64 // the metric's value times scale (0: 1)
	unit         string
}

// flowSeries are the series the Flow view shows, from the metrics of every role (a
// role without a metric has none of its series).
var flowSeries = []seriesSpec{
	{name: "in", metric: "sluice_gateway_events_received_total", kind: kindRate, labels: []string{"receiver", "type"}, unit: "events/s"},
	{name: "rejected", metric: "sluice_gateway_events_rejected_total", kind: kindRate, labels: []string{"receiver", "type", "reason"}, unit: "events/s"},
	{name: "out", metric: "sluice_transform_events_total", kind: kindRate, labels: []string{"type"}, unit: "events/s"},
	{name: "failed", metric: "sluice_pipeline_failures_total", kind: kindRate, labels: []string{"pipeline"}, unit: "events/s"},
	{name: "dead_letters", metric: "sluice_transform_dead_letters_total", kind: kindRate, unit: "records/s"},
	{name: "ack_p50", metric: "sluice_gateway_ingest_duration_seconds", kind: kindQuantile, quantile: 0.5, labels: []string{"receiver"}, unit: "s"},
	{name: "ack_p99", metric: "sluice_gateway_ingest_duration_seconds", kind: kindQuantile, quantile: 0.99, labels: []string{"receiver"}, unit: "s"},
	{name: "backlog", metric: "sluice_stream_used_bytes", kind: kindGauge, unit: "bytes"},
	{name: "oldest_record_age", metric: "sluice_stream_oldest_record_age_seconds", kind: kindGauge, unit: "s"},
	{name: "iterator_age", metric: "sluice_consumer_millis_behind_latest_milliseconds", kind: kindGauge, labels: []string{"stream", "shard"}, scale: 0.001, unit: "s"},
}

// maxSeries bounds the series Flow keeps (label values are bounded by the metrics'
// own limits, such as the gateway's on log types; this is the console's).
const maxSeries = 2000

// Flow samples the process's own metrics at a fixed interval and keeps the last
// window of them: events in and out per log type and receiver, failures, the
// gateway's acknowledgement latency, the stream's backlog and the consumer's iterator
// age per shard. Run samples until its context ends; View reads. Safe for concurrent
// use.
type Flow struct {
	gather prometheus.Gatherer
	every  time.Duration
	keep   int

	mu     sync.Mutex
	times  []time.Time // ring of keep, oldest at next when full
	next   int
	full   bool
	series map[string]*series
	order  []string // series keys in the order they appeared
	// previous cumulative values, per series key: counters' values, histograms' buckets
	prevCount map[string]float64
	prevHist  map[string]hist
	prevTime  time.Time
}

// series is one kept series.
type series struct {
	spec   *seriesSpec
	labels map[string]string
	values []float64 // ring of keep, aligned with Flow.times; NaN: unknown
	total  float64   // counters: the latest cumulative value
}

// hist is a histogram's cumulative buckets: upper bounds and counts.
type hist struct {
	bounds []float64
	counts []float64
}

// NewFlow returns a Flow sampling gather every interval and keeping window of samples.
func NewFlow(gather prometheus.Gatherer, interval, window time.Duration) (*Flow, error) {
	if interval <= 0 || window < interval {
		return nil, fmt.Errorf("flow: interval %v and window %v: want 0 < interval <= window", interval, window)
	}
	keep := int(window / interval)
	return &Flow{gather: gather, every: interval, keep: keep, times: make([]time.Time, keep),
		series: map[string]*series{}, prevCount: map[string]float64{}, prevHist: map[string]hist{}}, nil
}

// Run samples at once and then every interval until ctx ends; it returns nil then.
func (f *Flow) Run(ctx context.Context) error {
	f.Sample(time.Now())
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			f.Sample(now)
		}
	}
}

// Sample gathers the metrics and appends one point at now to every series.
func (f *Flow) Sample(now time.Time) {
	families, _ := f.gather.Gather() // a family that failed is missing: its series read unknown
	counts, hists, gauges := current(families)
	f.mu.Lock()
	defer f.mu.Unlock()
	slot := f.next
	f.times[slot] = now
	f.next = (f.next + 1) % f.keep
	f.full = f.full || f.next == 0
	for _, s := range f.series {
		s.values[slot] = math.NaN()
	}
	elapsed := now.Sub(f.prevTime).Seconds()
	for i := range flowSeries {
		spec := &flowSeries[i]
		switch spec.kind {
		case kindRate:
			for key, c := range counts[spec.metric] {
				s := f.get(spec, key, c.labels, slot)
				if s == nil {
					continue
				}
				prev, seen := f.prevCount[spec.name+key]
				f.prevCount[spec.name+key] = c.value
				s.total = c.value
				if !seen || f.prevTime.IsZero() || elapsed <= 0 {
					continue
				}
				inc := c.value - prev
				if inc < 0 { // the counter started again
					inc = c.value
				}
				s.values[slot] = inc / elapsed
			}
		case kindGauge:
			for key, g := range gauges[spec.metric] {
				if s := f.get(spec, key, g.labels, slot); s != nil {
					s.values[slot] = g.value * scaleOf(spec)
				}
			}
		case kindQuantile:
			for key, h := range hists[spec.metric] {
				s := f.get(spec, key, h.labels, slot)
				if s == nil {
					continue
				}
				prev, seen := f.prevHist[spec.name+key]
				f.prevHist[spec.name+key] = h.hist
				if seen {
					s.values[slot] = quantile(spec.quantile, h.hist, prev)
				}
			}
		}
	}
	f.prevTime = now
}

func scaleOf(spec *seriesSpec) float64 {
	if spec.scale == 0 {
		return 1
	}
	return spec.scale
}

// get returns the series of spec with the labels of key, made when new (nil past
// maxSeries).
func (f *Flow) get(spec *seriesSpec, key string, labels map[string]string, slot int) *series {
	full := spec.name + key
	if s := f.series[full]; s != nil {
		return s
	}
	if len(f.series) >= maxSeries {
		return nil
	}
	s := &series{spec: spec, labels: labels, values: make([]float64, f.keep)}
	for i := range s.values {
		s.values[i] = math.NaN()
	}
	f.series[full] = s
	f.order = append(f.order, full)
	return s
}

// labelled is one value of a metric, with the labels a series keeps.
type labelled[T any] struct {
	labels map[string]string
	value  T
}

// histValue is a histogram's buckets with the labels a series keeps.
type histValue struct {
	labels map[string]string
	hist   hist
}

// current reads the families the flow series use, summed by each series' labels:
// counters and gauges by metric, then series key.
func current(families []*dto.MetricFamily) (counts map[string]map[string]labelled[float64], hists map[string]map[string]histValue, gauges map[string]map[string]labelled[float64]) {
	counts, hists, gauges = map[string]map[string]labelled[float64]{}, map[string]map[string]histValue{}, map[string]map[string]labelled[float64]{}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range families {
		byName[mf.GetName()] = mf
	}
	for i := range flowSeries {
		spec := &flowSeries[i]
		mf := byName[spec.metric]
		if mf == nil {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				if slices.Contains(spec.labels, lp.GetName()) {
					labels[lp.GetName()] = lp.GetValue()
				}
			}
			key := seriesKey(labels)
			switch spec.kind {
			case kindRate, kindGauge:
				var v float64
				switch {
				case m.Counter != nil:
					v = m.Counter.GetValue()
				case m.Gauge != nil:
					v = m.Gauge.GetValue()
				default:
					continue
				}
				into := counts
				if spec.kind == kindGauge {
					into = gauges
				}
				if into[spec.metric] == nil {
					into[spec.metric] = map[string]labelled[float64]{}
				}
				l := into[spec.metric][key]
				l.labels, l.value = labels, l.value+v
				into[spec.metric][key] = l
			case kindQuantile:
				h := m.GetHistogram()
				if h == nil {
					continue
				}
				if hists[spec.metric] == nil {
					hists[spec.metric] = map[string]histValue{}
				}
				hv := hists[spec.metric][key]
				hv.labels = labels
				hv.hist = addHist(hv.hist, h)
				hists[spec.metric][key] = hv
			}
		}
	}
	return counts, hists, gauges
}

// addHist adds a histogram's cumulative buckets to acc (same bounds: one metric's).
func addHist(acc hist, h *dto.Histogram) hist {
	buckets := h.GetBucket()
	if acc.bounds == nil {
		acc.bounds = make([]float64, 0, len(buckets)+1)
		acc.counts = make([]float64, len(buckets)+1)
		for _, b := range buckets {
			acc.bounds = append(acc.bounds, b.GetUpperBound())
		}
		acc.bounds = append(acc.bounds, math.Inf(1))
	}
	for i, b := range buckets {
		if i < len(acc.counts) {
			acc.counts[i] += float64(b.GetCumulativeCount())
		}
	}
	acc.counts[len(acc.counts)-1] += float64(h.GetSampleCount())
	return acc
}

// quantile estimates the q quantile of the observations between prev and cur (NaN
// without any), interpolating linearly within the bucket it falls in; in the last,
// unbounded bucket it is that bucket's lower bound.
func quantile(q float64, cur, prev hist) float64 {
	if len(cur.counts) == 0 || len(prev.counts) != len(cur.counts) {
		return math.NaN()
	}
	n := len(cur.counts)
	total := cur.counts[n-1] - prev.counts[n-1]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i := range cur.counts {
		c := cur.counts[i] - prev.counts[i]
		if c >= rank {
			upper := cur.bounds[i]
			if math.IsInf(upper, 1) || c == below {
				return lower
			}
			return lower + (upper-lower)*(rank-below)/(c-below)
		}
		lower, below = cur.bounds[i], c
	}
	return lower
}

// seriesKey names a series' labels: "{a=x,b=y}" in label order, "" without labels.
func seriesKey(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// FlowView is the Flow's window: the sample times, oldest first, and each series'
// values at those times.
type FlowView struct {
	IntervalSeconds float64      `json:"interval_seconds"`
	WindowSeconds   float64      `json:"window_seconds"`
	Times           []time.Time  `json:"times"`
	Series          []SeriesView `json:"series"`
}

// SeriesView is one series of a FlowView.
type SeriesView struct {
	// Name is the series kind: in, rejected, out, failed, dead_letters, ack_p50,
	// ack_p99, backlog, oldest_record_age, iterator_age.
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Unit   string            `json:"unit"`
	// Total is a counter's count since the process started (rates only).
	Total *float64 `json:"total,omitempty"`
	// Values per time of the view; null where unknown (before the series existed, or
	// a quantile of no observations).
	Values []*float64 `json:"values"`
}

// View returns the window.
func (f *Flow) View() FlowView {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := FlowView{IntervalSeconds: f.every.Seconds(), WindowSeconds: (time.Duration(f.keep) * f.every).Seconds(), Times: []time.Time{}, Series: []SeriesView{}}
	start, n := 0, f.next
	if f.full {
		start, n = f.next, f.keep
	}
	for i := range n {
		v.Times = append(v.Times, f.times[(start+i)%f.keep])
	}
	for _, key := range f.order {
		s := f.series[key]
		sv := SeriesView{Name: s.spec.name, Labels: s.labels, Unit: s.spec.unit, Values: make([]*float64, n)}
		if s.spec.kind == kindRate {
			total := s.total
			sv.Total = &total
		}
		for i := range n {
			if x := s.values[(start+i)%f.keep]; !math.IsNaN(x) && !math.IsInf(x, 0) {
				sv.Values[i] = &x
			}
		}
		v.Series = append(v.Series, sv)
	}
	return v
}
