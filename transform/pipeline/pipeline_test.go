package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

var received = time.Date(2026, 11, 26, 7, 0, 5, 0, time.UTC)

// buildOne compiles one pipeline from its YAML (a Config).
func buildOne(t testing.TB, src string, deps Deps) *Pipeline {
	t.Helper()
	var cfg Config
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	set, err := Build(map[string]Config{"test": cfg}, deps)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return set.Get("test")
}

// doc decodes a JSON document as the transformer does (numbers as json.Number).
func doc(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

// canonical renders a document as JSON with sorted keys, for comparisons.
func canonical(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func runDoc(t testing.TB, p *Pipeline, in string) *event.Event {
	t.Helper()
	e := &event.Event{Type: "test", Received: received, Fields: doc(t, in)}
	if err := p.Process(context.Background(), e); err != nil {
		t.Fatalf("Process: %v", err)
	}
	return e
}

func wantDoc(t *testing.T, e *event.Event, want string) {
	t.Helper()
	if got, w := canonical(t, e.Fields), canonical(t, doc(t, want)); got != w {
		t.Errorf("document\n got %s\nwant %s", got, w)
	}
}

func TestIfConditions(t *testing.T) {
	p := buildOne(t, `
processors:
  - set: {field: a, value: yes, if: 'ctx.source?.ip != nil'}
  - set: {field: b, value: yes, if: 'num(ctx.http?.status) >= 500'}
  - set: {field: c, value: yes, if: 'cidr_match(ctx.source?.ip, "10.0.0.0/8", "192.168.0.0/16")'}
  - set: {field: d, value: yes, if: 'ctx.message matches "(?i)drop" && lower(ctx.message) startsWith "fw"'}
  - set: {field: e, value: yes, if: 'ctx["@timestamp"] == nil'}
`, Deps{})
	e := runDoc(t, p, `{"source":{"ip":"10.1.2.3"},"http":{"status":503},"message":"FW DROP"}`)
	wantDoc(t, e, `{"source":{"ip":"10.1.2.3"},"http":{"status":503},"message":"FW DROP","a":"yes","b":"yes","c":"yes","d":"yes","e":"yes"}`)
	e = runDoc(t, p, `{"http":{"status":200},"message":"x","@timestamp":"t"}`)
	wantDoc(t, e, `{"http":{"status":200},"message":"x","@timestamp":"t"}`)
}

// An `if` that errors (reading a field of a missing object without ?.) is a failure
// of its processor.
func TestIfErrorIsAFailure(t *testing.T) {
	p := buildOne(t, `
processors:
  - set: {field: a, value: yes, if: 'ctx.source.ip == "x"'}
`, Deps{})
	e := runDoc(t, p, `{"message":"m"}`)
	msg, _ := e.GetString("error.message")
	if !strings.Contains(msg, "pipeline test: processors[0] (set): if:") || !hasTag(e, FailureTag) {
		t.Fatalf("got %v", e.Fields)
	}
}

func hasTag(e *event.Event, tag string) bool {
	tags, _ := e.Fields["tags"].([]any)
	for _, x := range tags {
		if x == tag {
			return true
		}
	}
	return false
}

// The default failure handling keeps the event, stops the pipeline, sets
// error.message naming pipeline, processor, kind and field, and tags the event.
func TestDefaultFailureHandling(t *testing.T) {
	p := buildOne(t, `
processors:
  - set: {field: before, value: 1}
  - grok: {field: message, patterns: ['^%{INT:n:int}$'], tag: parse-n}
  - set: {field: after, value: 1}
`, Deps{})
	e := runDoc(t, p, `{"message":"abc","tags":"existing"}`)
	wantDoc(t, e, `{"message":"abc","before":1,"tags":["existing","_sluice_parse_failure"],
		"error":{"message":"pipeline test: processors[1] (grok parse-n): field message: no grok pattern matched"}}`)
	if p.failures.Load() != 1 || p.steps[1].failures.Load() != 1 || p.steps[2].events.Load() != 0 {
		t.Errorf("counters: pipeline failures %d, grok failures %d, after ran %d", p.failures.Load(), p.steps[1].failures.Load(), p.steps[2].events.Load())
	}
}

func TestProcessorOnFailureAndIgnoreFailure(t *testing.T) {
	p := buildOne(t, `
processors:
  - rename: {field: nope, target_field: x, ignore_failure: true}
  - convert:
      field: port
      type: integer
      on_failure:
        - set: {field: port_error, value: '{{_ingest.on_failure_message}} ({{_ingest.on_failure_processor_type}} at {{_ingest.on_failure_processor}})'}
        - remove: {field: port}
  - set: {field: after, value: ran, if: 'ctx._ingest == nil'}
`, Deps{})
	e := runDoc(t, p, `{"port":"http"}`)
	wantDoc(t, e, `{"port_error":"field port: cannot convert \"http\" to an integer (convert at processors[1])","after":"ran"}`)
	if hasTag(e, FailureTag) {
		t.Error("a handled failure tagged the event")
	}
}

func TestPipelineOnFailure(t *testing.T) {
	p := buildOne(t, `
processors:
  - json: {field: message, target_field: parsed}
  - set: {field: never, value: 1}
on_failure:
  - set: {field: event.kind, value: pipeline_error}
  - append: {field: tags, value: ['json_failed', '{{_ingest.on_failure_processor_type}}']}
`, Deps{})
	e := runDoc(t, p, `{"message":"{not json"}`)
	wantDoc(t, e, `{"message":"{not json","event":{"kind":"pipeline_error"},"tags":["json_failed","json"]}`)

	// A failing handler falls back to the default handling, with both errors.
	p = buildOne(t, `
processors:
  - json: {field: message}
on_failure:
  - rename: {field: missing, target_field: x}
`, Deps{})
	e = runDoc(t, p, `{"message":"{"}`)
	msg, _ := e.GetString("error.message")
	if !strings.Contains(msg, "processors[0] (json)") || !strings.Contains(msg, "then on_failure: pipeline test: on_failure[0] (rename): field missing: not found") {
		t.Errorf("error.message = %q", msg)
	}
}

func TestDropAndKeepOriginal(t *testing.T) {
	p := buildOne(t, `
keep_original: true
processors:
  - drop: {if: 'ctx.message == "noise"'}
  - set: {field: message, value: changed}
`, Deps{})
	e := runDoc(t, p, `{"message":"noise"}`)
	if !e.Dropped {
		t.Error("not dropped")
	}
	e = runDoc(t, p, `{"message":"keep me"}`)
	wantDoc(t, e, `{"message":"changed","event":{"original":"keep me"}}`)
	if e.Dropped || p.dropped.Load() != 1 {
		t.Errorf("dropped %v, count %d", e.Dropped, p.dropped.Load())
	}
}

// panicky is an enrichment processor that panics, to prove a panic is a failure.
type panicky struct{}

func (panicky) Process(context.Context, *event.Event) error { panic("boom") }

// panickyGeoip builds geoip as panicky.
var panickyGeoip = Deps{Enrich: func(kind string, node *yaml.Node) (event.Processor, bool, error) {
	if kind != "geoip" {
		return nil, false, nil
	}
	return panicky{}, true, nil
}}

func TestPanicIsAFailure(t *testing.T) {
	p := buildOne(t, `
processors:
  - geoip: {field: source.ip}
`, panickyGeoip)
	e := runDoc(t, p, `{"source":{"ip":"1.2.3.4"}}`)
	msg, _ := e.GetString("error.message")
	if msg != "pipeline test: processors[0] (geoip): panic: boom" || !hasTag(e, FailureTag) {
		t.Fatalf("got %v", e.Fields)
	}
}

// TestPanicHandledGoesOn: a panic is the failure of its step alone, so ignore_failure
// and on_failure handle it as any other and the steps after it run, in a group and
// out of one; a second panic in the same run is caught as the first was.
func TestPanicHandledGoesOn(t *testing.T) {
	p := buildOne(t, `
processors:
  - set: {field: a, value: 1}
  - geoip: {field: source.ip, ignore_failure: true}
  - set: {field: b, value: 2}
  - geoip: {field: source.ip, on_failure: [set: {field: handled, value: '{{_ingest.on_failure_message}}'}]}
  - group:
      processors:
        - geoip: {field: source.ip, ignore_failure: true}
        - set: {field: c, value: 3}
        - geoip: {field: source.ip}
        - set: {field: never, value: 4}
      on_failure: [set: {field: group_handled, value: true}]
  - set: {field: d, value: 5}
`, panickyGeoip)
	e := runDoc(t, p, `{"source":{"ip":"1.2.3.4"}}`)
	wantDoc(t, e, `{"source":{"ip":"1.2.3.4"},"a":1,"b":2,"handled":"panic: boom","c":3,"group_handled":true,"d":5}`)
}

// TestValidationReportsEverything: every problem of every pipeline at once, each
// with its path, and lines where known.
func TestValidationReportsEverything(t *testing.T) {
	var cfgs map[string]Config
	src := `
firewall:
  processors:
    - grok: {field: message, patterns: ['%{NOPE:x}', '%{WORD:y:bool}'], colour: red}
    - date: {field: ts, formats: [ISO8601, 'yyyy-MM-dd qq'], timezone: Mars/Olympus}
    - frobnicate: {}
    - set: {field: a, if: 'ctx.a ==', value: 1, copy_from: b}
    - geoip: {field: source.ip}
    - convert: {field: x, type: ipv9, on_failure: []}
    - [not, an, object]
ids:
  processors: []
Bad_Name:
  processors:
    - drop: {}
`
	if err := yaml.Unmarshal([]byte(src), &cfgs); err != nil {
		t.Fatal(err)
	}
	_, err := Build(cfgs, Deps{})
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`pipelines.firewall.processors[0].grok.patterns[0]: unknown pattern %{NOPE} (line 4)`,
		`pipelines.firewall.processors[0].grok.patterns[1]: %{WORD:y:bool}: type "bool" is not int, long, float or double (line 4)`,
		`pipelines.firewall.processors[0].grok.colour: unknown option (options: field, patterns, pattern_definitions, ignore_missing, keep_empty_captures, and if, on_failure, ignore_failure, tag, description) (line 4)`,
		`pipelines.firewall.processors[1].date.formats[1]: "yyyy-MM-dd qq": pattern letter "q" is not supported (line 5)`,
		`pipelines.firewall.processors[1].date.timezone: unknown time zone "Mars/Olympus"`,
		`pipelines.firewall.processors[2].frobnicate: unknown processor kind "frobnicate"`,
		`pipelines.firewall.processors[3].set.if: `,
		`pipelines.firewall.processors[3].set.value: give exactly one of value, copy_from and expr`,
		`pipelines.firewall.processors[4].geoip: enrichment is not available in this process`,
		`pipelines.firewall.processors[5].convert.type: want integer, long, float, double, boolean, ip, mac, string or auto, not "ipv9"`,
		`pipelines.firewall.processors[5].convert.on_failure: an empty list handles nothing`,
		`pipelines.firewall.processors[6]: want an object with one key, the processor kind`,
		`pipelines.ids.processors: a pipeline needs at least one processor`,
		`pipelines.Bad_Name: "Bad_Name" is not a log type name`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing problem:\n  %s", w)
		}
	}
	if n := len(leafErrors(err)); n != len(want) {
		t.Errorf("%d problems, want %d:\n%s", n, len(want), got)
	}
}

