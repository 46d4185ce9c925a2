package transform_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform"
)

var (
	received = time.Date(2026, 11, 26, 7, 0, 0, 123456789, time.UTC)
	arrival  = time.Date(2026, 11, 26, 7, 0, 1, 0, time.UTC)
	clock    = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
)

// recordingSink is a transform.Sink that keeps a copy of every call's documents (a
// sink keeps nothing of them: the transformer reuses their memory), or fails with
// err.
type recordingSink struct {
	mu    sync.Mutex
	calls [][]sink.Document
	err   error
}

func (s *recordingSink) Write(_ context.Context, docs []sink.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := make([]sink.Document, len(docs))
	for i, d := range docs {
		d.Body = bytes.Clone(d.Body)
		kept[i] = d
	}
	s.calls = append(s.calls, kept)
	return s.err
}

func newTransformer(t testing.TB, s transform.Sink, opts transform.Options) *transform.Transformer {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return clock }
	}
	tr, err := transform.New(s, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

func envelope(typ, event string) []byte {
	return stream.AppendEnvelope(nil, typ, "", received, []byte(event))
}

func batch(data ...[]byte) stream.Batch {
	b := stream.Batch{Stream: "logs-firewall", Shard: "shard-0"}
	for i, d := range data {
		b.Records = append(b.Records, stream.Delivered{
			Record:   stream.Record{PartitionKey: "host-a", Data: d},
			Stream:   b.Stream,
			Shard:    b.Shard,
			Sequence: fmt.Sprint(1000 + i),
			Arrival:  arrival,
		})
	}
	return b
}

// handleOne transforms one record and returns its document.
func handleOne(t *testing.T, data []byte) sink.Document {
	t.Helper()
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{})
	if err := tr.Handle(context.Background(), batch(data)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if len(rs.calls) != 1 || len(rs.calls[0]) != 1 {
		t.Fatalf("sink calls = %v, want one call with one document", rs.calls)
	}
	return rs.calls[0][0]
}

// fields decodes a document body, keeping numbers exact.
func fields(t *testing.T, body []byte) map[string]any {
	t.Helper()
	if bytes.ContainsRune(body, '\n') {
		t.Errorf("body has a newline: %s", body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return m
}

func TestTimestamp(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  any
	}{
		{"added when absent", `{"message":"x"}`, "2026-11-26T07:00:00.123456789Z"},
		{"string kept", `{"@timestamp":"2026-01-02T03:04:05+01:00"}`, "2026-01-02T03:04:05+01:00"},
		{"unparseable kept", `{"@timestamp":"yesterday"}`, "yesterday"},
		{"number kept", `{"@timestamp":1764140400000}`, json.Number("1764140400000")},
		{"null kept", `{"@timestamp":null}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := handleOne(t, envelope("firewall", tt.event))
			got, ok := fields(t, doc.Body)["@timestamp"]
			if !ok || got != tt.want {
				t.Errorf("@timestamp = %#v (present %v), want %#v", got, ok, tt.want)
			}
		})
	}
}

func TestEventDataset(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  string // the body without @timestamp
	}{
		{"added when event absent", `{"a":1}`, `{"a":1,"event":{"dataset":"firewall"}}`},
		{"added into event object", `{"event":{"action":"deny","code":7}}`, `{"event":{"action":"deny","code":7,"dataset":"firewall"}}`},
		{"kept in event object", `{"event":{"dataset":"custom"}}`, `{"event":{"dataset":"custom"}}`},
		{"kept as flat key", `{"event.dataset":"custom"}`, `{"event.dataset":"custom"}`},
		{"flat key beside event object", `{"event.dataset":"custom","event":{"action":"deny"}}`, `{"event":{"action":"deny"},"event.dataset":"custom"}`},
		{"event is a string", `{"event":"login"}`, `{"event":"login"}`},
		{"event is an array", `{"event":[1,2]}`, `{"event":[1,2]}`},
		{"event is null", `{"event":null}`, `{"event":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := handleOne(t, envelope("firewall", tt.event))
			if doc.Type != "firewall" {
				t.Fatalf("type = %q, want firewall (not a dead letter): %s", doc.Type, doc.Body)
			}
			m := fields(t, doc.Body)
			delete(m, "@timestamp")
			got, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("body = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBodyKeepsValuesExactly(t *testing.T) {
	event := `{"big":12345678901234567890,"price":1.50,"neg":-0,"huge":1e400,"exp":2.5E-3,` +
		`"html":"<a href=\"x\">&amp;</a>","uni":"äß\u2028","nested":{"n":[1,2.0,{"x":null}]},"@timestamp":"2026-11-26T07:00:00Z"}`
	doc := handleOne(t, envelope("firewall", event))
	for _, want := range []string{
		`"big":12345678901234567890`, `"price":1.50`, `"neg":-0`, `"huge":1e400`, `"exp":2.5E-3`,
		`"html":"<a href=\"x\">&amp;</a>"`, `"nested":{"n":[1,2.0,{"x":null}]}`,
	} {
		if !bytes.Contains(doc.Body, []byte(want)) {
			t.Errorf("body %s does not contain %s", doc.Body, want)
		}
	}
	if bytes.HasSuffix(doc.Body, []byte("\n")) {
		t.Error("body ends in a newline")
	}
}

func TestDocumentTime(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  time.Time
	}{
		{"absent: received", `{}`, received},
		{"RFC 3339", `{"@timestamp":"2026-01-02T03:04:05Z"}`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"RFC 3339 nano with offset", `{"@timestamp":"2026-01-02T03:04:05.000000042+02:00"}`, time.Date(2026, 1, 2, 1, 4, 5, 42, time.UTC)},
		{"epoch millis", `{"@timestamp":1764140400123}`, time.Date(2025, 11, 26, 7, 0, 0, 123000000, time.UTC)},
		{"fractional epoch millis", `{"@timestamp":1764140400123.5}`, time.Date(2025, 11, 26, 7, 0, 0, 123500000, time.UTC)},
		{"epoch millis beyond year 9999: received", `{"@timestamp":253402300800000}`, received},
		{"huge number: received", `{"@timestamp":1e400}`, received},
		{"not a date: received", `{"@timestamp":"26/11/2026"}`, received},
		{"null: received", `{"@timestamp":null}`, received},
		{"object: received", `{"@timestamp":{"a":1}}`, received},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := handleOne(t, envelope("firewall", tt.event))
			if !doc.Time.Equal(tt.want) || doc.Time.Location() != time.UTC {
				t.Errorf("time = %v, want %v in UTC", doc.Time, tt.want)
			}
		})
	}
}

func TestReceivedMissingFallsBackToArrival(t *testing.T) {
	doc := handleOne(t, []byte(`{"v":1,"type":"firewall","event":{}}`))
	if !doc.Time.Equal(arrival) {
		t.Errorf("time = %v, want arrival %v", doc.Time, arrival)
	}
	if got := fields(t, doc.Body)["@timestamp"]; got != arrival.Format(time.RFC3339Nano) {
		t.Errorf("@timestamp = %v, want arrival", got)
	}
}

func TestDocumentTypeAndID(t *testing.T) {
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{})
	b := batch(envelope("firewall", `{"n":1}`), envelope("ids", `{"n":2}`))
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	docs := rs.calls[0]
	for i, want := range []struct{ typ, id string }{
		{"firewall", "logs-firewall/shard-0/1000"},
		{"ids", "logs-firewall/shard-0/1001"},
	} {
		if docs[i].Type != want.typ || docs[i].ID != want.id {
			t.Errorf("doc %d: type %q id %q, want %q %q", i, docs[i].Type, docs[i].ID, want.typ, want.id)
		}
	}
}

// TestDocumentIDAggregated checks that the user records of one aggregated record get
// distinct ids, their sub-sequence appended, while plain records keep the short form.
func TestDocumentIDAggregated(t *testing.T) {
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{})
	b := batch(envelope("firewall", `{"n":1}`), envelope("firewall", `{"n":2}`), envelope("firewall", `{"n":3}`))
	for i := range 2 {
		b.Records[i].Sequence = "1000"
		b.Records[i].Aggregated = true
		b.Records[i].SubSequence = i
	}
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	for i, want := range []string{"logs-firewall/shard-0/1000/0", "logs-firewall/shard-0/1000/1", "logs-firewall/shard-0/1002"} {
		if got := rs.calls[0][i].ID; got != want {
			t.Errorf("doc %d id %q, want %q", i, got, want)
		}
	}
}

// An envelope's id is the document's id, wherever the record sits in the stream; the
// document still names its position for dead letters. An envelope whose id is not a
// string, or too long, is a dead letter named by its position.
func TestDocumentIDFromEnvelope(t *testing.T) {
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{})
	withID := stream.AppendEnvelope(nil, "firewall", "q7Z", received, []byte(`{"n":1}`))
	b := batch(withID, withID, envelope("firewall", `{"n":2}`),
		[]byte(`{"v":1,"type":"firewall","id":7,"event":{}}`),
		stream.AppendEnvelope(nil, "firewall", strings.Repeat("x", stream.MaxIDLen+1), received, []byte(`{}`)))
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	docs := rs.calls[0]
	for i, want := range []struct{ typ, id, position string }{
		{"firewall", "q7Z", "logs-firewall/shard-0/1000"},
		{"firewall", "q7Z", "logs-firewall/shard-0/1001"},
		{"firewall", "logs-firewall/shard-0/1002", "logs-firewall/shard-0/1002"},
		{transform.DeadLetterType, "logs-firewall/shard-0/1003", "logs-firewall/shard-0/1003"},
		{transform.DeadLetterType, "logs-firewall/shard-0/1004", "logs-firewall/shard-0/1004"},
	} {
		if d := docs[i]; d.Type != want.typ || d.ID != want.id || d.Position != want.position {
			t.Errorf("doc %d: %q id %q position %q; want %q %q %q", i, d.Type, d.ID, d.Position, want.typ, want.id, want.position)
		}
	}
}

