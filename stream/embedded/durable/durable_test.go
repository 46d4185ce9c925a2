package durable_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
	"github.com/sluice-siem/sluice/stream/embedded/durable"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	err := durable.Config{
		Streams:        []string{"fw", "", "fw", "bad/name"},
		Shards:         -1,
		Sync:           "sometimes",
		SyncInterval:   time.Second,
		MaxBytes:       -1,
		MaxRecordBytes: -2,
		Retention:      time.Second,
	}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{
		"dir: a directory is required",
		"streams[1]: empty stream name",
		`streams[2]: duplicate stream name "fw"`,
		`streams[3]: stream name "bad/name"`,
		"shards: -1 is outside 1..4096",
		`sync: must be "always", "interval" or "none", not "sometimes"`,
		"max_bytes: -1 is negative",
		"max_record_bytes: -2 is negative",
		"retention: 1s is outside 1m0s..8760h0m0s",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}

	for name, cfg := range map[string]durable.Config{
		"no streams":                {Dir: "d"},
		"too many shards":           {Dir: "d", Streams: []string{"a"}, Shards: embedded.MaxShards + 1},
		"interval too long":         {Dir: "d", Streams: []string{"a"}, Sync: durable.SyncOnInterval, SyncInterval: 2 * time.Second},
		"interval without its mode": {Dir: "d", Streams: []string{"a"}, SyncInterval: time.Second},
		"record larger than all":    {Dir: "d", Streams: []string{"a"}, MaxBytes: 100, MaxRecordBytes: 101},
		"default record over all":   {Dir: "d", Streams: []string{"a"}, MaxBytes: 1000},
		"retention over a year":     {Dir: "d", Streams: []string{"a"}, Retention: 366 * 24 * time.Hour},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, cfg)
		}
	}
	ok := durable.Config{Dir: "d", Streams: []string{"a"}, Sync: durable.SyncOnInterval}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
	if _, err := durable.Open(context.Background(), durable.Config{}); err == nil || !strings.Contains(err.Error(), "dir:") {
		t.Errorf("Open of an empty config = %v, want the validation error", err)
	}
}

// TestPutReadInOrder: records come back per shard in the order put, with growing
// 20-digit sequence numbers, their arrival time and their own copies of the data.
func TestPutReadInOrder(t *testing.T) {
	l := newLogs(t)
	clk := newClock()
	cfg := config(t, l)
	cfg.Now = clk.Now
	s := open(t, cfg)
	keys := []string{"host-a", "host-b", "host-c", "host-d", "host-e", "host-f"}
	want := map[string][]string{} // by key
	for round := range 5 {
		var batch []stream.Record
		for _, k := range keys {
			for i := range 3 {
				d := fmt.Sprintf("%s/%d/%d", k, round, i)
				batch = append(batch, rec(k, d))
				want[k] = append(want[k], d)
			}
		}
		put(t, s, "fw", batch...)
		clk.Advance(time.Second)
	}
	got := map[string][]string{}
	shardOf := map[string]string{}
	var lastSeq = map[string]string{}
	var lastArrival = map[string]time.Time{}
	for _, d := range drainAll(t, s, "fw") {
		k := d.PartitionKey
		got[k] = append(got[k], string(d.Data))
		if prev, ok := shardOf[k]; ok && prev != d.Shard {
			t.Errorf("key %s in shards %s and %s", k, prev, d.Shard)
		}
		shardOf[k] = d.Shard
		if len(d.Sequence) != 20 || d.Sequence <= lastSeq[d.Shard] {
			t.Errorf("shard %s: sequence %q after %q", d.Shard, d.Sequence, lastSeq[d.Shard])
		}
		lastSeq[d.Shard] = d.Sequence
		if d.Stream != "fw" || d.Aggregated || d.SubSequence != 0 {
			t.Errorf("record %+v", d)
		}
		if d.Arrival.Before(lastArrival[d.Shard]) || d.Arrival.Before(newClock().Now()) || d.Arrival.After(clk.Now()) {
			t.Errorf("record %s arrival %v outside the clock's range or out of order", d.Sequence, d.Arrival)
		}
		lastArrival[d.Shard] = d.Arrival
	}
	for _, k := range keys {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("key %s: got %v, want %v", k, got[k], want[k])
		}
	}

	// Records are the reader's copies: changing one changes nothing stored.
	r := reader(t, s, "fw", shardOf["host-a"], stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	first := drain(t, r)
	first[0].Data[0] = 'X'
	again := drain(t, reader(t, s, "fw", shardOf["host-a"], stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon}))
	if again[0].Data[0] == 'X' {
		t.Error("changing a delivered record changed the stored one")
	}
	if s.Used() == 0 || s.Capacity() != durable.DefaultMaxBytes {
		t.Errorf("Used() = %d, Capacity() = %d", s.Used(), s.Capacity())
	}
}