func TestFailureUnwraps(t *testing.T) {
	inner := errors.New("inner")
	var err error = &Failure{Pipeline: "p", Processor: "processors[0]", Kind: "k", Err: inner}
	if !errors.Is(err, inner) {
		t.Error("Failure does not unwrap")
	}
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")
	p := buildOne(t, `
processors:
  - drop: {if: 'ctx.message == "drop"'}
  - json: {field: message}
`, Deps{Meter: meter})
	// Processor time is measured on one event in timeSample: run enough of them.
	for i := range 2 * timeSample {
		m := `{"a":1}`
		switch i {
		case 0:
			m = "drop"
		case 1:
			m = "bad"
		}
		e := &event.Event{Fields: map[string]any{"message": m}}
		_ = p.Process(context.Background(), e)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					proc, _ := dp.Attributes.Value("processor")
					got[m.Name+"|"+proc.AsString()] += float64(dp.Value)
				}
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					got[m.Name] += dp.Value
				}
			}
		}
	}
	for k, v := range map[string]float64{
		"sluice_pipeline_events_total|":                  2 * timeSample,
		"sluice_pipeline_failures_total|":                1,
		"sluice_pipeline_dropped_total|":                 1,
		"sluice_processor_events_total|processors[0]":    1,
		"sluice_processor_events_total|processors[1]":    2*timeSample - 1,
		"sluice_processor_failures_total|processors[1]":  1,
		"sluice_processor_failures_total|processors[0]":  0,
		"sluice_processor_events_total|processors[0]|x":  0,
		"sluice_processor_failures_total|processors[1]|": 0,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got["sluice_processor_seconds_total"] <= 0 {
		t.Error("no time recorded")
	}
}