// A record with an id that its pipeline refuses becomes a dead letter under the
// event's id, so that its replay and the event resent are one document.
func TestDeadLetterKeepsEnvelopeID(t *testing.T) {
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{Pipelines: panicPipelines{err: errors.New("refused")}})
	if err := tr.Handle(context.Background(), batch(stream.AppendEnvelope(nil, "firewall", "q7Z", received, []byte(`{}`)))); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	d := rs.calls[0][0]
	if d.Type != transform.DeadLetterType || d.ID != "q7Z" || d.Position != "logs-firewall/shard-0/1000" {
		t.Errorf("dead letter %q id %q position %q, want id q7Z at logs-firewall/shard-0/1000", d.Type, d.ID, d.Position)
	}
	if m := fields(t, d.Body); m["id"] != "q7Z" {
		t.Errorf("dead letter body id %v, want q7Z", m["id"])
	}
}

func TestDeadLetters(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"not JSON", []byte(`hello`), "decode envelope"},
		{"empty", []byte{}, "decode envelope"},
		{"truncated", envelope("firewall", `{"a":1}`)[:20], "decode envelope"},
		{"wrong version", []byte(`{"v":2,"type":"firewall","event":{}}`), "unsupported version 2"},
		{"no type", []byte(`{"v":1,"event":{}}`), "no type"},
		{"path type", envelope("../etc", `{}`), `invalid log type "../etc"`},
		{"upper case type", envelope("Firewall", `{}`), `invalid log type "Firewall"`},
		{"reserved type", envelope(transform.DeadLetterType, `{}`), "invalid log type"},
		{"long type", envelope(strings.Repeat("a", 1000), `{}`), "invalid log type"},
		{"event is a string", []byte(`{"v":1,"type":"firewall","event":"x"}`), "not a JSON object"},
		{"event is an array", []byte(`{"v":1,"type":"firewall","event":[{}]}`), "not a JSON object"},
		{"event missing", []byte(`{"v":1,"type":"firewall"}`), "not a JSON object"},
		{"not UTF-8", []byte{'{', 0xff, 0xfe, '}'}, "decode envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			rs := &recordingSink{}
			tr := newTransformer(t, rs, transform.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err := tr.Handle(context.Background(), batch(tt.data)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			doc := rs.calls[0][0]
			if doc.Type != transform.DeadLetterType || doc.ID != "logs-firewall/shard-0/1000" || !doc.Time.Equal(clock) {
				t.Errorf("doc = %q %q %v, want dead letter with the record's id at %v", doc.Type, doc.ID, doc.Time, clock)
			}
			m := fields(t, doc.Body)
			for k, want := range map[string]string{
				"stream": "logs-firewall", "shard": "shard-0", "sequence": "1000",
				"@timestamp": clock.Format(time.RFC3339Nano),
			} {
				if m[k] != want {
					t.Errorf("%s = %v, want %q", k, m[k], want)
				}
			}
			if e, _ := m["error"].(string); !strings.Contains(e, tt.wantErr) || len(e) > 300 {
				t.Errorf("error = %q, want it to mention %q in under 300 bytes", e, tt.wantErr)
			}
			var data []byte
			if s, ok := m["data"].(string); ok {
				data = []byte(s)
				if _, both := m["data_base64"]; both {
					t.Error("both data and data_base64 set")
				}
			} else if s, ok := m["data_base64"].(string); ok {
				var err error
				if data, err = base64.StdEncoding.DecodeString(s); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Fatalf("no data in %s", doc.Body)
			}
			if !bytes.Equal(data, tt.data) {
				t.Errorf("data = %q, want %q", data, tt.data)
			}

			var entry map[string]any
			if err := json.Unmarshal(logs.Bytes(), &entry); err != nil {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			if entry["level"] != "WARN" || entry["stream"] != "logs-firewall" || entry["shard"] != "shard-0" ||
				entry["sequence"] != "1000" || entry["err"] == nil {
				t.Errorf("log entry = %v, want a warning with stream, shard, sequence and err", entry)
			}
		})
	}
}