// TestPartitionLikeEmbedded: a partition key lands in the same shard number as in the
// in-memory embedded stream, for several shard counts.
func TestPartitionLikeEmbedded(t *testing.T) {
	for _, n := range []int{1, 3, 4, 16} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			mem, err := embedded.New(embedded.Config{Streams: []string{"fw"}, Shards: n})
			if err != nil {
				t.Fatal(err)
			}
			cfg := config(t, newLogs(t))
			cfg.Shards = n
			cfg.Sync = durable.SyncNone
			s := open(t, cfg)
			var recs []stream.Record
			for i := range 200 {
				recs = append(recs, rec("key-"+strconv.Itoa(i)+strings.Repeat("é", i%7), strconv.Itoa(i)))
			}
			ctx := context.Background()
			if err := mem.Put(ctx, "fw", recs); err != nil {
				t.Fatal(err)
			}
			put(t, s, "fw", recs...)
			memShard := map[string]string{}
			cctx, cancel := context.WithCancel(ctx)
			var mu sync.Mutex
			consumed := make(chan error, 1)
			go func() {
				consumed <- mem.Consume(cctx, func(_ context.Context, b stream.Batch) error {
					mu.Lock()
					defer mu.Unlock()
					for _, r := range b.Records {
						memShard[r.PartitionKey] = r.Shard
					}
					return nil
				})
			}()
			wctx, wcancel := context.WithTimeout(ctx, patience)
			err = mem.WaitEmpty(wctx)
			wcancel()
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if err := <-consumed; err != nil {
				t.Fatal(err)
			}
			got := drainAll(t, s, "fw")
			if len(got) != len(recs) {
				t.Fatalf("read %d records, want %d", len(got), len(recs))
			}
			for _, d := range got {
				if want := memShard[d.PartitionKey]; d.Shard != want {
					t.Errorf("key %q: durable shard %s, in-memory shard %s", d.PartitionKey, d.Shard, want)
				}
			}
		})
	}
}

