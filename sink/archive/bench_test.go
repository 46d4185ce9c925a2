package archive

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-siem/sluice/internal/cputime"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
	"github.com/sluice-siem/sluice/transform/pipeline/samples"
)

// BenchmarkArchive archives raw events as Filebeat ships them, made from the sample
// log lines of each type with addresses, ports, counters and times varied (so that
// compression sees realistic variety, not 14 repeated lines), into the S3 test
// server: Tee.Write with a deferring consumer, batches of 500, objects up to
// max_object_bytes, everything acknowledged at the end. The documents variants archive
// what the sample pipeline makes of the events (made before the clock starts), as
// NDJSON and as Parquet. It reports events per CPU
// second of this process (making the documents included; moto's CPU is its own),
// uncompressed and compressed MiB per CPU second, and the compression ratio
// (uncompressed NDJSON bytes / object bytes).
//
//	eval "$(scripts/s3.sh env)"
//	go test -run '^$' -bench Archive -benchtime 200000x -cpu 1 ./sink/archive/
func BenchmarkArchive(b *testing.B) {
	for _, v := range []struct{ name, format, content, compression string }{
		{"zstd", FormatNDJSON, ContentRaw, CompressionZstd},
		{"gzip", FormatNDJSON, ContentRaw, CompressionGzip},
		{"documents-zstd", FormatNDJSON, ContentDocument, CompressionZstd},
		{"parquet-zstd", FormatParquet, ContentDocument, CompressionZstd},
	} {
		for _, typ := range []string{"firewall", "ids", "waf"} {
			b.Run(v.name+"/"+typ, func(b *testing.B) {
				lines := sampleEvents(b, typ, 50000)
				var bodies [][]byte
				if v.content == ContentDocument {
					bodies = sampleDocuments(b, typ, lines)
				}
				a, c := newArchive(b, func(cfg *Config) {
					cfg.Format, cfg.Content, cfg.Compression, cfg.MaxAge = v.format, v.content, v.compression, time.Hour
				}, Options{})
				tee := NewTee(nil, a)
				r := newRun()
				var raw int64
				batch := make([]sink.Document, 0, 500)
				cpu0 := cputime.Self()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					line := lines[i%len(lines)]
					var body []byte
					if bodies != nil {
						body = bodies[i%len(bodies)]
						raw += int64(len(body)) + 1
					} else {
						raw += int64(len(line)) + 1
					}
					pos := fmt.Sprintf("siem-%s/shardId-000000000000/%020d", typ, i+1)
					batch = append(batch, sink.Document{Type: typ, Time: received, ID: strconv.Itoa(i), Position: pos, Body: body,
						Original: stream.AppendEnvelope(nil, typ, "", received, line)})
					if len(batch) == cap(batch) || i == b.N-1 {
						d := &runDeferral{r: r}
						if err := tee.Write(stream.WithDeferral(r.ctx, d), batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
				r.mu.Lock()
				for _, f := range r.stops {
					f()
				}
				r.mu.Unlock()
				batches := int64((b.N + 499) / 500)
				for r.acked.Load() < batches {
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				used := cputime.Self() - cpu0
				r.cancel()
				var stored int64
				p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(a.cfg.Bucket)})
				for p.HasMorePages() {
					page, err := p.NextPage(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					for _, o := range page.Contents {
						stored += aws.ToInt64(o.Size)
					}
				}
				if used > 0 && stored > 0 {
					b.ReportMetric(float64(b.N)/used.Seconds(), "events/cpu-s")
					b.ReportMetric(float64(raw)/(1<<20)/used.Seconds(), "MiB-in/cpu-s")
					b.ReportMetric(float64(stored)/(1<<20)/used.Seconds(), "MiB-out/cpu-s")
					b.ReportMetric(float64(raw)/float64(stored), "ratio")
				}
			})
		}
	}
}

var (
	ipv4   = regexp.MustCompile(`\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b`)
	number = regexp.MustCompile(`\b[0-9]{2,6}\b`)
)

// sampleEvents makes n Filebeat-shaped raw events of typ from the sample pipeline's
// test lines, each with its addresses and numbers replaced by random ones (seeded),
// a file offset and a time that advance.
func sampleEvents(b *testing.B, typ string, n int) [][]byte {
	f, err := os.Open(filepath.Join("..", "..", "transform", "pipeline", "samples", "testdata", typ+".log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var base []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if sc.Text() != "" {
			base = append(base, sc.Text())
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	offset := 0
	for i := range out {
		line := base[rng.IntN(len(base))]
		line = ipv4.ReplaceAllStringFunc(line, func(string) string {
			if rng.IntN(2) == 0 {
				return fmt.Sprintf("10.%d.%d.%d", rng.IntN(4), rng.IntN(256), rng.IntN(256))
			}
			return fmt.Sprintf("%d.%d.%d.%d", 1+rng.IntN(223), rng.IntN(256), rng.IntN(256), rng.IntN(256))
		})
		line = number.ReplaceAllStringFunc(line, func(s string) string { return strconv.Itoa(rng.IntN(65536)) })
		at = at.Add(time.Duration(rng.IntN(2000)) * time.Microsecond)
		ev := fmt.Sprintf(`{"@timestamp":%q,"message":%q,"log":{"file":{"path":"/var/log/%s.log"},"offset":%d},"input":{"type":"filestream"},"host":{"name":"logsrv01"},"agent":{"type":"filebeat","version":"8.17.0","name":"logsrv01","id":"4b5c2a8e-1f3d-4e6a-9b7c-0d1e2f3a4b5c"},"ecs":{"version":"8.0.0"}}`,
			at.Format(time.RFC3339Nano), line, typ, offset)
		offset += len(line) + 1
		out[i] = []byte(ev)
	}
	return out
}

// sampleDocuments runs typ's sample pipeline on the events and returns the documents'
// JSON.
func sampleDocuments(b *testing.B, typ string, events [][]byte) [][]byte {
	cfgs, err := samples.Pipelines()
	if err != nil {
		b.Fatal(err)
	}
	set, err := pipeline.Build(map[string]pipeline.Config{typ: cfgs[typ]}, pipeline.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	p := set.Get(typ)
	out := make([][]byte, len(events))
	for i, raw := range events {
		fields, err := jsonx.DecodeObject(raw)
		if err != nil {
			b.Fatal(err)
		}
		e := event.Event{Fields: fields}
		_ = p.Process(context.Background(), &e)
		if out[i], err = json.Marshal(e.Fields); err != nil {
			b.Fatal(err)
		}
	}
	return out
}
