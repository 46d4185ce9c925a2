package kinesis_test

import (
	"context"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/cputime"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/transform/consume"
)

// BenchmarkConsumer reads b.N 500-byte events (written beforehand, untimed, with KPL
// aggregation on, compressed or not, or off) from a 4-shard stream in kinesalite through the consumer:
// GetRecords at the default 5 calls/s per shard, de-aggregation, batches acknowledged
// at once by a null handler, checkpoints to an in-memory lease store. It reports
// events per second of wall time (bounded by kinesalite and the 5 calls/s) and per
// CPU-second of this process (the consumer's own cost; kinesalite is another
// process). Skipped without SLUICE_TEST_KINESIS_ENDPOINT.
//
//	scripts/kinesis.sh start   # prints the endpoint
//	SLUICE_TEST_KINESIS_ENDPOINT=http://127.0.0.1:PORT go test -run '^$' -bench BenchmarkConsumer -benchtime 100000x -cpu 1 ./stream/kinesis/
func BenchmarkConsumer(b *testing.B) {
	endpoint := os.Getenv(kinesistest.EndpointEnv)
	if endpoint == "" {
		b.Skipf("%s is not set: start kinesalite with scripts/kinesis.sh", kinesistest.EndpointEnv)
	}
	for _, v := range []struct {
		name        string
		agg         bool
		compression string
	}{
		{"aggregation", true, kinesis.CompressionZstd},
		{"aggregation/uncompressed", true, kinesis.CompressionNone},
		{"plain", false, kinesis.CompressionNone},
	} {
		agg := v.agg
		b.Run(v.name, func(b *testing.B) {
			admin := kinesistest.Client(b, endpoint)
			streamName := kinesistest.CreateStream(b, admin, 4)
			cfg := testConfig(endpoint)
			cfg.Aggregation, cfg.Compression = agg, v.compression
			cfg.Linger = 20 * time.Millisecond
			cfg.Shard.BytesPerSecond = 64 * bytesize.GiB
			cfg.Shard.RecordsPerSecond = 1 << 30
			fill(b, cfg, streamName, b.N)

			r, err := kinesis.NewReader(context.Background(), cfg, kinesis.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			ccfg := consume.DefaultConfig()
			ccfg.WorkerID = "bench"
			ccfg.Streams = []string{streamName}
			ccfg.IdleWait = 50 * time.Millisecond
			ccfg.BalancePeriod = 100 * time.Millisecond
			c, err := consume.New(ccfg, consume.NewMemoryStore(), r, consume.Options{})
			if err != nil {
				b.Fatal(err)
			}
			var got atomic.Int64
			done := make(chan struct{})
			want := int64(b.N)
			handler := func(_ context.Context, batch stream.Batch) error {
				if got.Add(int64(len(batch.Records))) >= want {
					select {
					case <-done:
					default:
						close(done)
					}
				}
				return nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan error, 1)
			cpu0 := cputime.Self()
			b.ResetTimer()
			start := time.Now()
			go func() { stopped <- c.Consume(ctx, handler) }()
			select {
			case <-done:
			case <-time.After(10 * time.Minute):
				b.Fatalf("read %d of %d events in 10 minutes", got.Load(), b.N)
			}
			elapsed := time.Since(start)
			cpu := cputime.Self() - cpu0
			b.StopTimer()
			cancel()
			if err := <-stopped; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
			}
		})
	}
}

// fill puts n events into the stream, untimed.
func fill(b *testing.B, cfg kinesis.Config, streamName string, n int) {
	b.Helper()
	p, err := kinesis.New(context.Background(), cfg, kinesis.Options{})
	if err != nil {
		b.Fatal(err)
	}
	pool := events(rand.New(rand.NewPCG(7, 7)), "consume", 4096, 1000, 500)
	for off := 0; off < n; off += 2000 {
		k := min(2000, n-off)
		recs := make([]stream.Record, k)
		for i := range recs {
			recs[i] = pool[(off+i)%len(pool)]
		}
		if err := p.Put(context.Background(), streamName, recs); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
