package durable_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded/durable"
	"github.com/sluice-siem/sluice/transform/consume"
	"github.com/sluice-siem/sluice/transform/consume/consumetest"
)

// checkpoint makes the lease of a shard checkpoint at seq, creating it if needed, as a
// consumer would.
func checkpoint(t testing.TB, s *durable.Stream, shard, seq string) {
	t.Helper()
	ctx := context.Background()
	ls := s.Leases()
	l, err := ls.Get(ctx, "fw", shard)
	if errors.Is(err, stream.ErrNotFound) {
		l = stream.Lease{Stream: "fw", Shard: shard, Start: stream.Start{Position: stream.TrimHorizon}}
		if err := ls.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	next := l.Clone()
	next.Counter++
	next.Checkpoint = stream.Checkpoint{Sequence: seq}
	if err := ls.Update(ctx, l, next); err != nil {
		t.Fatal(err)
	}
}

// TestBudget: with the budget used up, Put blocks (and gives up with ErrFull when its
// context ends); once a consumer checkpoints, the trim pass deletes what it covers and
// the blocked Put proceeds, first come first served. Nothing is lost.
func TestBudget(t *testing.T) {
	cfg := config(t, newLogs(t))
	cfg.Shards = 1
	cfg.MaxBytes = 1000
	cfg.MaxRecordBytes = 1000
	s := open(t, cfg)
	const shard = "shardId-000000000000"
	payload := func(tag string) stream.Record { return rec("k", tag+strings.Repeat("x", 299)) } // 301 bytes
	put(t, s, "fw", payload("a"), payload("b"), payload("c"))
	if s.Used() != 903 {
		t.Fatalf("Used() = %d, want 903", s.Used())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := s.Put(ctx, "fw", []stream.Record{payload("d")})
	if !errors.Is(err, stream.ErrFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put into a full stream = %v, want ErrFull and DeadlineExceeded", err)
	}

	// Two blocked Puts, served in order once room is freed.
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i, tag := range []string{"d", "e"} {
		waitFor(t, "earlier Puts to block", func() bool { return s.Waiting() == i })
		wg.Go(func() {
			if err := s.Put(context.Background(), "fw", []stream.Record{payload(tag)}); err != nil {
				t.Errorf("blocked Put %s: %v", tag, err)
			}
			mu.Lock()
			order = append(order, tag)
			mu.Unlock()
		})
	}
	waitFor(t, "both Puts to block", func() bool { return s.Waiting() == 2 })

	r := reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	got := drain(t, r)
	checkpoint(t, s, shard, got[1].Sequence) // a and b consumed: room for d and e
	wg.Wait()
	if !slices.Equal(order, []string{"d", "e"}) && !slices.Equal(order, []string{"e", "d"}) {
		t.Fatalf("blocked Puts finished: %v", order)
	}
	got = append(got, drain(t, r)...)
	var tags []string
	for _, d := range got {
		tags = append(tags, string(d.Data[:1]))
	}
	// d and e got room together, so either may have been written first.
	if !slices.Equal(tags, []string{"a", "b", "c", "d", "e"}) && !slices.Equal(tags, []string{"a", "b", "c", "e", "d"}) {
		t.Errorf("read %v, want a b c, then d and e", tags)
	}
	checkpoint(t, s, shard, got[4].Sequence)
	wctx, wcancel := context.WithTimeout(context.Background(), patience)
	defer wcancel()
	if err := s.WaitEmpty(wctx); err != nil {
		t.Fatal(err)
	}
	if s.Used() != 0 {
		t.Errorf("Used() = %d after everything was checkpointed", s.Used())
	}
}

// TestBlockedPutServedInOrder: a large blocked Put is not overtaken by smaller ones
// behind it.
func TestBlockedPutServedInOrder(t *testing.T) {
	cfg := config(t, newLogs(t))
	cfg.Shards = 1
	cfg.MaxBytes = 1000
	cfg.MaxRecordBytes = 1000
	s := open(t, cfg)
	const shard = "shardId-000000000000"
	put(t, s, "fw", rec("k", strings.Repeat("a", 599)))
	done := make(chan string, 2)
	putAsync := func(name string, size int) {
		go func() {
			if err := s.Put(context.Background(), "fw", []stream.Record{rec("k", strings.Repeat(name[:1], size-1))}); err != nil {
				t.Errorf("Put %s: %v", name, err)
			}
			done <- name
		}()
	}
	putAsync("big", 800)
	waitFor(t, "the big Put to block", func() bool { return s.Waiting() == 1 })
	putAsync("small", 250) // fits now, but waits behind the big one
	waitFor(t, "the small Put to queue behind it", func() bool { return s.Waiting() == 2 })
	r := reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	got := drain(t, r)
	checkpoint(t, s, shard, got[0].Sequence) // room for the big one only
	if first := <-done; first != "big" {
		t.Fatalf("%s Put went first", first)
	}
	if n := s.Waiting(); n != 1 {
		t.Fatalf("%d Puts waiting, want the small one", n)
	}
	got = drain(t, r)
	checkpoint(t, s, shard, got[0].Sequence)
	if second := <-done; second != "small" {
		t.Fatalf("second Put: %s", second)
	}
}

// TestRetention: records older than Retention are deleted whether consumed or not;
// the unconsumed ones are counted and logged at warn level.
func TestRetention(t *testing.T) {
	l := newLogs(t)
	clk := newClock()
	m := newMetrics(t)
	cfg := config(t, l)
	cfg.Shards = 1
	cfg.Now = clk.Now
	cfg.Retention = time.Hour
	cfg.Meter = m.mp.Meter("test")
	s := open(t, cfg)
	const shard = "shardId-000000000000"
	put(t, s, "fw", records("k", "old", 5)...)
	clk.Advance(40 * time.Minute)
	put(t, s, "fw", records("k", "young", 3)...)
	all := drain(t, reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon}))
	checkpoint(t, s, shard, all[1].Sequence) // old-0 and old-1 consumed

	s.Trim()
	if got := drainAll(t, s, "fw"); len(got) != 6 {
		t.Fatalf("after consuming two: %v retained", data(got))
	}
	if age, ok := m.value("sluice_stream_oldest_record_age_seconds"); !ok || age != 2400 {
		t.Errorf("oldest record age = %v (%v), want 2400s", age, ok)
	}

	clk.Advance(30 * time.Minute) // the old ones are 70 minutes old, the young 30
	s.Trim()
	got := drainAll(t, s, "fw")
	if want := []string{"young-0", "young-1", "young-2"}; !slices.Equal(data(got), want) {
		t.Fatalf("after retention: %v, want %v", data(got), want)
	}
	if n, _ := m.value("sluice_stream_records_expired_total"); n != 3 {
		t.Errorf("expired counter = %v, want 3 (old-2..4, unconsumed)", n)
	}
	if lines := l.lines("WARN", "expired by retention", "records=3"); len(lines) != 1 {
		t.Errorf("warning about 3 expired records logged %d times: %v", len(lines), l.lines("expired"))
	}
	wantUsed := int64(3 * len("k"+"young-0"))
	if s.Used() != wantUsed {
		t.Errorf("Used() = %d, want %d", s.Used(), wantUsed)
	}
	if age, _ := m.value("sluice_stream_oldest_record_age_seconds"); age != 1800 {
		t.Errorf("oldest record age = %v, want 1800s", age)
	}
	// A reader past the expired records goes on; one before them skips to what is left.
	rest := drain(t, reader(t, s, "fw", shard, stream.Checkpoint{Sequence: all[1].Sequence}, stream.Start{}))
	if !slices.Equal(data(rest), data(got)) {
		t.Errorf("reading after the old checkpoint: %v", data(rest))
	}

	clk.Advance(time.Hour)
	s.Trim()
	if s.Used() != 0 {
		t.Errorf("Used() = %d after everything expired", s.Used())
	}
	if _, ok := m.value("sluice_stream_oldest_record_age_seconds"); ok {
		t.Error("oldest record age observed for an empty stream")
	}
	if n, _ := m.value("sluice_stream_records_expired_total"); n != 6 {
		t.Errorf("expired counter = %v, want 6", n)
	}
}