func TestPutErrors(t *testing.T) {
	cfg := config(t, newLogs(t))
	cfg.MaxBytes = 10_000
	cfg.MaxRecordBytes = 1000
	s := open(t, cfg)
	ctx := context.Background()
	long := strings.Repeat("ü", embedded.MaxPartitionKeyChars+1)
	for _, tc := range []struct {
		name   string
		stream string
		recs   []stream.Record
		is     error
		text   string
	}{
		{"unknown stream", "ids", []stream.Record{rec("k", "x")}, stream.ErrUnknownStream, "put 1 records to ids"},
		{"unknown stream, no records", "ids", nil, stream.ErrUnknownStream, "unknown stream"},
		{"empty key", "fw", []stream.Record{rec("k", "x"), rec("", "y")}, nil, "record 1: empty partition key"},
		{"long key", "fw", []stream.Record{rec(long, "x")}, stream.ErrTooLarge, "257 characters, over the limit of 256"},
		{"large record", "fw", []stream.Record{rec("k", "x"), rec("k", strings.Repeat("x", 1000))}, stream.ErrTooLarge, "record 1 is 1001 bytes"},
		{"call over capacity", "fw", records("k", strings.Repeat("x", 900), 12), stream.ErrTooLarge, "over the stream capacity of 10000 bytes"},
	} {
		err := s.Put(ctx, tc.stream, tc.recs)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: Put = %v, want an error wrapping %v with %q", tc.name, err, tc.is, tc.text)
		}
	}
	// A long key within 256 characters (more bytes) is fine.
	put(t, s, "fw", rec(strings.Repeat("ü", embedded.MaxPartitionKeyChars), "ok"))
	if err := s.Put(ctx, "fw", nil); err != nil {
		t.Errorf("Put of no records = %v", err)
	}
	// Nothing of the rejected calls was kept.
	if got := drainAll(t, s, "fw"); len(got) != 1 || string(got[0].Data) != "ok" {
		t.Errorf("stream holds %v, want only the accepted record", data(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "fw", []stream.Record{rec("k", "x")}); !errors.Is(err, durable.ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
}

func TestShardsAndOpenErrors(t *testing.T) {
	cfg := config(t, newLogs(t))
	cfg.Shards = 2
	s := open(t, cfg)
	ctx := context.Background()
	shards, err := s.Shards(ctx, "fw")
	if err != nil {
		t.Fatal(err)
	}
	want := []stream.Shard{{ID: "shardId-000000000000"}, {ID: "shardId-000000000001"}}
	if len(shards) != 2 || shards[0].ID != want[0].ID || shards[1].ID != want[1].ID || shards[0].Closed || shards[1].Parents != nil {
		t.Errorf("Shards = %+v, want %+v", shards, want)
	}
	if _, err := s.Shards(ctx, "ids"); !errors.Is(err, stream.ErrUnknownStream) {
		t.Errorf("Shards of an unknown stream = %v", err)
	}
	th := stream.Start{Position: stream.TrimHorizon}
	if _, err := s.Open(ctx, "ids", "shardId-000000000000", stream.Checkpoint{}, th); !errors.Is(err, stream.ErrUnknownStream) {
		t.Errorf("Open of an unknown stream = %v", err)
	}
	for _, shard := range []string{"shardId-000000000002", "shardId-0", "shard-000000000000", ""} {
		if _, err := s.Open(ctx, "fw", shard, stream.Checkpoint{}, th); err == nil || !strings.Contains(err.Error(), "no such shard") {
			t.Errorf("Open of shard %q = %v, want no such shard", shard, err)
		}
	}
	if _, err := s.Open(ctx, "fw", "shardId-000000000000", stream.Checkpoint{Sequence: "12x"}, th); err == nil || !strings.Contains(err.Error(), "not a sequence number") {
		t.Errorf("Open after a bad checkpoint = %v", err)
	}
	if _, err := s.Open(ctx, "fw", "shardId-000000000000", stream.Checkpoint{Sequence: "18446744073709551614"}, th); err == nil || !strings.Contains(err.Error(), "beyond the shard's last sequence number") {
		t.Errorf("Open after a checkpoint beyond the end = %v", err)
	}
	if _, err := s.Open(ctx, "fw", "shardId-000000000000", stream.Checkpoint{}, stream.Start{Position: "middle"}); err == nil {
		t.Error("Open at an unknown position succeeded")
	}
	r := reader(t, s, "fw", "shardId-000000000000", stream.Checkpoint{}, th)
	if _, err := r.Read(ctx, 0); err == nil {
		t.Error("Read with limit 0 succeeded")
	}
	if _, err := r.Read(ctx, stream.MaxRecordsPerCall+1); err == nil {
		t.Error("Read over the Kinesis limit succeeded")
	}
}

// TestStartPositions: trim_horizon, latest, at_timestamp and after a checkpoint,
// partial or not.
func TestStartPositions(t *testing.T) {
	clk := newClock()
	cfg := config(t, newLogs(t))
	cfg.Now = clk.Now
	cfg.Shards = 1
	s := open(t, cfg)
	const shard = "shardId-000000000000"
	put(t, s, "fw", records("k", "a", 3)...)
	clk.Advance(time.Minute)
	mid := clk.Now()
	put(t, s, "fw", records("k", "b", 3)...)
	latest := reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.Latest})
	future := reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.AtTimestamp, Timestamp: mid.Add(time.Hour)})
	clk.Advance(2 * time.Hour)
	put(t, s, "fw", records("k", "c", 2)...)

	all := drain(t, reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon}))
	for _, tc := range []struct {
		name string
		r    stream.ShardReader
		want []string
	}{
		{"trim horizon", nil, []string{"a-0", "a-1", "a-2", "b-0", "b-1", "b-2", "c-0", "c-1"}},
		{"latest", latest, []string{"c-0", "c-1"}},
		{"at timestamp", reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.AtTimestamp, Timestamp: mid}), []string{"b-0", "b-1", "b-2", "c-0", "c-1"}},
		{"at a future timestamp", future, []string{"c-0", "c-1"}},
		{"after a checkpoint", reader(t, s, "fw", shard, stream.Checkpoint{Sequence: all[3].Sequence}, stream.Start{Position: stream.AtTimestamp, Timestamp: mid}), []string{"b-1", "b-2", "c-0", "c-1"}},
		{"after a partial checkpoint", reader(t, s, "fw", shard, stream.Checkpoint{Sequence: all[6].Sequence, Partial: true}, stream.Start{}), []string{"c-1"}},
	} {
		got := all
		if tc.r != nil {
			got = drain(t, tc.r)
		}
		if !slices.Equal(data(got), tc.want) {
			t.Errorf("%s: read %v, want %v", tc.name, data(got), tc.want)
		}
	}
}

