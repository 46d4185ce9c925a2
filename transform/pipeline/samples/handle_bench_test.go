package samples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sluice-siem/sluice/internal/cputime"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform"
)

// checkSink is the transformer's sink in the benchmark: it checks that every batch
// holds the expected number of documents and that the first is enriched, then
// forgets them (a sink must not keep docs).
type checkSink struct {
	want int
	err  error
}

func (s *checkSink) Write(_ context.Context, docs []sink.Document) error {
	switch {
	case len(docs) != s.want:
		s.err = fmt.Errorf("%d documents, want %d", len(docs), s.want)
	case !bytes.Contains(docs[0].Body, []byte(`"city_name":"Amsterdam"`)) ||
		!bytes.Contains(docs[0].Body, []byte(`"zone":"dmz"`)) ||
		!bytes.Contains(docs[0].Body, []byte(`"indicator":{`)):
		s.err = fmt.Errorf("document is not enriched: %s", docs[0].Body)
	}
	return s.err
}

// handleBatch is the number of records per batch in BenchmarkFirewallEnrichedHandle,
// a Kinesis GetRecords page of modest size.
const handleBatch = 500

// BenchmarkFirewallEnrichedHandle is the transform step's whole cost per firewall
// event with the enriched pipeline: Transformer.Handle decoding each record's envelope,
// running the pipeline, finishing and encoding the document (and recycling its
// objects), in batches of handleBatch records. events/s is the per-core rate with
// -cpu 1; ns/op is per batch.
func BenchmarkFirewallEnrichedHandle(b *testing.B) {
	set := enrichedSet(b)
	out := &checkSink{want: handleBatch}
	tr, err := transform.New(out, transform.Options{Pipelines: set})
	if err != nil {
		b.Fatal(err)
	}
	event, err := json.Marshal(map[string]any{"message": firewallLine})
	if err != nil {
		b.Fatal(err)
	}
	batch := stream.Batch{Stream: "bench", Shard: "shard-0"}
	for i := range handleBatch {
		batch.Records = append(batch.Records, stream.Delivered{
			Record: stream.Record{Data: stream.AppendEnvelope(nil, "firewall", "", received, event)},
			Stream: "bench", Shard: "shard-0", Sequence: fmt.Sprint(1000 + i),
		})
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cputime.Self()
	for b.Loop() {
		if err := tr.Handle(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*handleBatch)/b.Elapsed().Seconds(), "events/s")
	reportCPURate(b, cpu0, b.N*handleBatch)
}
