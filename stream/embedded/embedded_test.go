package embedded_test

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait that should succeed; failures are reported, not hung.
const patience = 5 * time.Second

func newStream(t testing.TB, cfg embedded.Config) *embedded.Stream {
	t.Helper()
	s, err := embedded.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// consume runs s.Consume(h) in the background and returns a function that stops it and
// checks that Consume returned nil. The stop also runs at cleanup, so no test leaks it.
func consume(t testing.TB, s *embedded.Stream, h embedded.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Consume(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Consume returned %v, want nil", err)
				}
			case <-time.After(patience):
				t.Errorf("Consume did not return within %v of cancel", patience)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitEmpty(t testing.TB, s *embedded.Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := s.WaitEmpty(ctx); err != nil {
		t.Fatalf("WaitEmpty: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(patience)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func put(t testing.TB, s *embedded.Stream, name string, recs ...stream.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := s.Put(ctx, name, recs); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func rec(key, data string) stream.Record {
	return stream.Record{PartitionKey: key, Data: []byte(data)}
}

// recorder is a handler that keeps every batch it acknowledges.
type recorder struct {
	mu      sync.Mutex
	batches []stream.Batch
}

func (r *recorder) handle(_ context.Context, b stream.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
	return nil
}

func (r *recorder) records() []stream.Delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []stream.Delivered
	for _, b := range r.batches {
		out = append(out, b.Records...)
	}
	return out
}

// expectedShard computes the Kinesis shard of key independently of the package: the
// MD5 as a 128-bit integer, over n equal ranges of [0, 2^128).
func expectedShard(key string, n int) string {
	sum := md5.Sum([]byte(key))
	h := new(big.Int).SetBytes(sum[:])
	h.Mul(h, big.NewInt(int64(n)))
	h.Rsh(h, 128)
	return fmt.Sprintf("shardId-%012d", h.Int64())
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := embedded.New(embedded.Config{
		Streams:        []string{"fw", "", "fw", "bad/name"},
		Shards:         -1,
		MaxBytes:       -1,
		MaxRecordBytes: -2,
		BatchRecords:   -3,
		BatchBytes:     -4,
		RetryBackoff:   -time.Second,
	})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{
		"streams[1]: empty stream name",
		`streams[2]: duplicate stream name "fw"`,
		`streams[3]: stream name "bad/name"`,
		"shards: -1 is outside 1..4096",
		"max_bytes: -1 is negative",
		"max_record_bytes: -2 is negative",
		"batch_records: -3 is negative",
		"batch_bytes: -4 is negative",
		"retry_backoff: -1s is negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}

	for name, cfg := range map[string]embedded.Config{
		"no streams":                 {},
		"too many shards":            {Streams: []string{"a"}, Shards: embedded.MaxShards + 1},
		"record larger than stream":  {Streams: []string{"a"}, MaxBytes: 100, MaxRecordBytes: 101},
		"default record over stream": {Streams: []string{"a"}, MaxBytes: 1000},
	} {
		if _, err := embedded.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	s := newStream(t, embedded.Config{Streams: []string{"a"}})
	if got := s.Capacity(); got != embedded.DefaultMaxBytes {
		t.Errorf("Capacity() = %d, want default %d", got, embedded.DefaultMaxBytes)
	}
	if got := s.Used(); got != 0 {
		t.Errorf("Used() of a new stream = %d", got)
	}
	// Default 4 shards: 200 keys reach exactly shards 0..3.
	for i := range 200 {
		put(t, s, "a", rec("k"+strconv.Itoa(i), "x"))
	}
	var r recorder
	stop := consume(t, s, r.handle)
	waitEmpty(t, s)
	stop()
	shards := map[string]bool{}
	for _, d := range r.records() {
		shards[d.Shard] = true
	}
	if len(shards) != 4 || !shards["shardId-000000000003"] {
		t.Errorf("default stream used shards %v, want the 4 shards 0..3", shards)
	}
}

func TestPutRejects(t *testing.T) {
	s := newStream(t, embedded.Config{Streams: []string{"fw"}, MaxBytes: 1000, MaxRecordBytes: 100})
	ctx := context.Background()

	err := s.Put(ctx, "ids", []stream.Record{rec("k", "x")})
	if !errors.Is(err, stream.ErrUnknownStream) || !strings.Contains(err.Error(), "ids") {
		t.Errorf("Put to unknown stream: %v, want ErrUnknownStream naming the stream", err)
	}

	big := rec("k", strings.Repeat("x", 100)) // 101 bytes
	err = s.Put(ctx, "fw", []stream.Record{rec("k", "ok"), big})
	if !errors.Is(err, stream.ErrTooLarge) {
		t.Errorf("Put of an oversize record: %v, want ErrTooLarge", err)
	} else if msg := err.Error(); !strings.Contains(msg, "record 1 is 101 bytes") || !strings.Contains(msg, "100 bytes") {
		t.Errorf("oversize record error does not name size and limit: %v", err)
	}

	var many []stream.Record
	for range 11 {
		many = append(many, rec("k", strings.Repeat("x", 99))) // 11 * 100 bytes
	}
	err = s.Put(ctx, "fw", many)
	if !errors.Is(err, stream.ErrTooLarge) {
		t.Errorf("Put over capacity in one call: %v, want ErrTooLarge", err)
	} else if msg := err.Error(); !strings.Contains(msg, "1100 bytes") || !strings.Contains(msg, "1000 bytes") {
		t.Errorf("oversize call error does not name size and limit: %v", err)
	}

	err = s.Put(ctx, "fw", []stream.Record{rec("k", "ok"), rec("", "no key")})
	if err == nil || errors.Is(err, stream.ErrFull) {
		t.Errorf("Put with an empty partition key: %v, want a permanent error", err)
	}
	if err := s.Put(ctx, "fw", nil); err != nil {
		t.Errorf("Put of no records: %v, want nil", err)
	}
	put(t, s, "fw", rec("k", "ok"))
	// Rejected calls are atomic: the valid records in them were not appended.
	if used := s.Used(); used != 3 {
		t.Errorf("Used() = %d after rejected Puts and one 3-byte record, want 3", used)
	}

	// Partition keys are limited in characters, as in Kinesis, not bytes.
	keys := newStream(t, embedded.Config{Streams: []string{"fw"}})
	err = keys.Put(ctx, "fw", []stream.Record{rec(strings.Repeat("é", 257), "")})
	if !errors.Is(err, stream.ErrTooLarge) {
		t.Errorf("Put with a 257-character key: %v, want ErrTooLarge", err)
	}
	if err := keys.Put(ctx, "fw", []stream.Record{rec(strings.Repeat("é", 256), "")}); err != nil {
		t.Errorf("Put with a 256-character (512-byte) key: %v, want nil", err)
	}
	var r recorder
	stop := consume(t, s, r.handle)
	waitEmpty(t, s)
	stop()
	if got := r.records(); len(got) != 1 {
		t.Errorf("delivered %d records, want only the one accepted", len(got))
	}
}

// TestShardingLikeKinesis checks the shard of every record against an independent
// computation of the Kinesis hash-key ranges, and that keys spread over all shards.
func TestShardingLikeKinesis(t *testing.T) {
	const shards = 4
	s := newStream(t, embedded.Config{Streams: []string{"fw"}, Shards: shards})
	rnd := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("host-%x", rnd.Uint64())
	}
	// Each key twice, in separate Puts.
	for round := range 2 {
		var batch []stream.Record
		for _, k := range keys {
			batch = append(batch, rec(k, strconv.Itoa(round)))
		}
		put(t, s, "fw", batch...)
	}
	var r recorder
	stop := consume(t, s, r.handle)
	waitEmpty(t, s)
	stop()

	got := r.records()
	if len(got) != 2*len(keys) {
		t.Fatalf("delivered %d records, want %d", len(got), 2*len(keys))
	}
	shardOf := map[string]string{}
	hits := map[string]int{}
	for _, d := range got {
		if d.Stream != "fw" {
			t.Errorf("record of stream %q, want fw", d.Stream)
		}
		if want := expectedShard(d.PartitionKey, shards); d.Shard != want {
			t.Errorf("key %s in %s, want %s", d.PartitionKey, d.Shard, want)
		}
		if prev, ok := shardOf[d.PartitionKey]; ok && prev != d.Shard {
			t.Errorf("key %s in both %s and %s", d.PartitionKey, prev, d.Shard)
		}
		shardOf[d.PartitionKey] = d.Shard
		hits[d.Shard]++
	}
	for i := range shards {
		id := fmt.Sprintf("shardId-%012d", i)
		// 2000 records over 4 shards: each should be near 500.
		if hits[id] < 350 {
			t.Errorf("shard %s got %d of %d records; keys do not spread", id, hits[id], len(got))
		}
	}
	if len(hits) != shards {
		t.Errorf("records in shards %v, want exactly %d shards", hits, shards)
	}
}

// TestOrderAndSequences puts interleaved keys from concurrent producers and checks
// per-key order, per-shard sequence order and the sequence format.
func TestOrderAndSequences(t *testing.T) {
	s := newStream(t, embedded.Config{Streams: []string{"fw", "ids"}, Shards: 3, BatchRecords: 7})
	const producers, perKey, keysPer = 8, 60, 5
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			name := []string{"fw", "ids"}[p%2]
			for i := 0; i < perKey; i += 3 {
				var batch []stream.Record
				for j := i; j < i+3; j++ {
					for k := range keysPer {
						batch = append(batch, rec(fmt.Sprintf("p%d-k%d", p, k), strconv.Itoa(j)))
					}
				}
				if err := s.Put(context.Background(), name, batch); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
	}
	var r recorder
	stop := consume(t, s, r.handle)
	wg.Wait()
	waitEmpty(t, s)
	stop()

	lastOfKey := map[string]int{}
	lastSeq := map[string]string{} // by stream/shard
	countOfKey := map[string]int{}
	r.mu.Lock()
	batches := r.batches
	r.mu.Unlock()
	for _, b := range batches {
		if len(b.Records) == 0 || len(b.Records) > 7 {
			t.Errorf("batch of %d records, want 1..7", len(b.Records))
		}
		for _, d := range b.Records {
			if d.Stream != b.Stream || d.Shard != b.Shard {
				t.Errorf("record of %s/%s in batch of %s/%s", d.Stream, d.Shard, b.Stream, b.Shard)
			}
			key := d.Stream + "/" + d.PartitionKey
			n, _ := strconv.Atoi(string(d.Data))
			if prev, ok := lastOfKey[key]; ok && n != prev+1 {
				t.Errorf("key %s: record %d after %d", key, n, prev)
			} else if !ok && n != 0 {
				t.Errorf("key %s: first record is %d, want 0", key, n)
			}
			lastOfKey[key] = n
			countOfKey[key]++

			if len(d.Sequence) != 20 {
				t.Errorf("sequence %q is not 20 digits", d.Sequence)
			}
			seq, err := strconv.ParseUint(d.Sequence, 10, 64)
			if err != nil {
				t.Errorf("sequence %q: %v", d.Sequence, err)
			}
			pos := d.Stream + "/" + d.Shard
			if prev, ok := lastSeq[pos]; ok {
				prevN, _ := strconv.ParseUint(prev, 10, 64)
				if d.Sequence <= prev || seq <= prevN {
					t.Errorf("%s: sequence %s after %s", pos, d.Sequence, prev)
				}
			}
			lastSeq[pos] = d.Sequence
			if d.Arrival.IsZero() {
				t.Errorf("record without arrival time")
			}
		}
	}
	if len(countOfKey) != producers*keysPer {
		t.Errorf("saw %d keys, want %d", len(countOfKey), producers*keysPer)
	}
	for k, n := range countOfKey {
		if n != perKey {
			t.Errorf("key %s: %d records, want %d", k, n, perKey)
		}
	}
}

// TestDeliversEverythingOnce runs many concurrent producers over several streams with a
// small MaxBytes, so that backpressure engages, and checks that every record arrives
// exactly once, intact, and that batch and capacity limits hold throughout.
func TestDeliversEverythingOnce(t *testing.T) {
	const (
		maxBytes     = 16 << 10
		batchRecords = 16
		batchBytes   = 2048
	)
	s := newStream(t, embedded.Config{
		Streams: []string{"fw", "ids", "waf"}, Shards: 4,
		MaxBytes: maxBytes, MaxRecordBytes: 4096, BatchRecords: batchRecords, BatchBytes: batchBytes,
	})
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	var overCapacity, overBatch atomic.Int32
	stop := consume(t, s, func(_ context.Context, b stream.Batch) error {
		if s.Used() > s.Capacity() {
			overCapacity.Add(1)
		}
		size := 0
		for _, d := range b.Records {
			size += d.Size()
		}
		if len(b.Records) > batchRecords || (size > batchBytes && len(b.Records) > 1) {
			overBatch.Add(1)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, d := range b.Records {
			seen[d.Stream+"|"+d.PartitionKey+"|"+string(d.Data)]++
		}
		return nil
	})

	const goroutines, puts, perPut = 24, 40, 10
	streams := []string{"fw", "ids", "waf"}
	var (
		expectMu sync.Mutex
		expected = map[string]bool{} // what was put, as stream|key|data
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 7))
			for p := range puts {
				name := streams[(g+p)%len(streams)]
				batch := make([]stream.Record, perPut)
				for i := range batch {
					pad := strings.Repeat("x", rnd.IntN(200))
					if g == 0 && p == 0 && i == 0 {
						pad = strings.Repeat("y", 3000) // larger than a batch: goes alone
					}
					batch[i] = rec(fmt.Sprintf("g%d-%d", g, rnd.IntN(5)), fmt.Sprintf("%d/%d/%d/%s", g, p, i, pad))
					expectMu.Lock()
					expected[name+"|"+batch[i].PartitionKey+"|"+string(batch[i].Data)] = true
					expectMu.Unlock()
				}
				ctx, cancel := context.WithTimeout(context.Background(), patience)
				err := s.Put(ctx, name, batch)
				cancel()
				if err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				if u := s.Used(); u > s.Capacity() {
					overCapacity.Add(1)
				}
			}
		})
	}
	wg.Wait()
	waitEmpty(t, s)
	stop()

	if n := overCapacity.Load(); n > 0 {
		t.Errorf("Used() exceeded Capacity() %d times", n)
	}
	if n := overBatch.Load(); n > 0 {
		t.Errorf("%d batches exceeded the batch limits", n)
	}
	if want := goroutines * puts * perPut; len(expected) != want || len(seen) != want {
		t.Errorf("put %d distinct records and delivered %d, want %d", len(expected), len(seen), want)
	}
	// Content: each record arrives once, on the stream and with the key and data it
	// was put with.
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %.40s delivered %d times", k, n)
		}
		if !expected[k] {
			t.Errorf("delivered record %.40s was never put", k)
		}
	}
	for k := range expected {
		if seen[k] == 0 {
			t.Errorf("record %.40s was put and never delivered", k)
		}
	}
	if s.Used() != 0 {
		t.Errorf("Used() = %d after everything was acknowledged", s.Used())
	}
}

