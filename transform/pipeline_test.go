package transform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// pipelines builds a set of pipelines from YAML (log type -> pipeline.Config).
func pipelines(t *testing.T, src string) *pipeline.Set {
	t.Helper()
	var cfgs map[string]pipeline.Config
	if err := yaml.Unmarshal([]byte(src), &cfgs); err != nil {
		t.Fatal(err)
	}
	set, err := pipeline.Build(cfgs, pipeline.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestPipelineRunsBetweenDecodeAndFinish: the firewall pipeline parses the message,
// its @timestamp files the document, finish still adds event.dataset, dropped events
// are acknowledged and not written, failures are kept and tagged, and types without a
// pipeline pass through.
func TestPipelineRunsBetweenDecodeAndFinish(t *testing.T) {
	set := pipelines(t, `
firewall:
  processors:
    - drop: {if: 'ctx.message == "keepalive"'}
    - grok: {field: message, patterns: ['^%{IPV4:source.ip} %{WORD:event.action} %{TIMESTAMP_ISO8601:ts}$']}
    - date: {field: ts, formats: [ISO8601]}
    - remove: {field: ts}
`)
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{Pipelines: set})
	b := batch(
		envelope("firewall", `{"message":"10.0.0.1 deny 2026-11-20T01:02:03Z"}`),
		envelope("firewall", `{"message":"keepalive"}`),
		envelope("firewall", `{"message":"garbage"}`),
		envelope("dns", `{"message":"keepalive"}`),
	)
	if err := tr.Handle(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(rs.calls) != 1 || len(rs.calls[0]) != 3 {
		t.Fatalf("sink calls %v, want one call with 3 documents", rs.calls)
	}
	docs := rs.calls[0]
	parsed := fields(t, docs[0].Body)
	if got := canonicalJSON(t, parsed); got != `{"@timestamp":"2026-11-20T01:02:03Z","event":{"action":"deny","dataset":"firewall"},"message":"10.0.0.1 deny 2026-11-20T01:02:03Z","source":{"ip":"10.0.0.1"}}` {
		t.Errorf("parsed document %s", got)
	}
	if docs[0].Time.Format("2006-01-02") != "2026-11-20" || docs[0].ID != "logs-firewall/shard-0/1000" {
		t.Errorf("document time %v id %s", docs[0].Time, docs[0].ID)
	}
	failed := fields(t, docs[1].Body)
	if msg, _ := failed["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "pipeline firewall: processors[1] (grok): field message: no grok pattern matched") ||
		docs[1].ID != "logs-firewall/shard-0/1002" {
		t.Errorf("failed document %v", failed)
	}
	if docs[2].Type != "dns" || fields(t, docs[2].Body)["message"] != "keepalive" {
		t.Errorf("dns document %s", docs[2].Body)
	}
}

func TestAllDroppedSkipsSink(t *testing.T) {
	set := pipelines(t, "firewall:\n  processors:\n    - drop: {}\n")
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{Pipelines: set})
	if err := tr.Handle(context.Background(), batch(envelope("firewall", `{"a":1}`), envelope("firewall", `{"a":2}`))); err != nil {
		t.Fatal(err)
	}
	if len(rs.calls) != 0 {
		t.Errorf("sink called %d times for a dropped batch", len(rs.calls))
	}
}

// panicPipelines is a Pipelines whose pipeline panics, or returns an error.
type panicPipelines struct{ err error }

func (p panicPipelines) Pipeline(string) event.Processor { return p }

func (p panicPipelines) Process(context.Context, *event.Event) error {
	if p.err != nil {
		return p.err
	}
	panic("processor bug")
}

func TestPipelinePanicAndErrorBecomeDeadLetters(t *testing.T) {
	for _, p := range []panicPipelines{{}, {err: context.Canceled}} {
		rs := &recordingSink{}
		tr := newTransformer(t, rs, transform.Options{Pipelines: p})
		if err := tr.Handle(context.Background(), batch(envelope("firewall", `{"a":1}`))); err != nil {
			t.Fatal(err)
		}
		doc := rs.calls[0][0]
		if doc.Type != transform.DeadLetterType {
			t.Fatalf("document type %s", doc.Type)
		}
		msg, _ := fields(t, doc.Body)["error"].(string)
		if !strings.HasPrefix(msg, "pipeline firewall: ") {
			t.Errorf("dead letter error %q", msg)
		}
	}
}

// canonicalJSON renders a document with sorted keys.
func canonicalJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkHandleFirewallSample is the transform step of the firewall sample end to
// end, without the sink: envelope and JSON decoding, the sample pipeline, the
// document's defaults and its JSON encoding, in batches of 500 raw syslog lines.
func BenchmarkHandleFirewallSample(b *testing.B) {
	cfgs, err := samples.Pipelines()
	if err != nil {
		b.Fatal(err)
	}
	set, err := pipeline.Build(cfgs, pipeline.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	const size = 500
	data := make([][]byte, size)
	for i := range data {
		line := fmt.Sprintf(`<4>Nov 26 07:00:01 fw01 kernel: [12345.678901] FW-DROP: IN=eth0 OUT= MAC=00:16:3e:4a:5b:6c:00:1a:2b:3c:4d:5e:08:00 SRC=203.0.113.%d DST=10.1.2.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=%d DF PROTO=TCP SPT=%d DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0`, i%250, i, 40000+i)
		ev, _ := json.Marshal(map[string]any{"message": line, "host": map[string]any{"name": "shipper-1"}})
		data[i] = envelope("firewall", string(ev))
	}
	bt := batch(data...)
	tr := newTransformer(b, discardSink{}, transform.Options{Pipelines: set})
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Handle(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// TestRecycledObjectsKeepDocumentsApart: the transformer recycles the objects of each
// event once it is encoded, so every sample line of every sample pipeline, handled in
// mixed batches by one transformer from several goroutines, must give exactly the
// document it gives handled alone by a new transformer (nothing left over from the
// event before, nothing cleared under a later one). Run it with -race.
func TestRecycledObjectsKeepDocumentsApart(t *testing.T) {
	cfgs, err := samples.Pipelines()
	if err != nil {
		t.Fatal(err)
	}
	set, err := pipeline.Build(cfgs, pipeline.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	var records [][]byte
	for _, typ := range []string{"firewall", "ids", "waf"} {
		data, err := os.ReadFile(filepath.Join("pipeline", "samples", "testdata", typ+".log"))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			ev, err := json.Marshal(map[string]any{"message": strings.TrimSuffix(line, "\n")})
			if err != nil {
				t.Fatal(err)
			}
			records = append(records, envelope(typ, string(ev)))
		}
	}
	// Alone: one record per batch, a new transformer each. A record whose pipeline
	// drops it makes no document.
	want := map[string]bool{}
	kept := 0
	for _, rec := range records {
		rs := &recordingSink{}
		if err := newTransformer(t, rs, transform.Options{Pipelines: set}).Handle(context.Background(), batch(rec)); err != nil {
			t.Fatal(err)
		}
		if len(rs.calls) == 1 {
			want[string(rs.calls[0][0].Body)] = true
			kept++
		}
	}
	if kept < len(records)/2 {
		t.Fatalf("only %d of %d sample records make a document", kept, len(records))
	}
	// Mixed: every goroutine handles batches of all records in a rotating order.
	rs := &recordingSink{}
	tr := newTransformer(t, rs, transform.Options{Pipelines: set})
	const workers, rounds = 4, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				data := make([][]byte, len(records))
				for i := range records {
					data[i] = records[(i*(w+1)+r)%len(records)] // repeats some when w+1 divides len
				}
				if err := tr.Handle(context.Background(), batch(data...)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(rs.calls) != workers*rounds {
		t.Fatalf("%d sink calls, want %d", len(rs.calls), workers*rounds)
	}
	// Documents ids are positions in a batch, the same in every batch: compare the
	// bodies alone, each with some document handled alone.
	for _, docs := range rs.calls {
		for _, d := range docs {
			body := string(d.Body)
			if !want[body] {
				t.Fatalf("document handled in a mixed batch matches none handled alone:\n%s", body)
			}
		}
	}
}
