package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluice-siem/sluice/stream"
)

// nullProducer takes every record at once.
type nullProducer struct{}

func (nullProducer) Put(context.Context, string, []stream.Record) error { return nil }

// BenchmarkIngestIDs is Ingest of 500 events of ~500 bytes under each id mode, so that
// the cost of an identity shows beside the rest of the gateway's work per event:
//
//	go test -run '^$' -bench IngestIDs -count 6 ./gateway/ | benchstat -col /mode -
func BenchmarkIngestIDs(b *testing.B) {
	events := make([]Event, 500)
	for i := range events {
		doc := fmt.Appendf(nil, `{"message":"<134>Nov 26 07:00:00 fw01 kernel: [%d.000000] DROP IN=eth0 OUT= MAC=00:11:22:33:44:55 SRC=203.0.113.%d DST=198.51.100.7 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=%d DF PROTO=TCP SPT=%d DPT=443 WINDOW=64240 RES=0x00 SYN URGP=0","fields":{"log_type":"firewall"},"host":{"name":"fw%02d.example.net"},"log":{"file":{"path":"/var/log/kern.log"},"offset":%d},"event":{"id":"%d"}}`,
			i, i%250, i, 1024+i, i%16, i*613, i)
		events[i] = Event{Doc: doc, ID: fmt.Appendf(nil, "key-%d", i)}
	}
	var size int64
	for _, ev := range events {
		size += int64(len(ev.Doc))
	}
	for _, mode := range []string{IDStreamPosition, IDAuto, IDContent, "field:event.id"} {
		b.Run("mode="+mode, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Auth.Disabled = true
			cfg.Routing.ID = mode
			g, err := New(cfg, nullProducer{}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			batch := Batch{Receiver: "bench", Events: events}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if res, err := g.Ingest(context.Background(), batch); err != nil || res.Accepted != len(events) {
					b.Fatalf("Ingest = %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
		})
	}
}
