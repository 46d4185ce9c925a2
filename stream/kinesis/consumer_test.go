package kinesis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/transform/consume"
	"github.com/sluice-siem/sluice/transform/consume/consumetest"
)

// newReader returns a reader closed when the test ends.
func newReader(t testing.TB, cfg kinesis.Config) *kinesis.Reader {
	t.Helper()
	r, err := kinesis.NewReader(context.Background(), cfg, kinesis.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// readShard reads a shard through r from (from, start) until a read returns nothing
// (caught up) or the end, and returns the records and whether the end was reached.
func readShard(t testing.TB, r *kinesis.Reader, streamName, shard string, from stream.Checkpoint, start stream.Start) ([]stream.Delivered, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	sr, err := r.Open(ctx, streamName, shard, from, start)
	if err != nil {
		t.Fatalf("Open %s/%s: %v", streamName, shard, err)
	}
	var out []stream.Delivered
	for {
		p, err := sr.Read(ctx, 7) // small pages: several calls per shard
		if err != nil {
			t.Fatalf("Read %s/%s: %v", streamName, shard, err)
		}
		out = append(out, p.Records...)
		if p.End {
			return out, true
		}
		if len(p.Records) == 0 {
			return out, false
		}
	}
}

// readAll reads every shard of a stream from the oldest record.
func readAll(t testing.TB, r *kinesis.Reader, streamName string) []stream.Delivered {
	t.Helper()
	shards, err := r.Shards(context.Background(), streamName)
	if err != nil {
		t.Fatalf("Shards: %v", err)
	}
	var out []stream.Delivered
	for _, sh := range shards {
		recs, _ := readShard(t, r, streamName, sh.ID, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
		out = append(out, recs...)
	}
	return out
}

func dataSet(recs []stream.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	slices.Sort(out)
	return out
}

func deliveredSet(recs []stream.Delivered) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	slices.Sort(out)
	return out
}

// TestReaderDeaggregates reads streams written with KPL aggregation on and off: every
// event comes back once, aggregated ones with their sub-sequence numbers (0, 1, ... per
// Kinesis record), plain ones without.
func TestReaderDeaggregates(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	for _, agg := range []bool{true, false} {
		t.Run(fmt.Sprintf("aggregation=%v", agg), func(t *testing.T) {
			name := kinesistest.CreateStream(t, admin, 3)
			cfg := testConfig(endpoint)
			cfg.Aggregation = agg
			p := newProducer(t, cfg)
			sent := events(rand.New(rand.NewPCG(1, 2)), "d", 600, 30, 120)
			if err := p.Put(context.Background(), name, sent); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, newReader(t, cfg), name)
			if !slices.Equal(deliveredSet(got), dataSet(sent)) {
				t.Fatalf("read %d events, sent %d", len(got), len(sent))
			}
			subs := map[string][]int{}
			for _, r := range got {
				if r.Aggregated != agg {
					t.Fatalf("record %s aggregated=%v", r.Sequence, r.Aggregated)
				}
				if r.Stream != name || r.Shard == "" || r.Arrival.IsZero() || r.PartitionKey == "" {
					t.Fatalf("record without its place: %+v", r)
				}
				subs[r.Sequence] = append(subs[r.Sequence], r.SubSequence)
			}
			for seq, s := range subs {
				for i, sub := range s {
					if sub != i {
						t.Fatalf("record %s: sub-sequences %v, want 0, 1, ...", seq, s)
					}
				}
			}
			if agg && len(subs) >= len(got) {
				t.Errorf("%d Kinesis records for %d events: nothing aggregated", len(subs), len(got))
			}
		})
	}
}

// TestReaderResumes opens a shard after a whole checkpoint and after a checkpoint
// inside an aggregated record: reading resumes right after it.
func TestReaderResumes(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 1)
	cfg := testConfig(endpoint)
	p := newProducer(t, cfg)
	r := newReader(t, cfg)
	for i := range 3 { // three puts: three aggregated records at least
		if err := p.Put(context.Background(), name, events(rand.New(rand.NewPCG(uint64(i), 9)), fmt.Sprint("r", i), 50, 5, 50)); err != nil {
			t.Fatal(err)
		}
	}
	shard := kinesistest.Shards(t, admin, name)[0].ID
	all, _ := readShard(t, r, name, shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	// The middle of an aggregated record.
	cut := -1
	for i := 1; i+1 < len(all); i++ {
		if all[i].Aggregated && all[i].Sequence == all[i+1].Sequence && all[i].Sequence == all[i-1].Sequence {
			cut = i
			break
		}
	}
	if cut < 0 {
		t.Fatal("no aggregated record with three user records")
	}
	c := all[cut]
	rest, _ := readShard(t, r, name, shard, stream.Checkpoint{Sequence: c.Sequence, Partial: true, SubSequence: c.SubSequence},
		stream.Start{Position: stream.TrimHorizon})
	if !slices.Equal(deliveredSet(rest), deliveredSet(all[cut+1:])) || rest[0].SubSequence != c.SubSequence+1 {
		t.Errorf("after a partial checkpoint: %d records from sub %d, want %d from sub %d", len(rest), rest[0].SubSequence, len(all)-cut-1, c.SubSequence+1)
	}
	// After the whole record.
	last := cut
	for all[last+1].Sequence == c.Sequence {
		last++
	}
	rest, _ = readShard(t, r, name, shard, stream.Checkpoint{Sequence: c.Sequence}, stream.Start{Position: stream.TrimHorizon})
	if !slices.Equal(deliveredSet(rest), deliveredSet(all[last+1:])) {
		t.Errorf("after a whole checkpoint: %d records, want %d", len(rest), len(all)-last-1)
	}
}

// TestReaderStartPositions: LATEST and AT_TIMESTAMP begin at the records put after
// the position.
func TestReaderStartPositions(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 1)
	cfg := testConfig(endpoint)
	cfg.Aggregation = false
	p := newProducer(t, cfg)
	r := newReader(t, cfg)
	old := events(rand.New(rand.NewPCG(5, 5)), "old", 20, 3, 50)
	if err := p.Put(context.Background(), name, old); err != nil {
		t.Fatal(err)
	}
	shard := kinesistest.Shards(t, admin, name)[0].ID
	time.Sleep(1100 * time.Millisecond) // kinesalite stamps arrivals to the millisecond; leave no doubt
	at := time.Now()
	ctx := context.Background()
	latest, err := r.Open(ctx, name, shard, stream.Checkpoint{}, stream.Start{Position: stream.Latest})
	if err != nil {
		t.Fatal(err)
	}
	fresh := events(rand.New(rand.NewPCG(6, 6)), "new", 20, 3, 50)
	if err := p.Put(ctx, name, fresh); err != nil {
		t.Fatal(err)
	}
	page, err := latest.Read(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deliveredSet(page.Records), dataSet(fresh)) {
		t.Errorf("LATEST read %d records, want the %d put after it", len(page.Records), len(fresh))
	}
	got, _ := readShard(t, r, name, shard, stream.Checkpoint{}, stream.Start{Position: stream.AtTimestamp, Timestamp: at})
	if !slices.Equal(deliveredSet(got), dataSet(fresh)) {
		t.Errorf("AT_TIMESTAMP read %d records, want the %d put after it", len(got), len(fresh))
	}
}