func TestBadRecordDoesNotBlockBatch(t *testing.T) {
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{})
	b := batch(envelope("firewall", `{"n":1}`), []byte(`garbage`), envelope("firewall", `{"n":3}`))
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if len(rs.calls) != 1 {
		t.Fatalf("%d sink calls, want 1", len(rs.calls))
	}
	var types []string
	for _, d := range rs.calls[0] {
		types = append(types, d.Type)
	}
	if got := strings.Join(types, ","); got != "firewall,_dead_letter,firewall" {
		t.Errorf("types = %s", got)
	}
}

func TestSinkErrorPropagates(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	errDown := errors.New("disk full")
	rs := &recordingSink{err: errDown}
	tr := newTransformer(t, rs, transform.Options{Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")})
	err := tr.Handle(context.Background(), batch(envelope("firewall", `{}`), []byte("bad")))
	if !errors.Is(err, errDown) {
		t.Fatalf("Handle = %v, want the sink's error", err)
	}
	if !strings.Contains(err.Error(), "write 2 documents") {
		t.Errorf("error = %q, want it to say what was written", err)
	}
	if got := counters(t, reader); len(got) != 0 {
		t.Errorf("counters after a failed write = %v, want none", got)
	}
}

func TestEmptyBatchSkipsSink(t *testing.T) {
	rs := &recordingSink{err: errors.New("must not be called")}
	tr := newTransformer(t, rs, transform.Options{})
	if err := tr.Handle(context.Background(), stream.Batch{Stream: "s", Shard: "0"}); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if len(rs.calls) != 0 {
		t.Errorf("sink called for an empty batch")
	}
}

func TestNewNeedsSink(t *testing.T) {
	if _, err := transform.New(nil, transform.Options{}); err == nil {
		t.Error("New accepted a nil sink")
	}
}

// counters returns the sum of every counter data point read by reader, keyed by metric
// name and type attribute.
func counters(t *testing.T, reader sdkmetric.Reader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]int64)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				if _, hist := m.Data.(metricdata.Histogram[float64]); hist {
					continue // the hop histograms: TestHopHistograms
				}
				t.Fatalf("%s is %T, want an int64 sum", m.Name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				key := m.Name
				if v, ok := dp.Attributes.Value("type"); ok {
					key += "{" + v.AsString() + "}"
				}
				if dp.Value != 0 {
					got[key] += dp.Value
				}
			}
		}
	}
	return got
}