// TestGroupCommit: concurrent Puts with Sync always share fsyncs.
func TestGroupCommit(t *testing.T) {
	m := newMetrics(t)
	cfg := config(t, newLogs(t))
	cfg.Meter = m.mp.Meter("test")
	s := open(t, cfg)
	before, _ := m.value("sluice_stream_wal_syncs_total")
	const producers, each = 32, 25
	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := range producers {
		wg.Go(func() {
			<-start
			for i := range each {
				if err := s.Put(context.Background(), "fw", records(fmt.Sprintf("p%d", p), fmt.Sprintf("%d-%d", p, i), 10)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	after, _ := m.value("sluice_stream_wal_syncs_total")
	syncs := after - before
	puts := float64(producers * each)
	t.Logf("%v synced Puts, %v fsyncs of the write-ahead log (%.1f Puts per fsync)", puts, syncs, puts/syncs)
	if syncs == 0 || syncs >= puts {
		t.Errorf("%v fsyncs for %v concurrent synced Puts: want fewer than one per Put", syncs, puts)
	}
	if waits, _ := m.value("sluice_stream_sync_seconds"); waits != puts {
		t.Errorf("sync wait histogram counted %v Puts, want %v", waits, puts)
	}
	if got := drainAll(t, s, "fw"); len(got) != producers*each*10 {
		t.Errorf("read %d records, want %d", len(got), producers*each*10)
	}
}

// TestSyncModes: each mode keeps what it acknowledged across a restart, and interval
// syncs in the background.
func TestSyncModes(t *testing.T) {
	for _, mode := range []durable.SyncMode{durable.SyncAlways, durable.SyncOnInterval, durable.SyncNone} {
		t.Run(string(mode), func(t *testing.T) {
			m := newMetrics(t)
			cfg := config(t, newLogs(t))
			cfg.Sync = mode
			if mode == durable.SyncOnInterval {
				cfg.SyncInterval = 5 * time.Millisecond
			}
			cfg.Meter = m.mp.Meter("test")
			s, err := durable.Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := m.value("sluice_stream_wal_syncs_total")
			put(t, s, "fw", records("k", "x", 10)...)
			switch mode {
			case durable.SyncOnInterval:
				waitFor(t, "the periodic sync", func() bool { n, _ := m.value("sluice_stream_wal_syncs_total"); return n > before })
			case durable.SyncNone:
				if n, _ := m.value("sluice_stream_wal_syncs_total"); n != before {
					t.Errorf("sync none: %v fsyncs for a Put", n-before)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			cfg.Meter = nil
			s = open(t, cfg)
			if got := drainAll(t, s, "fw"); len(got) != 10 {
				t.Errorf("%d records after restart, want 10", len(got))
			}
		})
	}
}

// TestMetrics: the gauges of retained and disk bytes.
func TestMetrics(t *testing.T) {
	m := newMetrics(t)
	cfg := config(t, newLogs(t))
	cfg.Meter = m.mp.Meter("test")
	s := open(t, cfg)
	put(t, s, "fw", records("k", strings.Repeat("x", 1000), 20)...)
	if used, _ := m.value("sluice_stream_used_bytes"); used != float64(s.Used()) || used < 20_000 {
		t.Errorf("sluice_stream_used_bytes = %v, Used() = %d", used, s.Used())
	}
	if disk, _ := m.value("sluice_stream_disk_bytes"); disk < 20_000 {
		t.Errorf("sluice_stream_disk_bytes = %v, want at least the records' bytes", disk)
	}
}

// TestLeaseStoreContract runs the shared LeaseStore contract against the stream's
// lease store.
func TestLeaseStoreContract(t *testing.T) {
	consumetest.TestLeaseStore(t, func(t *testing.T) consume.LeaseStore {
		return open(t, config(t, newLogs(t))).Leases()
	}, 20)
}

// TestLeasing runs the shared lease suite (workers sharing, stealing, failing over,
// handing off and resharding on the in-memory source) with its leases in a durable
// stream's store: every write there is fsynced, and the suite's timing must hold.
func TestLeasing(t *testing.T) {
	if testing.Short() {
		t.Skip("the lease suite takes seconds")
	}
	consumetest.TestLeasing(t, func(t *testing.T) consume.LeaseStore {
		return open(t, config(t, newLogs(t))).Leases()
	}, consumetest.MemoryTiming)
}

// TestLeasesSurviveRestart: leases are read back after a restart, and their
// conditions still hold.
func TestLeasesSurviveRestart(t *testing.T) {
	cfg := config(t, newLogs(t))
	ctx := context.Background()
	s, err := durable.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	l := stream.Lease{Stream: "fw", Shard: "shardId-000000000001", Owner: "w", Counter: 3, NextOwner: "v",
		Checkpoint: stream.Checkpoint{Sequence: "5", Partial: true, SubSequence: 2},
		Start:      stream.Start{Position: stream.AtTimestamp, Timestamp: at}, Parents: []string{"p"}, Finished: true}
	if err := s.Leases().Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, cfg)
	leases, err := s.Leases().List(ctx)
	if err != nil || len(leases) != 1 {
		t.Fatalf("List = %v, %v", leases, err)
	}
	got := leases[0]
	if got.Key() != l.Key() || got.Owner != "w" || got.Counter != 3 || got.NextOwner != "v" || got.Checkpoint != l.Checkpoint ||
		!got.Start.Timestamp.Equal(at) || got.Start.Position != stream.AtTimestamp || !slices.Equal(got.Parents, l.Parents) || !got.Finished {
		t.Errorf("lease after restart %+v, want %+v", got, l)
	}
	stale := l
	stale.Counter = 2
	if err := s.Leases().Update(ctx, stale, l); !errors.Is(err, stream.ErrConflict) {
		t.Errorf("Update from a stale lease after restart = %v", err)
	}
}

// TestDiskReclaimed: once consumers checkpoint past what was put, the disk space of
// the records is given back, not only their bytes in Used(): the sstables shrink to
// almost nothing and sluice_stream_disk_bytes falls to the write-ahead logs Pebble
// keeps for reuse (up to 3 of the 16 MiB memtable's size), after a consumption larger
// than the compaction threshold at once, and after a smaller one once the stream is
// idle (8 MiB, flushed to sstables as a fuller memtable would be). Without the
// compaction, 48 MiB consumed left 12 MB in sstables 30 s later. The records are random bytes, which Pebble cannot compress.
func TestDiskReclaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and consumes 56 MiB")
	}
	m := newMetrics(t)
	cfg := config(t, newLogs(t))
	cfg.Meter = m.mp.Meter("test")
	cfg.Shards = 2
	s := open(t, cfg)
	disk := func() int64 {
		v, _ := m.value("sluice_stream_disk_bytes")
		return int64(v)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	mib := func() []stream.Record {
		recs := make([]stream.Record, 256)
		for i := range recs {
			b := make([]byte, 4<<10)
			for j := 0; j < len(b); j += 8 {
				binary.LittleEndian.PutUint64(b[j:], rnd.Uint64())
			}
			recs[i] = stream.Record{PartitionKey: fmt.Sprint(i), Data: b}
		}
		return recs
	}
	const walKept = 4 * 16 << 20 // the log in use and 3 kept for reuse, at most
	for _, tc := range []struct {
		name  string
		mib   int
		flush bool // the records are written to sstables, not only to the log
	}{
		{"over the threshold", 48, false},
		{"idle", 8, true},
	} {
		before := disk()
		for range tc.mib {
			put(t, s, "fw", mib()...)
		}
		if tc.flush {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		written := disk()
		for _, sh := range []string{"shardId-000000000000", "shardId-000000000001"} {
			checkpoint(t, s, sh, lastSequence(t, s, sh))
		}
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		if err := s.WaitEmpty(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		consumed := time.Now()
		tables := func() int64 { return filesSize(t, cfg.Dir, "*.sst") }
		for deadline := consumed.Add(3 * patience); tables() > 1<<20; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: sstables hold %d bytes %v after everything was consumed", tc.name, tables(), 3*patience)
			}
		}
		t.Logf("%s: %d MiB put: sluice_stream_disk_bytes %d -> %d, %v after consumption %d (sstables %d bytes, logs %d bytes)",
			tc.name, tc.mib, before, written, time.Since(consumed).Round(time.Millisecond), disk(), tables(), filesSize(t, cfg.Dir, "*.log"))
		// The total is the logs and what is left of the sstables: the logs Pebble keeps
		// may have grown since written was read (a flush starts a new one), so the bound
		// is what it keeps at most, not the reading before consumption.
		if got := disk(); got > walKept+1<<20 {
			t.Errorf("%s: sluice_stream_disk_bytes %d after consumption (%d before it), want at most the logs kept (%d) and 1 MiB", tc.name, got, written, walKept)
		}
	}
}

// filesSize returns the total size of the files in dir matching pattern.
func filesSize(t testing.TB, dir, pattern string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil { // a file may go between Glob and Stat
			n += fi.Size()
		}
	}
	return n
}

// lastSequence returns the sequence number of the last record of a shard of "fw".
func lastSequence(t testing.TB, s *durable.Stream, shard string) string {
	t.Helper()
	r := reader(t, s, "fw", shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	last := ""
	for {
		page, err := r.Read(done, 100)
		if len(page.Records) == 0 {
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("Read: %v", err)
			}
			return last
		}
		last = page.Records[len(page.Records)-1].Sequence
	}
}

// TestFlushedBytes: sluice_stream_flushed_bytes_total counts what flushes write to
// tables: records consumed and trimmed while their memtable was still filling are never
// written but to the log (the flush drops the records a deletion in the same memtable
// covers), records not yet consumed are.
func TestFlushedBytes(t *testing.T) {
	m := newMetrics(t)
	cfg := config(t, newLogs(t))
	cfg.Meter = m.mp.Meter("test")
	cfg.Shards = 1
	s := open(t, cfg)
	flushed := func() float64 {
		v, _ := m.value("sluice_stream_flushed_bytes_total")
		return v
	}
	const shard = "shardId-000000000000"
	recs := make([]stream.Record, 256)
	for i := range recs {
		recs[i] = stream.Record{PartitionKey: fmt.Sprint(i), Data: bytes.Repeat([]byte{byte(i)}, 4<<10)}
	}
	// 2 MiB consumed and trimmed, then flushed: only the deletion is written.
	for range 2 {
		put(t, s, "fw", recs...)
	}
	checkpoint(t, s, shard, lastSequence(t, s, shard))
	s.Trim()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := flushed(); got > 64<<10 {
		t.Errorf("records consumed before the flush: %v bytes flushed, want only the deletion's", got)
	}
	// 2 MiB flushed before they are consumed: written to a table.
	before := flushed()
	for range 2 {
		put(t, s, "fw", recs...)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := flushed() - before; got < 2<<20 {
		t.Errorf("records not yet consumed: %v bytes flushed, want their 2 MiB at least", got)
	}
	if _, ok := m.value("sluice_stream_compacted_bytes_total"); !ok {
		t.Error("sluice_stream_compacted_bytes_total is not reported")
	}
}