// TestReadWaitsForPut: a Read of a caught-up shard returns the records of a Put made
// while it waits, and MillisBehind says how far behind the newest record a page ends.
func TestReadWaitsForPut(t *testing.T) {
	clk := newClock()
	cfg := config(t, newLogs(t))
	cfg.Now = clk.Now
	cfg.Shards = 1
	s := open(t, cfg)
	r := reader(t, s, "fw", "shardId-000000000000", stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	type result struct {
		page stream.Page
		err  error
		took time.Duration
	}
	res := make(chan result, 1)
	go func() {
		start := time.Now()
		p, err := r.Read(context.Background(), 100)
		res <- result{p, err, time.Since(start)}
	}()
	waitFor(t, "the reader to watch the shard", func() bool { return s.Watched("fw", 0) })
	put(t, s, "fw", rec("k", "one"))
	got := <-res
	if got.err != nil || len(got.page.Records) != 1 || got.page.MillisBehind != 0 {
		t.Fatalf("Read = %+v, %v; want the record put meanwhile, caught up", got.page, got.err)
	}
	if got.took >= 400*time.Millisecond {
		t.Errorf("Read took %v: the Put did not wake it", got.took)
	}
	t.Logf("Read returned the record put while it waited after %v", got.took)

	clk.Advance(3 * time.Second)
	put(t, s, "fw", rec("k", "two"))
	clk.Advance(4 * time.Second)
	put(t, s, "fw", rec("k", "three"))
	p, err := r.Read(context.Background(), 1)
	if err != nil || len(p.Records) != 1 || p.MillisBehind != 4000 {
		t.Errorf("Read(1) = %+v, %v; want one record 4000 ms behind the newest", p, err)
	}
	p, err = r.Read(context.Background(), 10)
	if err != nil || len(p.Records) != 1 || p.MillisBehind != 0 {
		t.Errorf("Read(10) = %+v, %v; want the last record, caught up", p, err)
	}
	// A Read of an idle shard ends with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if p, err := r.Read(ctx, 10); !errors.Is(err, context.DeadlineExceeded) || len(p.Records) != 0 {
		t.Errorf("Read of an idle shard = %+v, %v; want the context's error", p, err)
	}
}

// TestRestart: after a checkpoint in the lease store and a restart, reading from the
// checkpoint yields exactly the records after it; unconsumed records, the lease and
// growing sequence numbers survive.
func TestRestart(t *testing.T) {
	l := newLogs(t)
	cfg := config(t, l)
	cfg.Shards = 1
	const shard = "shardId-000000000000"
	ctx := context.Background()
	s, err := durable.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "fw", records("k", "a", 10)...)
	r := reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	page, err := r.Read(ctx, 4)
	if err != nil || len(page.Records) != 4 {
		t.Fatalf("Read = %+v, %v", page, err)
	}
	cp := stream.Checkpoint{Sequence: page.Records[3].Sequence}
	lease := stream.Lease{Stream: "fw", Shard: shard, Owner: "w1", Counter: 1, Checkpoint: cp, Start: stream.Start{Position: stream.TrimHorizon}}
	if err := s.Leases().Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	s.Trim() // deletes the 4 records the checkpoint covers
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	s = open(t, cfg)
	got, err := s.Leases().Get(ctx, "fw", shard)
	if err != nil || got.Checkpoint != cp || got.Owner != "w1" || got.Counter != 1 {
		t.Fatalf("lease after restart = %+v, %v", got, err)
	}
	rest := drain(t, reader(t, s, "fw", shard, got.Checkpoint, got.Start))
	if want := []string{"a-4", "a-5", "a-6", "a-7", "a-8", "a-9"}; !slices.Equal(data(rest), want) {
		t.Errorf("after the checkpoint: %v, want %v", data(rest), want)
	}
	// The trim pass deleted what the checkpoint covers; the rest stays retained.
	if got := drainAll(t, s, "fw"); len(got) != 6 {
		t.Errorf("%d records retained after the trim pass, want the 6 unconsumed", len(got))
	}
	put(t, s, "fw", rec("k", "b"))
	more := drain(t, reader(t, s, "fw", shard, stream.Checkpoint{Sequence: rest[5].Sequence}, stream.Start{}))
	if len(more) != 1 || more[0].Sequence <= rest[5].Sequence {
		t.Errorf("record put after the restart: %+v, want a sequence number after %s", more, rest[5].Sequence)
	}
	if lines := l.lines("durable stream opened", "records=6"); len(lines) != 1 {
		t.Errorf("no info line with the 6 recovered records: %v", l.lines("durable stream opened"))
	}
}

