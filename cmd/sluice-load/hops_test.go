package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHistogramQuantile: linear within the bucket that holds the rank, the largest
// finite bound for a rank in +Inf, NaN without observations.
func TestHistogramQuantile(t *testing.T) {
	b := map[float64]float64{0.1: 10, 0.5: 90, 1: 100, math.Inf(1): 100}
	for _, c := range []struct{ q, want float64 }{{0.05, 0.05}, {0.5, 0.3}, {0.9, 0.5}, {0.99, 0.95}} {
		if got := histogramQuantile(c.q, b); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q%.2f = %g, want %g", c.q, got, c.want)
		}
	}
	if got := histogramQuantile(0.99, map[float64]float64{1: 1, math.Inf(1): 3}); got != 1 {
		t.Errorf("rank in +Inf: %g, want the largest finite bound 1", got)
	}
	if got := histogramQuantile(0.5, map[float64]float64{math.Inf(1): 0}); !math.IsNaN(got) {
		t.Errorf("no observations: %g, want NaN", got)
	}
}

// TestReadHops: a hop's histogram is summed over label sets and over the endpoints
// (gateway and transformer); hops without observations are left out.
func TestReadHops(t *testing.T) {
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`# TYPE sluice_gateway_ingest_duration_seconds histogram
sluice_gateway_ingest_duration_seconds_bucket{outcome="ok",receiver="lumberjack",le="0.05"} 2
sluice_gateway_ingest_duration_seconds_bucket{outcome="ok",receiver="lumberjack",le="0.1"} 4
sluice_gateway_ingest_duration_seconds_bucket{outcome="ok",receiver="lumberjack",le="+Inf"} 4
sluice_gateway_ingest_duration_seconds_sum{outcome="ok",receiver="lumberjack"} 0.3
sluice_gateway_ingest_duration_seconds_count{outcome="ok",receiver="lumberjack"} 4
sluice_gateway_ingest_duration_seconds_bucket{outcome="error",receiver="http",le="0.05"} 0
sluice_gateway_ingest_duration_seconds_bucket{outcome="error",receiver="http",le="0.1"} 0
sluice_gateway_ingest_duration_seconds_bucket{outcome="error",receiver="http",le="+Inf"} 0
sluice_gateway_ingest_duration_seconds_sum{outcome="error",receiver="http"} 0
sluice_gateway_ingest_duration_seconds_count{outcome="error",receiver="http"} 0
`))
	}))
	defer gateway.Close()
	transformer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`sluice_transform_delivery_delay_seconds_bucket{le="1"} 1
sluice_transform_delivery_delay_seconds_bucket{le="2"} 2
sluice_transform_delivery_delay_seconds_bucket{le="+Inf"} 2
sluice_transform_delivery_delay_seconds_sum 2.5
sluice_transform_delivery_delay_seconds_count 2
`))
	}))
	defer transformer.Close()
	hops, err := readHops(context.Background(), []string{gateway.URL, transformer.URL})
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) != 2 || hops[0].Metric != "sluice_gateway_ingest_duration_seconds" || hops[1].Metric != "sluice_transform_delivery_delay_seconds" {
		t.Fatalf("hops %+v, want the gateway's ingest and the delivery delay, in the chain's order", hops)
	}
	if g := hops[0]; g.Count != 4 || math.Abs(g.MeanMs-75) > 1e-9 || math.Abs(g.P50Ms-50) > 1e-9 {
		t.Errorf("gateway ingest %+v, want 4 observations, mean 75 ms, p50 50 ms", g)
	}
	if d := hops[1]; d.Count != 2 || math.Abs(d.MeanMs-1250) > 1e-9 || math.Abs(d.P99Ms-1980) > 1e-9 {
		t.Errorf("delivery %+v, want 2 observations, mean 1250 ms, p99 1980 ms", d)
	}
}