// TestMetrics: events are counted by log type, and types without a pipeline, which
// senders can invent freely, share the label _other.
func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	rs := &recordingSink{}
	set := pipelines(t, "firewall: {processors: [{set: {field: a, value: 1}}]}\nids: {processors: [{set: {field: a, value: 1}}]}\n")
	tr := newTransformer(t, rs, transform.Options{Pipelines: set, Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")})
	b := batch(envelope("firewall", `{}`), envelope("ids", `{}`), []byte("bad"), envelope("firewall", `{}`),
		envelope("invented-1", `{}`), envelope("invented-2", `{}`))
	for range 2 {
		if err := tr.Handle(context.Background(), b); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	got := counters(t, reader)
	want := map[string]int64{
		"sluice_transform_events_total{firewall}": 4,
		"sluice_transform_events_total{ids}":      2,
		"sluice_transform_events_total{_other}":   4,
		"sluice_transform_dead_letters_total":     2,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counters = %v, want %v", got, want)
	}
}

// TestHopHistograms: each batch observes, once, how long its oldest event waited from
// the gateway's acceptance to the read and to the sink's acknowledgement, and how long
// the pipelines and the write took, read on the transformer's clock; a batch without
// documents observes no write.
func TestHopHistograms(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	// The clock at the batch's start, after its pipelines, after its write.
	var ticks []time.Time
	for _, d := range []time.Duration{3 * time.Second, 3250 * time.Millisecond, 4 * time.Second} {
		ticks = append(ticks, received.Add(d))
	}
	now := func() time.Time {
		if len(ticks) == 0 {
			t.Fatal("the clock was read more than three times")
		}
		tick := ticks[0]
		ticks = ticks[1:]
		return tick
	}
	set := pipelines(t, "firewall: {processors: [{drop: {if: 'ctx.drop == true'}}]}\n")
	tr := newTransformer(t, &recordingSink{}, transform.Options{Now: now, Pipelines: set, Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")})
	newer := stream.AppendEnvelope(nil, "firewall", "", received.Add(time.Second), []byte(`{}`))
	if err := tr.Handle(context.Background(), batch(newer, envelope("firewall", `{}`))); err != nil {
		t.Fatal(err)
	}
	// All dropped: no write, so no write time and no delivery.
	ticks = []time.Time{received.Add(10 * time.Second), received.Add(10 * time.Second)}
	if err := tr.Handle(context.Background(), batch(envelope("firewall", `{"drop":true}`))); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					got[m.Name] = fmt.Sprintf("%d, sum %g", dp.Count, dp.Sum)
				}
			}
		}
	}
	want := map[string]string{
		"sluice_transform_read_delay_seconds":      "2, sum 13", // 3 s (the older event), then 10 s
		"sluice_transform_batch_pipelines_seconds": "2, sum 0.25",
		"sluice_transform_batch_write_seconds":     "1, sum 0.75",
		"sluice_transform_delivery_delay_seconds":  "1, sum 4",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("histograms (count, sum) = %v,\nwant %v", got, want)
	}
}

