package kinesis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/cputime"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// benchEvents is a pool of about 500-byte events over 1,000 partition keys (hosts):
// envelopes of iptables lines as Filebeat ships them, addresses, ports, offsets and
// times varied at random (seeded), so that compression sees real variety.
func benchEvents() []stream.Record {
	r := rand.New(rand.NewPCG(42, 42))
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	out := make([]stream.Record, 4096)
	for i := range out {
		host := r.IntN(1000)
		at = at.Add(time.Duration(r.IntN(3000)) * time.Microsecond)
		line := fmt.Sprintf("<4>Dec  6 %s fw%03d kernel: [%d.%06d] FW-%s: IN=eth%d OUT= MAC=00:16:3e:%02x:%02x:%02x:00:1a:2b:3c:4d:5e:08:00 SRC=%d.%d.%d.%d DST=10.%d.%d.%d LEN=%d TOS=0x00 PREC=0x00 TTL=%d ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=%d RES=0x00 SYN URGP=0",
			at.Format("15:04:05"), host, r.IntN(99999), r.IntN(999999), []string{"DROP", "ACCEPT", "REJECT"}[r.IntN(3)], r.IntN(4),
			r.IntN(256), r.IntN(256), r.IntN(256), 1+r.IntN(223), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(4), r.IntN(256), r.IntN(256),
			40+r.IntN(1400), 32+r.IntN(96), r.IntN(65536), 1024+r.IntN(64000), []int{22, 80, 443, 3389, 445, 53}[r.IntN(6)], r.IntN(65536))
		ev := fmt.Sprintf(`{"@timestamp":%q,"message":%q,"log":{"file":{"path":"/var/log/fw%03d.log"},"offset":%d},"host":{"name":"fw%03d"}}`,
			at.Format(time.RFC3339Nano), line, host, r.IntN(1<<30), host)
		out[i] = stream.Record{PartitionKey: fmt.Sprintf("fw%03d", host), Data: stream.AppendEnvelope(nil, "firewall", "", at, []byte(ev))}
	}
	return out
}

// sums reads the producer's counters from the meter's reader.
func sums(tb testing.TB, r *sdkmetric.ManualReader) map[string]int64 {
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					out[m.Name] += dp.Value
				}
			}
		}
	}
	return out
}

// runProducer puts b.N events (batches of 200 from 32 concurrent callers, as busy receivers
// do) and reports events per second of wall time and per CPU-second of this process,
// events per Kinesis record and bytes per record.
func runProducer(b *testing.B, cfg kinesis.Config, streamName string) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	p, err := kinesis.New(context.Background(), cfg, kinesis.Options{Meter: mp.Meter("bench")})
	if err != nil {
		b.Fatal(err)
	}
	pool := benchEvents()
	// Warm up: shard map, connections.
	if err := p.Put(context.Background(), streamName, pool[:10]); err != nil {
		b.Fatal(err)
	}
	before := sums(b, reader)
	const workers, batch = 32, 200
	cpu0 := cputime.Self()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		n := b.N / workers
		if w < b.N%workers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := (w * 509) % len(pool)
			for n > 0 {
				k := min(batch, n)
				recs := make([]stream.Record, k)
				for i := range recs {
					recs[i] = pool[(off+i)%len(pool)]
				}
				off += k
				if err := p.Put(context.Background(), streamName, recs); err != nil {
					b.Error(err)
					return
				}
				n -= k
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cputime.Self() - cpu0
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	after := sums(b, reader)
	recs := after["sluice_kinesis_records_put"] - before["sluice_kinesis_records_put"]
	evs := after["sluice_kinesis_events_put"] - before["sluice_kinesis_events_put"]
	bytes := after["sluice_kinesis_bytes_put"] - before["sluice_kinesis_bytes_put"]
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	if recs > 0 {
		b.ReportMetric(float64(evs)/float64(recs), "events/record")
		b.ReportMetric(float64(bytes)/float64(recs), "B/record")
	}
	if saved := after["sluice_kinesis_compression_saved_bytes"] - before["sluice_kinesis_compression_saved_bytes"]; bytes > 0 {
		b.ReportMetric(float64(bytes+saved)/float64(bytes), "ratio")
	}
}