// TestShardCountKept: reopening with another shard count keeps the stored count (with
// a warning); a new stream gets the configured one.
func TestShardCountKept(t *testing.T) {
	l := newLogs(t)
	cfg := config(t, l)
	cfg.Shards = 4
	s, err := durable.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "fw", rec("k", "x"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Shards = 8
	cfg.Streams = []string{"fw", "ids"}
	s = open(t, cfg)
	for name, want := range map[string]int{"fw": 4, "ids": 8} {
		shards, err := s.Shards(context.Background(), name)
		if err != nil || len(shards) != want {
			t.Errorf("%s has %d shards (%v), want %d", name, len(shards), err, want)
		}
	}
	if len(l.lines("WARN", "keeps the shard count", "stream=fw", "shards=4", "configured_shards=8")) != 1 {
		t.Error("no warning about the kept shard count")
	}
	// A stream dropped from the configuration stays, with a warning.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Streams = []string{"ids"}
	s = open(t, cfg)
	if got := drainAll(t, s, "fw"); len(got) != 1 {
		t.Errorf("unconfigured stream fw holds %d records, want 1", len(got))
	}
	if len(l.lines("WARN", "not configured", "stream=fw", "records=1")) != 1 {
		t.Error("no warning about the unconfigured stream")
	}
}

// TestOpenRefusesForeignDatabase: a Pebble database of something else is not taken
// over.
func TestOpenRefusesForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("other"), []byte("data"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = durable.Open(context.Background(), durable.Config{Dir: dir, Streams: []string{"fw"}})
	if err == nil || !strings.Contains(err.Error(), "not a durable stream") {
		t.Errorf("Open of a foreign database = %v", err)
	}
	// The directory is still usable by its owner.
	db, err = pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatalf("reopen after the refusal: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenLocked: a second Open of the same directory fails instead of sharing it.
func TestOpenLocked(t *testing.T) {
	cfg := config(t, newLogs(t))
	open(t, cfg)
	if s, err := durable.Open(context.Background(), cfg); err == nil {
		s.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
}

// TestCloseWakesWaiters: Close ends blocked Puts, waiting Reads and WaitEmpty with
// ErrClosed.
func TestCloseWakesWaiters(t *testing.T) {
	cfg := config(t, newLogs(t))
	cfg.MaxBytes = 1000
	cfg.MaxRecordBytes = 1000
	s, err := durable.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "fw", rec("k", strings.Repeat("x", 900)))
	errs := make(chan error, 3)
	go func() { errs <- s.Put(context.Background(), "fw", []stream.Record{rec("k", strings.Repeat("y", 500))}) }()
	r := reader(t, s, "fw", "shardId-000000000000", stream.Checkpoint{}, stream.Start{Position: stream.Latest})
	go func() {
		_, err := r.Read(context.Background(), 10)
		errs <- err
	}()
	go func() { errs <- s.WaitEmpty(context.Background()) }()
	waitFor(t, "the Put to block", func() bool { return s.Waiting() == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, durable.ErrClosed) {
				t.Errorf("waiting call ended with %v, want ErrClosed", err)
			}
		case <-time.After(patience):
			t.Fatal("Close did not end a waiting call")
		}
	}
	if _, err := s.Leases().List(context.Background()); !errors.Is(err, durable.ErrClosed) {
		t.Errorf("List after Close = %v", err)
	}
}

// quietPebble discards the messages of a Pebble database opened by a test itself.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)         {}
func (quietPebble) Errorf(string, ...any)        {}
func (quietPebble) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// TestPutTooLargeToEncode: a Put whose encoded batch would pass MaxPutBytes is
// refused before anything is allocated for it (Pebble panics on batches of 4 GiB).
func TestPutTooLargeToEncode(t *testing.T) {
	cfg := config(t, newLogs(t))
	cfg.MaxBytes = 4 << 30
	s := open(t, cfg)
	shared := make([]byte, 1<<20-1) // every record shares it: no memory for the test
	recs := make([]stream.Record, durable.MaxPutBytes>>20+1)
	for i := range recs {
		recs[i] = stream.Record{PartitionKey: "k", Data: shared}
	}
	err := s.Put(context.Background(), "fw", recs)
	if !errors.Is(err, stream.ErrTooLarge) || !strings.Contains(err.Error(), "per Put") {
		t.Errorf("Put of %d MiB = %v, want ErrTooLarge", len(recs), err)
	}
	if s.Used() != 0 {
		t.Errorf("Used() = %d after a refused Put", s.Used())
	}
}