// TestReaderReshardedShards: after a split and a merge, Shards lists the children with
// their parents and the parents as closed, and a parent read to its end says so.
func TestReaderReshardedShards(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 3)
	cfg := testConfig(endpoint)
	p := newProducer(t, cfg)
	r := newReader(t, cfg)
	if err := p.Put(context.Background(), name, events(rand.New(rand.NewPCG(7, 7)), "x", 100, 10, 50)); err != nil {
		t.Fatal(err)
	}
	orig := kinesistest.Shards(t, admin, name)
	kids := kinesistest.SplitShard(t, admin, name, orig[0].ID)
	merged := kinesistest.MergeShards(t, admin, name, orig[1].ID, orig[2].ID)
	shards, err := r.Shards(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]stream.Shard{}
	for _, s := range shards {
		byID[s.ID] = s
	}
	for _, o := range orig {
		if !byID[o.ID].Closed {
			t.Errorf("parent %s not closed", o.ID)
		}
		if _, end := readShard(t, r, name, o.ID, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon}); !end {
			t.Errorf("parent %s read without reaching its end", o.ID)
		}
	}
	for _, k := range kids {
		if s := byID[k]; !slices.Equal(s.Parents, []string{orig[0].ID}) || s.Closed {
			t.Errorf("split child %+v", s)
		}
	}
	if s := byID[merged]; !slices.Equal(s.Parents, []string{orig[1].ID, orig[2].ID}) {
		t.Errorf("merged child %+v, want parents %s and %s", s, orig[1].ID, orig[2].ID)
	}
}