func TestPutCopiesData(t *testing.T) {
	s := newStream(t, embedded.Config{Streams: []string{"fw"}})
	key := []byte("host-1")
	data := []byte("original")
	put(t, s, "fw", stream.Record{PartitionKey: string(key), Data: data})
	copy(data, "XXXXXXXX")
	copy(key, "XXXXXX")
	var r recorder
	stop := consume(t, s, r.handle)
	waitEmpty(t, s)
	stop()
	got := r.records()
	if len(got) != 1 || string(got[0].Data) != "original" || got[0].PartitionKey != "host-1" {
		t.Errorf("delivered %+v, want the data as it was at Put", got)
	}
}

// logRecorder is a slog.Handler that keeps the records it handles.
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, m)
	return nil
}

func (l *logRecorder) warnings() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.recs {
		if m["level"] == slog.LevelWarn {
			out = append(out, m)
		}
	}
	return out
}

// TestHandlerErrorRedelivers fails every batch on its first delivery and checks that the
// same records come again, in order, that nothing is lost, and that failures are
// logged.
func TestHandlerErrorRedelivers(t *testing.T) {
	logs := &logRecorder{}
	s := newStream(t, embedded.Config{
		Streams: []string{"fw"}, Shards: 1, BatchRecords: 10,
		RetryBackoff: time.Millisecond, Logger: slog.New(logs),
	})
	var all []stream.Record
	for i := range 50 {
		all = append(all, rec("same-key", strconv.Itoa(i)))
	}
	put(t, s, "fw", all[:5]...)

	var (
		more     sync.Once
		mu       sync.Mutex
		failed   = map[string][]string{} // first sequence -> sequences of the failed delivery
		retried  = map[string][]string{} // first sequence -> sequences of the redelivery
		accepted []string                // data of acknowledged records, in order
	)
	errBoom := errors.New("index unavailable")
	stop := consume(t, s, func(_ context.Context, b stream.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		var seqs []string
		for _, d := range b.Records {
			seqs = append(seqs, d.Sequence)
		}
		first := seqs[0]
		if _, ok := failed[first]; !ok {
			failed[first] = seqs
			// More records arrive before the redelivery: it must not grow to
			// include them.
			more.Do(func() {
				if err := s.Put(context.Background(), "fw", all[5:]); err != nil {
					t.Errorf("Put from the handler: %v", err)
				}
			})
			return errBoom
		}
		retried[first] = seqs
		for _, d := range b.Records {
			accepted = append(accepted, string(d.Data))
		}
		return nil
	})
	// The stream cannot empty before the handler's Put: that happens before any
	// acknowledgement.
	waitEmpty(t, s)
	stop()

	mu.Lock()
	defer mu.Unlock()
	if len(accepted) != len(all) {
		t.Fatalf("acknowledged %d records, want %d", len(accepted), len(all))
	}
	for i, d := range accepted {
		if d != strconv.Itoa(i) {
			t.Fatalf("acknowledged record %d is %s; order broken: %v", i, d, accepted)
		}
	}
	for first, seqs := range failed {
		if got := retried[first]; strings.Join(got, ",") != strings.Join(seqs, ",") {
			t.Errorf("batch at %s failed with %v, redelivered as %v", first, seqs, got)
		}
	}
	warns := logs.warnings()
	if len(warns) != len(failed) {
		t.Errorf("%d warnings logged for %d failures", len(warns), len(failed))
	}
	for _, w := range warns {
		if w["stream"] != "fw" || w["shard"] != "shardId-000000000000" {
			t.Errorf("warning without stream and shard: %v", w)
		}
		if err, _ := w["err"].(error); !errors.Is(err, errBoom) {
			t.Errorf("warning err = %v, want the handler's error", w["err"])
		}
		if msg := w["msg"].(string); msg != strings.ToLower(msg) {
			t.Errorf("log message %q is not lowercase", msg)
		}
	}
}