// BenchmarkProducer measures the producer with 500-byte events over 1,000 keys, with
// aggregation on and off, into kinesalite (4 shards; skipped without
// SLUICE_TEST_KINESIS_ENDPOINT) and into a null endpoint that answers every PutRecords
// with success (in this process, so its CPU counts in events/cpu-s). Shard limits are
// lifted: this measures the producer, not the shards (see BenchmarkShardModel).
//
//	scripts/kinesis.sh start   # prints the endpoint
//	SLUICE_TEST_KINESIS_ENDPOINT=http://127.0.0.1:PORT go test -run '^$' -bench BenchmarkProducer -benchtime 100000x -cpu 1 ./stream/kinesis/
func BenchmarkProducer(b *testing.B) {
	for _, target := range []string{"null", "kinesalite"} {
		for _, v := range []struct {
			name        string
			agg         bool
			compression string
		}{
			{"aggregation", true, kinesis.CompressionZstd},
			{"aggregation/uncompressed", true, kinesis.CompressionNone},
			{"plain", false, kinesis.CompressionZstd},
			{"plain/uncompressed", false, kinesis.CompressionNone},
		} {
			agg := v.agg
			b.Run(target+"/"+v.name, func(b *testing.B) {
				var endpoint, streamName string
				switch target {
				case "null":
					endpoint, streamName = newFakeKinesis(b, 4, 0, 0).srv.URL, "null"
				default:
					endpoint = os.Getenv(kinesistest.EndpointEnv)
					if endpoint == "" {
						b.Skipf("%s is not set: start kinesalite with scripts/kinesis.sh", kinesistest.EndpointEnv)
					}
					streamName = kinesistest.CreateStream(b, kinesistest.Client(b, endpoint), 4)
				}
				cfg := testConfig(endpoint)
				cfg.Aggregation, cfg.Compression = agg, v.compression
				cfg.Linger = 20 * time.Millisecond
				cfg.Shard.BytesPerSecond = 64 * bytesize.GiB
				cfg.Shard.RecordsPerSecond = 1 << 30
				runProducer(b, cfg, streamName)
			})
		}
	}
}

// BenchmarkShardModel offers more than the shards can take to a simulated stream of 4
// shards that enforces 1 MiB/s and 1,000 records/s per shard in one-second windows
// (failing the entries over them with ProvisionedThroughputExceededException), with
// the producer's default shard limits, and reports the use of the shards' byte and
// record limits (over the whole run; over its whole seconds but the first and the
// last, for all shards and for the busiest: keys do not spread evenly, and a full
// backlog waits on the busiest shard) and the share of entries throttled; once with answers delayed 30ms, as a
// remote endpoint's are. Run it for several seconds so that the start does not
// dominate:
//
//	go test -run '^$' -bench BenchmarkShardModel -benchtime 10s -cpu 1 ./stream/kinesis/
func BenchmarkShardModel(b *testing.B) {
	const shards = 4
	for _, tc := range []struct {
		name         string
		agg          bool
		latency      time.Duration
		uncompressed bool
	}{
		{"aggregation", true, 0, false},
		{"aggregation/uncompressed", true, 0, true},
		{"plain", false, 0, false},
		{"aggregation/latency=30ms", true, 30 * time.Millisecond, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fake := newFakeKinesis(b, shards, 1<<20, 1000)
			fake.latency = tc.latency
			cfg := testConfig(fake.srv.URL)
			cfg.Aggregation = tc.agg
			if tc.uncompressed {
				cfg.Compression = kinesis.CompressionNone
			}
			cfg.Linger = 50 * time.Millisecond
			cfg.MaxInflightBytes = 2 * bytesize.MiB // a backlog of about half a second
			cfg.Retry.BaseDelay, cfg.Retry.MaxDelay = 100*time.Millisecond, time.Second
			cfg.Retry.Timeout = time.Minute
			start := time.Now()
			runProducer(b, cfg, "model")
			elapsed := time.Since(start)
			accepted, throttled, bytes := fake.counts()
			b.ReportMetric(100*float64(bytes)/(shards*(1<<20)*elapsed.Seconds()), "%bytes-limit")
			if all, busiest := fake.steadyBytes(); all > 0 {
				b.ReportMetric(100*all/(shards*(1<<20)), "%bytes-limit-steady")
				b.ReportMetric(100*busiest/(1<<20), "%bytes-limit-busiest")
			}
			b.ReportMetric(100*float64(accepted)/(shards*1000*elapsed.Seconds()), "%records-limit")
			if accepted+throttled > 0 {
				b.ReportMetric(100*float64(throttled)/float64(accepted+throttled), "%throttled")
			}
		})
	}
}