// TestThroughFileSink runs a batch through the transformer into the NDJSON file sink
// of `sluice dev`.
func TestThroughFileSink(t *testing.T) {
	dir := t.TempDir()
	fs, err := file.New(file.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	tr := newTransformer(t, fs, transform.Options{})
	b := batch(
		envelope("firewall", `{"source":{"ip":"10.0.0.1"},"bytes":12345678901234567890}`),
		envelope("firewall", `{"@timestamp":"2026-11-27T23:59:59.5-01:00","message":"late"}`),
		[]byte("not an envelope\n"),
	)
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	want := map[string]string{
		"firewall/2026-11-26.ndjson": `{"@timestamp":"2026-11-26T07:00:00.123456789Z","bytes":12345678901234567890,"event":{"dataset":"firewall"},"source":{"ip":"10.0.0.1"}}` + "\n",
		"firewall/2026-11-28.ndjson": `{"@timestamp":"2026-11-27T23:59:59.5-01:00","event":{"dataset":"firewall"},"message":"late"}` + "\n",
		"_dead_letter/2026-12-01.ndjson": `{"@timestamp":"2026-12-01T12:00:00Z","error":"decode envelope: invalid character 'o' in literal null (expecting 'u')",` +
			`"id":"logs-firewall/shard-0/1002","stream":"logs-firewall","shard":"shard-0","sequence":"1002","data":"not an envelope\n"}` + "\n",
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) != len(want) {
		t.Errorf("files = %v (%v), want %d", files, err, len(want))
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("read %s: %v", name, err)
			continue
		}
		if string(got) != content {
			t.Errorf("%s =\n%s\nwant\n%s", name, got, content)
		}
	}
}

