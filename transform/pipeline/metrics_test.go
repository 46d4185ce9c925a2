package pipeline

import (
	"context"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline/grok"
)

// TestGrokFallbackMetric: sluice_grok_fallbacks_total counts, per grok processor, the
// events regexp matched instead of the compiled matcher: a line over the matcher's
// step budget, and every line of an expression the matcher cannot compile.
func TestGrokFallbackMetric(t *testing.T) {
	const budgeted = `%{DATA:a} %{DATA:b} %{DATA:c} %{DATA:d}X`
	const regexpOnly = `^(?:x*)*%{WORD:w}` // an empty loop: regexp alone runs it
	if p, err := grok.Compile(regexpOnly, nil); err != nil || p.Fast() {
		t.Fatalf("precondition: %s should compile for regexp only (err %v)", regexpOnly, err)
	}
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")
	p := buildOne(t, `
processors:
  - grok: {tag: budgeted, field: message, patterns: ['`+budgeted+`'], ignore_failure: true}
  - grok: {tag: regexp-only, field: message, patterns: ['`+regexpOnly+`'], ignore_failure: true}
`, Deps{Meter: meter})
	for _, line := range []string{"a b c dX", "a b c dX", strings.Repeat(" ", 5000)} {
		e := &event.Event{Fields: map[string]any{"message": line}}
		if err := p.Process(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "sluice_grok_fallbacks_total" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				pl, _ := dp.Attributes.Value("pipeline")
				proc, _ := dp.Attributes.Value("processor")
				tag, _ := dp.Attributes.Value("tag")
				got[pl.AsString()+"|"+proc.AsString()+"|"+tag.AsString()] = dp.Value
			}
		}
	}
	want := map[string]int64{
		"test|processors[0]|budgeted":    1, // the 5000 spaces only
		"test|processors[1]|regexp-only": 3, // every line
	}
	if len(got) != len(want) {
		t.Errorf("data points %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
