package samples

import (
	"context"
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"

	elasticgrok "github.com/elastic/go-grok"
	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/internal/cputime"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// samplePipeline builds one sample pipeline alone, so that a benchmark does not
// depend on the other samples.
func samplePipeline(tb testing.TB, name string) *pipeline.Pipeline {
	tb.Helper()
	data, err := fs.ReadFile(FS(), name+".yaml")
	if err != nil {
		tb.Fatal(err)
	}
	cfgs, err := pipeline.LoadFS(fstest.MapFS{name + ".yaml": {Data: data}}, Origin)
	if err != nil {
		tb.Fatal(err)
	}
	set, err := pipeline.Build(cfgs, pipeline.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	return set.Get(name)
}

// benchLoop runs one(i) for i = 0, 1, ... as long as b.Loop asks, then reports events/s
// and events/cpu-s (the per-core rate with -cpu 1).
func benchLoop(b *testing.B, one func(i int)) {
	b.ReportAllocs()
	cpu0 := cputime.Self()
	i := 0
	for b.Loop() {
		one(i)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	reportCPURate(b, cpu0, b.N)
}

// benchEvents runs p on the events next makes in turn, failing at a parse failure.
// Each event's objects come from objs and are recycled once it is done, as the
// transformer does (transform/run.go): a document's maps are then reused, not
// allocated and grown again for every event.
func benchEvents(b *testing.B, p *pipeline.Pipeline, next func(i int, objs *event.Objects) event.Event) {
	ctx := context.Background()
	var objs event.Objects
	benchLoop(b, func(i int) {
		e := next(i, &objs)
		e.Objects = &objs
		_ = p.Process(ctx, &e)
		if _, failed := e.Fields["error"]; failed {
			b.Fatal(e.Fields["error"])
		}
		objs.Release()
	})
}

// benchMessages runs p on events of log type typ whose message is each line in turn.
func benchMessages(b *testing.B, p *pipeline.Pipeline, typ string, lines []string) {
	benchEvents(b, p, func(i int, objs *event.Objects) event.Event {
		fields := objs.New(1)
		fields["message"] = lines[i%len(lines)]
		return event.Event{Type: typ, Received: received, Fields: fields}
	})
}

// benchLines runs match on each line in turn, failing when it does not match.
func benchLines(b *testing.B, lines []string, match func(string) bool) {
	for _, l := range lines {
		if !match(l) {
			b.Fatalf("no expression matches %s", l)
		}
	}
	benchLoop(b, func(i int) {
		if !match(lines[i%len(lines)]) {
			b.Fatalf("no match: %s", lines[i%len(lines)])
		}
	})
}

// anyGrok matches a line when one of groks does, tried in order as a Logstash grok
// filter with a list of patterns tries them.
func anyGrok(groks ...*elasticgrok.Grok) func(string) bool {
	return func(line string) bool {
		for _, g := range groks {
			if m, err := g.ParseString(line); err == nil && len(m) > 0 {
				return true
			}
		}
		return false
	}
}

// TestEnrichedIsPlainPlusEnrichment: each enriched/NAME.yaml is NAME.yaml with
// enrichment processors added (anywhere), nothing else changed, so that the two cannot
// drift. The firewall sample, older than the rule, is checked only for its
// enrichment.
func TestEnrichedIsPlainPlusEnrichment(t *testing.T) {
	plain, err := Pipelines()
	if err != nil {
		t.Fatal(err)
	}
	enriched, err := Enriched()
	if err != nil {
		t.Fatal(err)
	}
	enrichment := map[string]bool{}
	for _, k := range pipeline.EnrichmentKinds() {
		enrichment[k] = true
	}
	decode := func(n *yaml.Node) any {
		var v any
		if err := n.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for name, e := range enriched {
		var kept, want []any
		added := 0
		for i := range e.Processors {
			n := &e.Processors[i]
			if enrichment[n.Content[0].Value] {
				added++
				continue
			}
			kept = append(kept, decode(n))
		}
		if added == 0 {
			t.Errorf("enriched/%s.yaml has no enrichment processors", name)
		}
		if name == "firewall" {
			continue
		}
		p, ok := plain[name]
		if !ok {
			t.Errorf("enriched/%s.yaml has no plain sample %s.yaml", name, name)
			continue
		}
		for i := range p.Processors {
			want = append(want, decode(&p.Processors[i]))
		}
		if !reflect.DeepEqual(kept, want) {
			for i := range min(len(kept), len(want)) {
				if !reflect.DeepEqual(kept[i], want[i]) {
					t.Errorf("%s: processor %d differs:\nenriched: %v\nplain:    %v", name, i, kept[i], want[i])
					break
				}
			}
			t.Errorf("%s: enriched has %d processors besides enrichment, plain %d", name, len(kept), len(want))
		}
		if e.KeepOriginal != p.KeepOriginal {
			t.Errorf("%s: keep_original differs", name)
		}
	}
}
