package console

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// testMetrics registers metrics named as the roles' own, in a registry of their own.
type testMetrics struct {
	reg      *prometheus.Registry
	in       *prometheus.CounterVec
	out      *prometheus.CounterVec
	ack      *prometheus.HistogramVec
	backlog  prometheus.Gauge
	behindMs *prometheus.GaugeVec
}

func newTestMetrics(t testing.TB) *testMetrics {
	t.Helper()
	m := &testMetrics{reg: prometheus.NewRegistry(),
		in:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_gateway_events_received_total"}, []string{"receiver", "type"}),
		out:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_transform_events_total"}, []string{"type"}),
		ack:      prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_gateway_ingest_duration_seconds", Buckets: []float64{0.01, 0.1, 1}}, []string{"receiver", "outcome"}),
		backlog:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_stream_used_bytes"}),
		behindMs: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_consumer_millis_behind_latest_milliseconds"}, []string{"stream", "shard"}),
	}
	m.reg.MustRegister(m.in, m.out, m.ack, m.backlog, m.behindMs)
	return m
}

// find returns the series of a name and labels in v.
func find(t *testing.T, v FlowView, name string, labels map[string]string) SeriesView {
	t.Helper()
next:
	for _, s := range v.Series {
		if s.Name != name || len(s.Labels) != len(labels) {
			continue
		}
		for k, want := range labels {
			if s.Labels[k] != want {
				continue next
			}
		}
		return s
	}
	t.Fatalf("no series %s %v in %+v", name, labels, v.Series)
	return SeriesView{}
}

func value(t *testing.T, s SeriesView, i int) float64 {
	t.Helper()
	if s.Values[i] == nil {
		return math.NaN()
	}
	return *s.Values[i]
}