// TestReaderFaults puts a fault-injecting proxy in front of the server: ListShards is
// followed over pages, throttled reads are reported as stream.ErrThrottled, an expired
// iterator is replaced and answers cut off by the connection are read again, without
// losing or repeating a record, and a missing stream is stream.ErrUnknownStream.
func TestReaderFaults(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 5)
	cfg := testConfig(endpoint)
	cfg.Aggregation = false
	p := newProducer(t, cfg)
	sent := events(rand.New(rand.NewPCG(8, 8)), "f", 200, 20, 50)
	if err := p.Put(context.Background(), name, sent); err != nil {
		t.Fatal(err)
	}
	proxy := newFaultProxy(t, endpoint)
	proxy.pageShards = 2
	pcfg := cfg
	pcfg.Endpoint = proxy.URL()
	r := newReader(t, pcfg)

	shards, err := r.Shards(context.Background(), name)
	if err != nil || len(shards) != 5 {
		t.Fatalf("Shards over pages of 2: %d shards, %v", len(shards), err)
	}
	if n := proxy.callCount("ListShards"); n != 3 {
		t.Errorf("%d ListShards calls, want 3 pages", n)
	}

	// GetRecords calls 2 and 3 fail: throttled, then an expired iterator. The answers
	// of calls 5, 7 and 8 break off halfway: the connection reset, then closed twice
	// in a row (the reader calls again with the same iterator: nothing is lost or
	// read twice).
	proxy.mu.Lock()
	proxy.callFault = func(op string, n int) (int, string) {
		switch {
		case op == "GetRecords" && n == 2:
			return http.StatusBadRequest, "ProvisionedThroughputExceededException"
		case op == "GetRecords" && n == 3:
			return http.StatusBadRequest, "ExpiredIteratorException"
		case op == "GetRecords" && n == 5:
			return cutReset, ""
		case op == "GetRecords" && (n == 7 || n == 8):
			return cutClose, ""
		}
		return 0, ""
	}
	proxy.mu.Unlock()
	ctx := context.Background()
	var got []stream.Delivered
	var throttled int
	for _, sh := range shards {
		sr, err := r.Open(ctx, name, sh.ID, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			page, err := sr.Read(ctx, 5)
			if errors.Is(err, stream.ErrThrottled) {
				throttled++
				continue
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got = append(got, page.Records...)
			if len(page.Records) == 0 {
				break
			}
			if page.MillisBehind < 0 {
				t.Errorf("no MillisBehindLatest")
			}
		}
	}
	if throttled != 1 {
		t.Errorf("%d throttled reads, want 1", throttled)
	}
	if !slices.Equal(deliveredSet(got), dataSet(sent)) {
		t.Errorf("read %d records through the faults, sent %d", len(got), len(sent))
	}
	if n := proxy.callCount("GetRecords"); n < 9 {
		t.Errorf("%d GetRecords calls, want the cut answers among them", n)
	}
	if n := proxy.callCount("GetShardIterator"); n != len(shards)+1 {
		t.Errorf("%d GetShardIterator calls, want one per shard and one after the expired iterator", n)
	}
	if _, err := r.Shards(ctx, "no-such-stream"); !errors.Is(err, stream.ErrUnknownStream) {
		t.Errorf("Shards of a missing stream = %v, want ErrUnknownStream", err)
	}
}

// TestConsumeFromKinesis runs two consumers on a real stream (leases in memory) while
// a producer writes, splits one shard mid-run, and checks that every event arrives
// exactly once, each key's events in order.
func TestConsumeFromKinesis(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 4)
	cfg := testConfig(endpoint)
	cfg.Aggregation = false // keys stay on their shard across the split (see the producer's notes)
	p := newProducer(t, cfg)
	r := newReader(t, cfg)
	store := consume.NewMemoryStore()
	rc := consumetest.NewRecorder(t)
	tm := consumetest.Timing{Renew: 100 * time.Millisecond, Failover: time.Second, Balance: 100 * time.Millisecond}
	for _, w := range []string{"a", "b"} {
		ccfg := consumetest.FastConfig(tm, w, name)
		ccfg.IdleWait = 50 * time.Millisecond
		consumetest.RunWorker(t, ccfg, store, r, rc.Handler(w))
	}
	rng := rand.New(rand.NewPCG(10, 10))
	var sent []stream.Record
	for i := range 6 {
		recs := events(rng, fmt.Sprint("c", i), 300, 25, 80)
		for j := range recs { // the same keys in every put, so they cross the split
			var ev struct{ Key int }
			if err := json.Unmarshal(recs[j].Data, &ev); err != nil {
				t.Fatal(err)
			}
			recs[j].PartitionKey = fmt.Sprint("host-", ev.Key)
		}
		if err := p.Put(context.Background(), name, recs); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, recs...)
		if i == 2 {
			kinesistest.SplitShard(t, admin, name, kinesistest.Shards(t, admin, name)[1].ID)
		}
	}
	// Map events back to record ids through the stream itself.
	var ids []string
	byData := map[string]string{}
	for _, d := range readAll(t, r, name) {
		id := consumetest.RecordID(d)
		ids = append(ids, id)
		byData[string(d.Data)] = id
	}
	if len(ids) != len(sent) {
		t.Fatalf("stream holds %d events, sent %d", len(ids), len(sent))
	}
	rc.WaitAll(ids)
	if d := rc.Duplicates(); len(d) > 0 {
		t.Errorf("%d events delivered twice", len(d))
	}
	// Per key, the delivery order is the order sent.
	last := map[string]int64{}
	for _, rec := range sent {
		o := rc.Deliveries(byData[string(rec.Data)])[0].Order
		if o < last[rec.PartitionKey] {
			t.Fatalf("key %s: event %s delivered out of order", rec.PartitionKey, rec.Data)
		}
		last[rec.PartitionKey] = o
	}
}
