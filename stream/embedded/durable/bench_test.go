package durable_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
	"github.com/sluice-siem/sluice/stream/embedded/durable"
)

// BenchmarkPut measures Put of batches of 100 records of about 500 bytes with 1 and 16
// concurrent producers, for each sync mode of the durable stream and, as the
// baseline, the in-memory embedded stream. A consumer drains the stream meanwhile
// (checkpointing every 50ms for the durable one), so the budget never fills. It
// reports records/s and the p50 and p99 latency of Put.
func BenchmarkPut(b *testing.B) {
	for _, mode := range []string{"always", "interval", "none", "memory"} {
		for _, producers := range []int{1, 16} {
			b.Run(fmt.Sprintf("sync=%s/producers=%d", mode, producers), func(b *testing.B) {
				benchPut(b, mode, producers)
			})
		}
	}
}

const (
	benchBatch      = 100
	benchRecordSize = 500
)

func benchPut(b *testing.B, mode string, producers int) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var putFn func(context.Context, []stream.Record) error
	if mode == "memory" {
		s, err := embedded.New(embedded.Config{Streams: []string{"fw"}})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { _ = s.Consume(ctx, func(context.Context, stream.Batch) error { return nil }) })
		putFn = func(ctx context.Context, recs []stream.Record) error { return s.Put(ctx, "fw", recs) }
	} else {
		s := open(b, durable.Config{Dir: b.TempDir(), Streams: []string{"fw"}, Sync: durable.SyncMode(mode)})
		shards, err := s.Shards(ctx, "fw")
		if err != nil {
			b.Fatal(err)
		}
		for _, sh := range shards {
			wg.Go(func() { drainShard(ctx, b, s, sh.ID) })
		}
		putFn = func(ctx context.Context, recs []stream.Record) error { return s.Put(ctx, "fw", recs) }
	}

	batches := make([][]stream.Record, producers)
	for p := range batches {
		batches[p] = benchRecords(p)
	}
	b.SetBytes(int64(benchBatch * (len(batches[0][0].PartitionKey) + benchRecordSize)))
	var next atomic.Int64
	latencies := make([][]time.Duration, producers)
	b.ResetTimer()
	var pwg sync.WaitGroup
	for p := range producers {
		pwg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				if err := putFn(ctx, batches[p]); err != nil {
					b.Error(err)
					return
				}
				latencies[p] = append(latencies[p], time.Since(start))
			}
		})
	}
	pwg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// benchRecords returns a batch of producer p: 100 records of 500 bytes over 100
// partition keys.
func benchRecords(p int) []stream.Record {
	r := rand.New(rand.NewPCG(uint64(p), 1))
	recs := make([]stream.Record, benchBatch)
	for i := range recs {
		data := make([]byte, benchRecordSize)
		for j := range data {
			data[j] = byte('a' + r.IntN(26))
		}
		recs[i] = stream.Record{PartitionKey: fmt.Sprintf("host-%d-%d", p, i), Data: data}
	}
	return recs
}

// drainShard reads a shard and checkpoints what it read every 50ms, as a consumer
// would, until ctx ends.
func drainShard(ctx context.Context, b *testing.B, s *durable.Stream, shard string) {
	fail := func(err error) {
		if ctx.Err() == nil && !errors.Is(err, durable.ErrClosed) {
			b.Error(err)
		}
	}
	r, err := s.Open(ctx, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	if err != nil {
		fail(err)
		return
	}
	ls := s.Leases()
	lease := stream.Lease{Stream: "fw", Shard: shard, Owner: "bench", Start: stream.Start{Position: stream.TrimHorizon}}
	if err := ls.Create(ctx, lease); err != nil {
		fail(err)
		return
	}
	var last string
	written := time.Now()
	for ctx.Err() == nil {
		page, err := r.Read(ctx, stream.MaxRecordsPerCall)
		if err != nil {
			fail(err)
			return
		}
		if n := len(page.Records); n > 0 {
			last = page.Records[n-1].Sequence
		}
		if last != lease.Checkpoint.Sequence && time.Since(written) > 50*time.Millisecond {
			next := lease.Clone()
			next.Counter++
			next.Checkpoint = stream.Checkpoint{Sequence: last}
			if err := ls.Update(ctx, lease, next); err != nil {
				fail(err)
				return
			}
			lease, written = next, time.Now()
		}
	}
}