func FuzzHandle(f *testing.F) {
	for _, seed := range [][]byte{
		envelope("firewall", `{"a":1}`),
		envelope("firewall", `{"@timestamp":1764140400123.5,"event":{"x":1}}`),
		envelope("firewall", `{"@timestamp":"2026-11-26T07:00:00Z","event":"s","event.dataset":1}`),
		[]byte(`{"v":1,"type":"firewall","received":"x","event":{}}`),
		[]byte(`{"v":1,"type":"../x","event":{}}`),
		[]byte(`{"v":1,"type":"a","event":{"a":1e999999,"b":"\ud800"}}`),
		{'{', 0xff, '}'},
		{},
	} {
		f.Add(seed, false)
	}
	f.Add([]byte(`{}`), true)
	f.Fuzz(func(t *testing.T, data []byte, fail bool) {
		rs := &recordingSink{}
		errDown := errors.New("sink down")
		if fail {
			rs.err = errDown
		}
		tr := newTransformer(t, rs, transform.Options{})
		// The data as a whole record, and as the event of a well-formed envelope.
		b := batch(data, stream.AppendEnvelope(nil, "fuzz", "", received, data))
		err := tr.Handle(context.Background(), b)
		if fail {
			if !errors.Is(err, errDown) {
				t.Fatalf("Handle = %v, want the sink's error", err)
			}
		} else if err != nil {
			t.Fatalf("Handle: %v", err)
		}
		if len(rs.calls) != 1 || len(rs.calls[0]) != len(b.Records) {
			t.Fatalf("sink calls = %d, want one call with %d documents", len(rs.calls), len(b.Records))
		}
		for i, doc := range rs.calls[0] {
			if doc.Type != transform.DeadLetterType && !stream.ValidType(doc.Type) {
				t.Errorf("doc %d type %q", i, doc.Type)
			}
			if len(doc.Body) == 0 || doc.Body[0] != '{' || bytes.ContainsRune(doc.Body, '\n') || !json.Valid(doc.Body) {
				t.Errorf("doc %d body is not one JSON object line: %q", i, doc.Body)
			}
			if doc.ID != "logs-firewall/shard-0/"+fmt.Sprint(1000+i) {
				t.Errorf("doc %d id %q", i, doc.ID)
			}
		}
	})
}

// firewallEvent returns a firewall event of about 400 bytes, as a shipper sends it.
func firewallEvent(i int) []byte {
	return fmt.Appendf(nil, `{"@timestamp":"2026-11-26T07:00:%02d.%03dZ","message":"deny tcp 203.0.113.%d:%d -> 10.1.2.3:443",`+
		`"source":{"ip":"203.0.113.%d","port":%d},"destination":{"ip":"10.1.2.3","port":443},`+
		`"network":{"transport":"tcp","bytes":%d},"event":{"action":"deny","outcome":"failure","severity":4},`+
		`"observer":{"vendor":"acme","product":"fw-9000","hostname":"edge-fw-01"},"rule":{"id":"1042","name":"block-inbound"},`+
		`"host":{"name":"edge-fw-01"},"tags":["perimeter","prod"]}`,
		i%60, i%1000, i%250, 1024+i%60000, i%250, 1024+i%60000, 40+i)
}

func BenchmarkHandle(b *testing.B) {
	const size = 500
	data := make([][]byte, size)
	var bytesIn int
	for i := range data {
		data[i] = envelope("firewall", string(firewallEvent(i)))
		bytesIn += len(data[i])
	}
	bt := batch(data...)
	tr := newTransformer(b, discardSink{}, transform.Options{})
	b.SetBytes(int64(bytesIn))
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Handle(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// discardSink is a transform.Sink that accepts and drops everything.
type discardSink struct{}

func (discardSink) Write(context.Context, []sink.Document) error { return nil }