// TestRetryBackoff checks the redelivery waits: doubling per failure, and reset by a
// success.
func TestRetryBackoff(t *testing.T) {
	const base = 4 * time.Millisecond
	logs := &logRecorder{}
	s := newStream(t, embedded.Config{
		Streams: []string{"fw"}, Shards: 1, RetryBackoff: base, Logger: slog.New(logs),
	})
	var (
		mu    sync.Mutex
		calls []time.Time
	)
	stop := consume(t, s, func(context.Context, stream.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		switch len(calls) {
		case 1, 2, 3, 4, 6: // the first record fails 4 times, the second once
			return errors.New("try again")
		}
		return nil
	})
	put(t, s, "fw", rec("k", "first"))
	waitEmpty(t, s)
	put(t, s, "fw", rec("k", "second"))
	waitEmpty(t, s)
	stop()

	want := []time.Duration{base, 2 * base, 4 * base, 8 * base, base}
	warns := logs.warnings()
	if len(warns) != len(want) {
		t.Fatalf("%d retries logged, want %d", len(warns), len(want))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 7 {
		t.Fatalf("handler called %d times, want 7", len(calls))
	}
	for i, w := range want {
		if got := warns[i]["retry_in"]; got != w {
			t.Errorf("retry %d: logged retry_in %v, want %v", i, got, w)
		}
	}
	// The waits really happened: failure i at calls[k] is followed by calls[k+1].
	for i, k := range []int{0, 1, 2, 3, 5} {
		if gap := calls[k+1].Sub(calls[k]); gap < want[i] {
			t.Errorf("redelivery %d came after %v, want at least %v", i, gap, want[i])
		}
	}
}

// TestBackpressure fills the stream with no consumer and checks that Put blocks, fails
// with ErrFull and the context's error when the context ends, never exceeds capacity,
// and succeeds once a consumer frees room.
func TestBackpressure(t *testing.T) {
	s := newStream(t, embedded.Config{Streams: []string{"fw"}, MaxBytes: 1000, MaxRecordBytes: 100})
	hundred := func(i int) stream.Record { // 100 bytes
		return rec("k"+strconv.Itoa(i%10), fmt.Sprintf("%-98d", i))
	}
	for i := range 10 {
		put(t, s, "fw", hundred(i))
	}
	if s.Used() != 1000 {
		t.Fatalf("Used() = %d after 1000 bytes, want 1000", s.Used())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	deadline, _ := ctx.Deadline()
	err := s.Put(ctx, "fw", []stream.Record{hundred(10)})
	cancel()
	if !errors.Is(err, stream.ErrFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put into a full stream: %v, want ErrFull and DeadlineExceeded", err)
	}
	// Measured against the context's own deadline: a start time taken after the
	// context was made would run late on a loaded machine and make Put look early.
	if early := time.Until(deadline); early > 0 {
		t.Errorf("Put gave up %v before its context's deadline", early)
	}
	if s.Used() != 1000 || s.Waiting() != 0 {
		t.Errorf("after a failed Put: Used() = %d, %d waiting; want 1000, 0", s.Used(), s.Waiting())
	}

	// A Put without deadline blocks until a consumer acknowledges.
	blocked := make(chan error, 1)
	go func() {
		blocked <- s.Put(context.Background(), "fw", []stream.Record{hundred(11), hundred(12), hundred(13)})
	}()
	waitFor(t, "the Put to block", func() bool { return s.Waiting() == 1 })
	select {
	case err := <-blocked:
		t.Fatalf("Put into a full stream returned %v without a consumer", err)
	case <-time.After(20 * time.Millisecond):
	}

	var r recorder
	var overCapacity atomic.Int32
	stop := consume(t, s, func(ctx context.Context, b stream.Batch) error {
		if s.Used() > s.Capacity() {
			overCapacity.Add(1)
		}
		return r.handle(ctx, b)
	})
	select {
	case err := <-blocked:
		if err != nil {
			t.Fatalf("blocked Put: %v, want nil once a consumer runs", err)
		}
	case <-time.After(patience):
		t.Fatal("blocked Put did not return after a consumer started")
	}
	waitEmpty(t, s)
	stop()
	if n := len(r.records()); n != 13 {
		t.Errorf("delivered %d records, want 13 (the timed-out Put must not count)", n)
	}
	if overCapacity.Load() > 0 {
		t.Error("Used() exceeded Capacity()")
	}
}

// TestBlockedPutsFIFO checks that a large blocked Put is served before smaller Puts that
// came after it, even when room for the smaller ones frees up first.
func TestBlockedPutsFIFO(t *testing.T) {
	s := newStream(t, embedded.Config{
		Streams: []string{"fw"}, Shards: 1, MaxBytes: 1000, MaxRecordBytes: 100, BatchRecords: 1,
	})
	for i := range 10 {
		put(t, s, "fw", rec("k", fmt.Sprintf("%-99d", i)))
	}
	var large []stream.Record
	for i := range 5 {
		large = append(large, rec("k", fmt.Sprintf("L%-98d", i)))
	}
	done := make(chan string, 2)
	go func() {
		if err := s.Put(context.Background(), "fw", large); err != nil {
			t.Errorf("large Put: %v", err)
		}
		done <- "large"
	}()
	waitFor(t, "the large Put to wait", func() bool { return s.Waiting() == 1 })

	// The consumer acknowledges one 100-byte record per step.
	step := make(chan struct{})
	freeAll := make(chan struct{})
	stop := consume(t, s, func(ctx context.Context, _ stream.Batch) error {
		select {
		case <-step:
		case <-freeAll:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	step <- struct{}{}
	waitFor(t, "one acknowledgement", func() bool { return s.Used() == 900 })

	// 100 bytes are free: enough for a small Put, but the large one is first in line.
	go func() {
		if err := s.Put(context.Background(), "fw", []stream.Record{rec("k", "small")}); err != nil {
			t.Errorf("small Put: %v", err)
		}
		done <- "small"
	}()
	waitFor(t, "the small Put to wait or finish", func() bool { return s.Waiting() == 2 || len(done) > 0 })
	if len(done) > 0 {
		t.Fatalf("the small Put went ahead of the waiting large one")
	}
	// Four more acknowledgements make room for the large Put and fill the stream
	// again, so the small one must still wait: the large one finishes first.
	for range 4 {
		step <- struct{}{}
	}
	select {
	case who := <-done:
		if who != "large" {
			t.Fatalf("the %s Put finished first, want the large one", who)
		}
	case <-time.After(patience):
		t.Fatal("the large Put did not complete")
	}
	close(freeAll)
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("the small Put did not complete")
	}
	waitEmpty(t, s)
	stop()
}

func TestWaitEmpty(t *testing.T) {
	s := newStream(t, embedded.Config{Streams: []string{"fw"}})
	if err := s.WaitEmpty(context.Background()); err != nil {
		t.Fatalf("WaitEmpty on an empty stream: %v", err)
	}
	put(t, s, "fw", rec("k", "1234"), rec("j", "5678"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err := s.WaitEmpty(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "10 bytes") {
		t.Fatalf("WaitEmpty with no consumer: %v, want DeadlineExceeded naming 10 bytes", err)
	}

	released := make(chan struct{})
	var calls atomic.Int32
	stop := consume(t, s, func(context.Context, stream.Batch) error {
		calls.Add(1)
		<-released
		return nil
	})
	waitDone := make(chan error, 1)
	go func() { waitDone <- s.WaitEmpty(context.Background()) }()
	waitFor(t, "a delivery", func() bool { return calls.Load() > 0 })
	select {
	case err := <-waitDone:
		t.Fatalf("WaitEmpty returned %v before the records were acknowledged", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(released)
	select {
	case err := <-waitDone:
		if err != nil {
			t.Fatalf("WaitEmpty: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("WaitEmpty did not return after the records were acknowledged")
	}
	if s.Used() != 0 {
		t.Errorf("Used() = %d after WaitEmpty", s.Used())
	}
	stop()
}

// TestRedeliveryAfterRestart stops a Consume whose handlers hold or fail batches and
// checks that a new Consume delivers those records again.
func TestRedeliveryAfterRestart(t *testing.T) {
	for _, mode := range []string{"blocked", "failing"} {
		t.Run(mode, func(t *testing.T) {
			s := newStream(t, embedded.Config{
				Streams: []string{"fw", "ids"}, Shards: 2, RetryBackoff: time.Millisecond,
			})
			want := map[string]string{} // data -> sequence of its first delivery
			var batch []stream.Record
			for i := range 20 {
				batch = append(batch, rec("k"+strconv.Itoa(i), strconv.Itoa(i)))
			}
			put(t, s, "fw", batch...)
			put(t, s, "ids", batch[:5]...)
			used := s.Used()

			var (
				mu        sync.Mutex
				delivered = map[string]string{}
				inFlight  atomic.Int32
			)
			stop := consume(t, s, func(ctx context.Context, b stream.Batch) error {
				inFlight.Add(1)
				defer inFlight.Add(-1)
				mu.Lock()
				for _, d := range b.Records {
					delivered[d.Stream+"/"+string(d.Data)] = d.Shard + "/" + d.Sequence
				}
				mu.Unlock()
				if mode == "blocked" {
					<-ctx.Done()
					time.Sleep(5 * time.Millisecond) // Consume must wait for this
					return ctx.Err()
				}
				return errors.New("sink down")
			})
			waitFor(t, "every record to be delivered once", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(delivered) == 25
			})
			stop()
			if n := inFlight.Load(); n != 0 {
				t.Fatalf("Consume returned with %d handler calls still running", n)
			}
			if s.Used() != used {
				t.Fatalf("Used() = %d after unacknowledged deliveries, want %d", s.Used(), used)
			}
			mu.Lock()
			for k, v := range delivered {
				want[k] = v
			}
			mu.Unlock()

			var r recorder
			stop2 := consume(t, s, r.handle)
			waitEmpty(t, s)
			stop2()
			got := map[string]string{}
			for _, d := range r.records() {
				got[d.Stream+"/"+string(d.Data)] = d.Shard + "/" + d.Sequence
			}
			if len(got) != len(want) {
				t.Errorf("second Consume delivered %d records, want %d", len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("record %s: first delivered at %s, redelivered at %q", k, v, got[k])
				}
			}
		})
	}
}

func TestSecondConsumeFails(t *testing.T) {
	s := newStream(t, embedded.Config{Streams: []string{"fw"}})
	if err := s.Consume(context.Background(), nil); err == nil {
		t.Error("Consume with a nil handler returned nil")
	}
	var r recorder
	stop := consume(t, s, r.handle)
	put(t, s, "fw", rec("k", "x"))
	waitEmpty(t, s) // the first Consume is running

	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := s.Consume(ctx, r.handle); err == nil {
		t.Error("a second concurrent Consume returned nil, want an error")
	}
	stop()
	// Once the first has returned, a new Consume may start.
	stop = consume(t, s, r.handle)
	put(t, s, "fw", rec("k", "y"))
	waitEmpty(t, s)
	stop()
	if n := len(r.records()); n != 2 {
		t.Errorf("delivered %d records, want 2", n)
	}
}

// TestCompactionBounded streams many records through one shard and checks that the
// stream's slices do not keep growing or stay large once drained.
func TestCompactionBounded(t *testing.T) {
	s := newStream(t, embedded.Config{Streams: []string{"fw"}, Shards: 1, BatchRecords: 3})
	var r atomic.Int64
	stop := consume(t, s, func(_ context.Context, b stream.Batch) error {
		r.Add(int64(len(b.Records)))
		return nil
	})
	batch := make([]stream.Record, 100)
	for i := range batch {
		batch[i] = rec("k", "0123456789")
	}
	for range 300 {
		put(t, s, "fw", batch...)
	}
	waitEmpty(t, s)
	stop()
	if r.Load() != 30000 {
		t.Errorf("delivered %d records, want 30000", r.Load())
	}
	if entries, capacity := s.Retained(); entries != 0 || capacity > 4096 {
		t.Errorf("drained stream retains %d entries, capacity %d", entries, capacity)
	}
}

func benchRecords(n int) []stream.Record {
	recs := make([]stream.Record, n)
	data := []byte(strings.Repeat("x", 480))
	for i := range recs {
		recs[i] = stream.Record{PartitionKey: fmt.Sprintf("host-%04d", i), Data: data}
	}
	return recs
}

// BenchmarkPut puts batches of 100 records of ~500 bytes with a consumer running.
func BenchmarkPut(b *testing.B) {
	s := newStream(b, embedded.Config{Streams: []string{"fw"}})
	stop := consume(b, s, func(context.Context, stream.Batch) error { return nil })
	recs := benchRecords(100)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(100 * recs[0].Size()))
	n := 0
	for b.Loop() {
		if err := s.Put(ctx, "fw", recs); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*len(recs))/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	waitEmpty(b, s)
	stop()
}

// BenchmarkPutParallel is BenchmarkPut from GOMAXPROCS producers at once.
func BenchmarkPutParallel(b *testing.B) {
	s := newStream(b, embedded.Config{Streams: []string{"fw"}, Shards: 8})
	stop := consume(b, s, func(context.Context, stream.Batch) error { return nil })
	recs := benchRecords(100)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetBytes(int64(100 * recs[0].Size()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Put(ctx, "fw", recs); err != nil {
				b.Error(err)
				return
			}
			n.Add(1)
		}
	})
	b.ReportMetric(float64(n.Load()*int64(len(recs)))/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	waitEmpty(b, s)
	stop()
}
