package kinesis_test

import (
	"context"
	"math/big"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-siem/sluice/stream/kinesis"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// putConcurrently puts batches from several goroutines, each owning its keys and
// putting its batches one after the other, as receivers do; it returns every record
// sent, per goroutine in order.
func putConcurrently(t *testing.T, put func(context.Context, []stream.Record) error, workers, batches, perBatch, keys, size int) []stream.Record {
	t.Helper()
	var (
		mu  sync.Mutex
		all []stream.Record
		wg  sync.WaitGroup
	)
	for w := range workers {
		r := rand.New(rand.NewPCG(uint64(w), 7))
		recs := events(r, "w"+string(rune('a'+w)), batches*perBatch, keys, size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				batch := recs[b*perBatch : (b+1)*perBatch]
				if err := put(context.Background(), batch); err != nil {
					t.Errorf("worker %d batch %d: Put: %v", w, b, err)
					return
				}
			}
			mu.Lock()
			all = append(all, recs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return all
}

// TestRoundTrip puts events with many partition keys into a 4-shard stream from
// concurrent callers and reads every shard back: exactly the events sent, each on the
// shard its key hashes to, each key's events in order; with aggregation many events
// share a record, without it each record is one event.
func TestRoundTrip(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	for _, agg := range []bool{true, false} {
		name := "aggregation"
		if !agg {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			admin := kinesistest.Client(t, endpoint)
			streamName := kinesistest.CreateStream(t, admin, 4)
			cfg := testConfig(endpoint)
			cfg.Aggregation = agg
			p := newProducer(t, cfg)
			sent := putConcurrently(t, func(ctx context.Context, recs []stream.Record) error {
				return p.Put(ctx, streamName, recs)
			}, 6, 10, 50, 40, 300)
			recs := verify(t, endpoint, streamName, sent, true, true)
			perShard := map[string]int{}
			for _, r := range recs {
				perShard[r.Shard]++
				if !agg && (len(r.Users) != 1 || r.Users[0].Aggregated) {
					t.Fatalf("aggregation off: record holds %d user records (aggregated %v)", len(r.Users), r.Users[0].Aggregated)
				}
			}
			if len(perShard) != 4 {
				t.Errorf("records on %d shards, want all 4: %v", len(perShard), perShard)
			}
			t.Logf("%d events in %d records (%.1f events per record), per shard %v", len(sent), len(recs), float64(len(sent))/float64(len(recs)), perShard)
			if agg && len(recs) > len(sent)/5 {
				t.Errorf("aggregation on: %d records for %d events, want several events per record", len(recs), len(sent))
			}
		})
	}
}

// TestSplitShard splits a shard under a running producer: the puts that land on the
// children (which the producer's map did not predict) make it reload the map, the
// children receive records, every event arrives exactly once, and once the map is
// reloaded records are grouped by the new shards again.
func TestSplitShard(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	streamName := kinesistest.CreateStream(t, admin, 2)
	p := newProducer(t, testConfig(endpoint))
	r := rand.New(rand.NewPCG(4, 4))
	var sent []stream.Record
	put := func(tag string) []stream.Record {
		recs := events(r, tag, 200, 40, 200)
		if err := p.Put(context.Background(), streamName, recs); err != nil {
			t.Fatalf("Put %s: %v", tag, err)
		}
		sent = append(sent, recs...)
		return recs
	}
	put("before")

	parent := kinesistest.Shards(t, admin, streamName)[0]
	mid := new(big.Int).Add(parent.Start, parent.End)
	mid.Rsh(mid, 1)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := admin.SplitShard(ctx, &awskinesis.SplitShardInput{
		StreamName: aws.String(streamName), ShardToSplit: aws.String(parent.ID), NewStartingHashKey: aws.String(mid.String()),
	}); err != nil {
		t.Fatalf("split shard %s: %v", parent.ID, err)
	}
	kinesistest.WaitActive(t, admin, streamName)

	// The first puts after the split use the old map; a reload follows within about a
	// second of the first unexpected shard.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		put("during" + strconv.Itoa(i))
		time.Sleep(100 * time.Millisecond)
	}
	last := put("after")

	recs := verify(t, endpoint, streamName, sent, false, false)
	children := map[string]int{}
	owners := map[string]kinesistest.Shard{}
	for _, s := range kinesistest.Shards(t, admin, streamName) {
		owners[s.ID] = s
		if s.Parent == parent.ID {
			children[s.ID] = 0
		}
	}
	if len(children) != 2 {
		t.Fatalf("split made %d children, want 2", len(children))
	}
	lastData := map[string]bool{}
	for _, rec := range last {
		lastData[string(rec.Data)] = true
	}
	for _, rec := range recs {
		if _, ok := children[rec.Shard]; ok {
			children[rec.Shard]++
		}
		for _, u := range rec.Users {
			if lastData[string(u.Data)] && !owners[rec.Shard].Owns(u.PartitionKey) {
				t.Errorf("after the reload, event of key %q is in a record on shard %s, which does not own it", u.PartitionKey, rec.Shard)
			}
		}
	}
	for id, n := range children {
		if n == 0 {
			t.Errorf("child shard %s received no records", id)
		}
	}
	t.Logf("records per child shard: %v", children)
}

// TestStreamLocationOverride sends one stream to its own endpoint while the default
// endpoint is unreachable.
func TestStreamLocationOverride(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	streamName := kinesistest.CreateStream(t, admin, 1)
	cfg := testConfig(closedEndpoint(t))
	cfg.Streams = map[string]kinesis.StreamLocation{streamName: {Endpoint: endpoint}}
	p := newProducer(t, cfg)
	recs := events(rand.New(rand.NewPCG(8, 8)), "override", 20, 5, 100)
	if err := p.Put(context.Background(), streamName, recs); err != nil {
		t.Fatalf("Put to the overridden endpoint: %v", err)
	}
	verify(t, endpoint, streamName, recs, true, true)
}

// TestMetrics checks the producer's instruments after a put: events and records by
// shard, the aggregation ratio, PutRecords latency, and bytes in flight back to zero.
func TestMetrics(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	streamName := kinesistest.CreateStream(t, admin, 2)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	p, err := kinesis.New(context.Background(), testConfig(endpoint), kinesis.Options{Meter: mp.Meter("test")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close(context.Background()) }()
	if err := p.Put(context.Background(), streamName, events(rand.New(rand.NewPCG(9, 9)), "m", 100, 10, 100)); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	sum := func(name string) (total int64, shards map[string]bool) {
		shards = map[string]bool{}
		s, ok := got[name].(metricdata.Sum[int64])
		if !ok {
			t.Fatalf("no counter %s", name)
		}
		for _, dp := range s.DataPoints {
			total += dp.Value
			if v, ok := dp.Attributes.Value("shard"); ok {
				shards[v.AsString()] = true
			}
		}
		return total, shards
	}
	if n, shards := sum("sluice_kinesis_events_put"); n != 100 || len(shards) != 2 {
		t.Errorf("events_put = %d over shards %v, want 100 over 2", n, shards)
	}
	if n, _ := sum("sluice_kinesis_records_put"); n < 2 || n > 10 {
		t.Errorf("records_put = %d, want a few aggregated records", n)
	}
	if h, ok := got["sluice_kinesis_events_per_record"].(metricdata.Histogram[int64]); !ok || len(h.DataPoints) == 0 {
		t.Error("no events_per_record histogram")
	}
	if h, ok := got["sluice_kinesis_put_records_duration"].(metricdata.Histogram[float64]); !ok || len(h.DataPoints) == 0 {
		t.Error("no put_records_duration histogram")
	}
	g, ok := got["sluice_kinesis_inflight_bytes"].(metricdata.Gauge[int64])
	if !ok || len(g.DataPoints) != 1 || g.DataPoints[0].Value != 0 {
		t.Errorf("inflight_bytes gauge = %+v, want one stream at 0", got["sluice_kinesis_inflight_bytes"])
	}
}
