package kinesis

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

var (
	benchIPv4   = regexp.MustCompile(`\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b`)
	benchNumber = regexp.MustCompile(`\b[0-9]{2,6}\b`)
)

// sampleRecords makes n envelopes of typ's events from the sample pipeline's test
// cases (their input lines or events), with addresses and numbers replaced at random
// (seeded), so that compression sees the variety of a real stream, not a handful of
// repeated lines.
func sampleRecords(b *testing.B, typ string, n int) [][]byte {
	tf, err := pipeline.LoadTestFile(samples.FS(), typ+".test.yaml", typ)
	if err != nil {
		b.Fatal(err)
	}
	var base []string
	for _, c := range tf.Cases {
		switch {
		case c.Input != nil:
			ev, _ := json.Marshal(map[string]any{"message": *c.Input})
			base = append(base, string(ev))
		case c.Event.Kind != 0:
			var v map[string]any
			if c.Event.Decode(&v) == nil {
				if ev, err := json.Marshal(v); err == nil {
					base = append(base, string(ev))
				}
			}
		}
	}
	if len(base) == 0 {
		b.Fatalf("%s: no test case input", typ)
	}
	r := rand.New(rand.NewPCG(7, 7))
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		ev := base[r.IntN(len(base))]
		ev = benchIPv4.ReplaceAllStringFunc(ev, func(string) string {
			return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), r.IntN(256))
		})
		ev = benchNumber.ReplaceAllStringFunc(ev, func(string) string { return strconv.Itoa(r.IntN(65536)) })
		at = at.Add(time.Duration(r.IntN(3000)) * time.Microsecond)
		out[i] = stream.AppendEnvelope(nil, typ, "", at, []byte(ev))
	}
	return out
}

// BenchmarkRecordCompression compresses KPL aggregates of each sample log type's
// events (made from its test cases, varied at random) as the producer does, at the
// size a shard at its byte limit sends (about 180 events) and at the size a busy
// producer fills (up to 1 MiB): it reports the ratio and the uncompressed MB per CPU
// second of compression.
//
//	go test -run '^$' -bench BenchmarkRecordCompression -cpu 1 ./stream/kinesis/
func BenchmarkRecordCompression(b *testing.B) {
	pipelines, err := samples.Pipelines()
	if err != nil {
		b.Fatal(err)
	}
	for _, typ := range []string{"firewall", "ids", "waf", "panos", "fortigate", "cisco_asa", "zeek", "vpcflow"} {
		if _, ok := pipelines[typ]; !ok {
			b.Fatalf("no sample %s", typ)
		}
		recs := sampleRecords(b, typ, 20000)
		for _, per := range []int{180, 1500} {
			b.Run(fmt.Sprintf("%s/%d", typ, per), func(b *testing.B) {
				c := newCompressor(1, 1<<20)
				var raw, packed int64
				off := 0
				for b.Loop() {
					var agg kpl.Aggregator
					for agg.Len() < per && agg.SizeWith("k", "", len(recs[off%len(recs)])) <= 1<<20 {
						agg.Add("k", "", recs[off%len(recs)])
						off++
					}
					data := agg.AppendTo(nil)
					out := c.compress(data)
					raw += int64(len(data))
					packed += int64(len(out))
				}
				b.ReportMetric(float64(raw)/float64(packed), "ratio")
				b.ReportMetric(float64(raw)/1e6/b.Elapsed().Seconds(), "MB/s")
			})
		}
	}
}