// TestFlowRatesAndTotals: counters become rates per second between samples, split by
// the series' labels (the others summed), with the count since start.
func TestFlowRatesAndTotals(t *testing.T) {
	m := newTestMetrics(t)
	f, err := NewFlow(m.reg, time.Second, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	m.in.WithLabelValues("http", "fw").Add(10)
	f.Sample(t0)
	m.in.WithLabelValues("http", "fw").Add(20)
	m.in.WithLabelValues("lumberjack", "fw").Add(4)
	m.out.WithLabelValues("fw").Add(30)
	f.Sample(t0.Add(2 * time.Second))
	v := f.View()
	if len(v.Times) != 2 || v.IntervalSeconds != 1 || v.WindowSeconds != 10 {
		t.Fatalf("times %v, interval %v, window %v", v.Times, v.IntervalSeconds, v.WindowSeconds)
	}
	http := find(t, v, "in", map[string]string{"receiver": "http", "type": "fw"})
	if !math.IsNaN(value(t, http, 0)) || value(t, http, 1) != 10 || *http.Total != 30 {
		t.Errorf("http in: values %v, %v, total %v: want unknown, 10/s, 30", value(t, http, 0), value(t, http, 1), *http.Total)
	}
	lj := find(t, v, "in", map[string]string{"receiver": "lumberjack", "type": "fw"})
	if !math.IsNaN(value(t, lj, 1)) || *lj.Total != 4 {
		t.Errorf("a series first seen has no rate yet: %v, total %v", value(t, lj, 1), *lj.Total)
	}
	out := find(t, v, "out", map[string]string{"type": "fw"})
	if *out.Total != 30 {
		t.Errorf("out total %v", *out.Total)
	}
}

// TestFlowGaugesAndQuantiles: gauges are read as they are (the iterator age from
// milliseconds to seconds), and the acknowledgement latency is a quantile of the
// observations between samples, over every outcome.
func TestFlowGaugesAndQuantiles(t *testing.T) {
	m := newTestMetrics(t)
	f, err := NewFlow(m.reg, time.Second, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	m.ack.WithLabelValues("http", "ok").Observe(0.5) // before the first sample: not in the window
	f.Sample(t0)
	for range 98 {
		m.ack.WithLabelValues("http", "ok").Observe(0.005)
	}
	m.ack.WithLabelValues("http", "unavailable").Observe(0.5)
	m.ack.WithLabelValues("http", "ok").Observe(5)
	m.backlog.Set(4096)
	m.behindMs.WithLabelValues("s", "shard-0").Set(1500)
	f.Sample(t0.Add(time.Second))
	v := f.View()
	if p50 := value(t, find(t, v, "ack_p50", map[string]string{"receiver": "http"}), 1); p50 <= 0 || p50 > 0.01 {
		t.Errorf("p50 %v: want within the first bucket (0, 0.01]", p50)
	}
	if p99 := value(t, find(t, v, "ack_p99", map[string]string{"receiver": "http"}), 1); p99 < 0.1 || p99 > 1 {
		t.Errorf("p99 %v: want in the bucket (0.1, 1]", p99)
	}
	if b := value(t, find(t, v, "backlog", map[string]string{}), 1); b != 4096 {
		t.Errorf("backlog %v", b)
	}
	if a := value(t, find(t, v, "iterator_age", map[string]string{"stream": "s", "shard": "shard-0"}), 1); a != 1.5 {
		t.Errorf("iterator age %v s, want 1.5", a)
	}
	f.Sample(t0.Add(2 * time.Second)) // no observations: unknown, not zero
	if p := value(t, find(t, f.View(), "ack_p99", map[string]string{"receiver": "http"}), 2); !math.IsNaN(p) {
		t.Errorf("p99 of no observations %v, want unknown", p)
	}
}

// TestFlowWindow: the view keeps the last window of samples, oldest first.
func TestFlowWindow(t *testing.T) {
	m := newTestMetrics(t)
	f, err := NewFlow(m.reg, time.Second, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 5 {
		m.backlog.Set(float64(i))
		f.Sample(t0.Add(time.Duration(i) * time.Second))
	}
	v := f.View()
	if len(v.Times) != 3 || !v.Times[0].Equal(t0.Add(2*time.Second)) || !v.Times[2].Equal(t0.Add(4*time.Second)) {
		t.Fatalf("times %v", v.Times)
	}
	s := find(t, v, "backlog", map[string]string{})
	if value(t, s, 0) != 2 || value(t, s, 2) != 4 {
		t.Errorf("values %v %v %v", value(t, s, 0), value(t, s, 1), value(t, s, 2))
	}
	if _, err := NewFlow(m.reg, time.Minute, time.Second); err == nil {
		t.Error("a window shorter than the interval is accepted")
	}
}

// TestFlowRun samples at once and stops with its context.
func TestFlowRun(t *testing.T) {
	m := newTestMetrics(t)
	f, err := NewFlow(m.reg, time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.View().Times) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run took no sample")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkFlowSample is one sample of the Flow view over a registry of a busy
// process's size: 50 log types by 4 receivers in and out, 64 shards' iterator ages and
// 4 receivers' latency histograms. The console takes one every ui.sample_interval (5s).
//
//	go test -run '^$' -bench FlowSample -cpu 1 ./internal/console/
func BenchmarkFlowSample(b *testing.B) {
	m := newTestMetrics(b)
	for ty := range 50 {
		for _, r := range []string{"http", "lumberjack", "grpc", "syslog"} {
			m.in.WithLabelValues(r, fmt.Sprint("type-", ty)).Add(1)
			m.ack.WithLabelValues(r, "ok").Observe(0.01)
		}
		m.out.WithLabelValues(fmt.Sprint("type-", ty)).Add(1)
	}
	for sh := range 64 {
		m.behindMs.WithLabelValues("s", fmt.Sprint("shard-", sh)).Set(10)
	}
	f, err := NewFlow(m.reg, 5*time.Second, 15*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(5 * time.Second)
		f.Sample(now)
	}
}
