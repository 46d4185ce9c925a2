package instruments

import (
	"context"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Instruments of a Set record through its meter; a bad instrument is reported by Err,
// named, and the others still work; a nil meter gives working no-op instruments.
func TestSet(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	in := New(mp.Meter("test"), "test")
	c := in.Counter("sluice_test_total", "{event}", "Events.")
	h := in.Histogram("sluice_test_seconds", "s", "Durations.", 0.1, 1)
	unbounded := in.Histogram("sluice_test_unbounded_seconds", "s", "Durations, no bounds given.")
	if err := in.Err("test"); err != nil {
		t.Fatalf("Err = %v for valid instruments", err)
	}
	in.Counter("not a valid name!", "{event}", "Refused by the SDK.")
	if err := in.Err("test"); err == nil || !strings.Contains(err.Error(), "create test metrics") {
		t.Errorf("Err = %v, want the bad instrument reported", err)
	}
	c.Add(context.Background(), 3)
	h.Record(context.Background(), 0.5)
	unbounded.Record(context.Background(), 0.2)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				got[m.Name] = len(d.DataPoints) == 1 && d.DataPoints[0].Value == 3
			case metricdata.Histogram[float64]:
				want := 2
				if m.Name == "sluice_test_unbounded_seconds" {
					want = len(SecondsBuckets) // not the SDK's default, made for milliseconds
				}
				got[m.Name] = len(d.DataPoints) == 1 && d.DataPoints[0].Count == 1 && len(d.DataPoints[0].Bounds) == want
			}
		}
	}
	if !got["sluice_test_total"] || !got["sluice_test_seconds"] || !got["sluice_test_unbounded_seconds"] {
		t.Errorf("recorded %v, want the counter at 3 and one histogram value in 2 bounds", got)
	}

	off := New(nil, "test")
	off.Counter("sluice_test_total", "{event}", "Events.").Add(context.Background(), 1)
	if err := off.Err("test"); err != nil {
		t.Errorf("no-op Set: Err = %v", err)
	}
}
