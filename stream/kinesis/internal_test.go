package kinesis

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"go.opentelemetry.io/otel/metric/noop"
	"golang.org/x/sync/semaphore"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestBucketKeepsShardUnderLimits drives a shard's token bucket with a fake clock, as
// greedily as it allows, and checks every one-second window against the shard limits
// and the average against them: the limiter neither overshoots nor wastes the shard.
func TestBucketKeepsShardUnderLimits(t *testing.T) {
	limits := ShardLimits{BytesPerSecond: bytesize.MiB, RecordsPerSecond: 1000, Burst: 40 * time.Millisecond}
	const run = 20 * time.Second
	for _, tc := range []struct {
		name string
		size func(*rand.Rand) int
		// slack is what one window may exceed the bytes limit by: a record larger
		// than the bucket is sent whole when the bucket is full, leaving it in debt.
		slack    int
		minBytes float64 // the least average share of the bytes limit
		minRecs  float64 // the least average share of the records limit
	}{
		{"events of 500 bytes", func(*rand.Rand) int { return 500 }, 0, 0.45, 0.95},
		{"aggregated records within the bucket", func(r *rand.Rand) int { return 1000 + r.IntN(40000) }, 0, 0.95, 0},
		{"records larger than the bucket", func(r *rand.Rand) int { return 50000 + r.IntN(50000) }, 100000, 0.9, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 1))
			now := t0
			b := newBucket(limits, now)
			type send struct {
				at    time.Time
				bytes int
			}
			var sends []send
			for now.Before(t0.Add(run)) {
				size := tc.size(r)
				for !b.allows(now, size, 1) {
					w := b.wait(now, size, 1)
					if w <= 0 {
						t.Fatalf("bucket refuses %d bytes at %v but says wait %v", size, now.Sub(t0), w)
					}
					now = now.Add(w)
				}
				b.take(now, size, 1)
				sends = append(sends, send{now, size})
			}
			// Every window [sends[i].at, +1s): two pointers over the sends.
			var total, inWindow, j int
			for i, s := range sends {
				total += s.bytes
				for j < len(sends) && sends[j].at.Sub(s.at) < time.Second {
					inWindow += sends[j].bytes
					j++
				}
				if inWindow > int(limits.BytesPerSecond)+tc.slack || j-i > limits.RecordsPerSecond {
					t.Fatalf("window from %v holds %d bytes and %d records, limits %d+%d and %d",
						s.at.Sub(t0), inWindow, j-i, limits.BytesPerSecond, tc.slack, limits.RecordsPerSecond)
				}
				inWindow -= s.bytes
			}
			secs := now.Sub(t0).Seconds()
			byteShare := float64(total) / secs / float64(limits.BytesPerSecond)
			recShare := float64(len(sends)) / secs / float64(limits.RecordsPerSecond)
			t.Logf("%.1f%% of the bytes limit, %.1f%% of the records limit", 100*byteShare, 100*recShare)
			if byteShare < tc.minBytes || recShare < tc.minRecs {
				t.Errorf("used %.3f of the bytes and %.3f of the records limit, want at least %.2f and %.2f",
					byteShare, recShare, tc.minBytes, tc.minRecs)
			}
		})
	}
}

func TestBucketPenalize(t *testing.T) {
	b := newBucket(ShardLimits{BytesPerSecond: 1000, RecordsPerSecond: 100, Burst: 100 * time.Millisecond}, t0)
	if !b.allows(t0, 100, 10) {
		t.Fatal("a full bucket refuses its capacity")
	}
	b.penalize(t0)
	if b.allows(t0, 1, 1) {
		t.Fatal("a penalized bucket still allows a send at once")
	}
	if w := b.wait(t0, 100, 1); w < 100*time.Millisecond || w > 150*time.Millisecond {
		t.Errorf("after a penalty, a bucketful takes %v to refill, want about 111ms", w)
	}
}

func TestHashKeys(t *testing.T) {
	for _, s := range []string{"0", "1", "18446744073709551615", "18446744073709551616", "340282366920938463463374607431768211455"} {
		h, err := parseHashKey(s)
		if err != nil {
			t.Fatalf("parseHashKey(%s): %v", s, err)
		}
		if h.String() != s {
			t.Errorf("parseHashKey(%s).String() = %s", s, h.String())
		}
	}
	for _, s := range []string{"", "-1", "x", "340282366920938463463374607431768211456"} {
		if _, err := parseHashKey(s); err == nil {
			t.Errorf("parseHashKey(%q) succeeded", s)
		}
	}
	// The MD5 of a key read as a big-endian number, as Kinesis does.
	for _, key := range []string{"host-1", "", "ü"} {
		sum := md5.Sum([]byte(key))
		if got, want := hashOf(key).String(), new(big.Int).SetBytes(sum[:]).String(); got != want {
			t.Errorf("hashOf(%q) = %s, want %s", key, got, want)
		}
	}
}

func TestShardMapFind(t *testing.T) {
	// Four equal ranges, as CreateStream makes them.
	quarter := hashKey{1 << 62, 0}
	m := &shardMap{shards: []shardRange{
		{id: "0", start: hashKey{}, end: hashKey{1<<62 - 1, ^uint64(0)}},
		{id: "1", start: quarter, end: hashKey{2<<62 - 1, ^uint64(0)}},
		{id: "2", start: hashKey{2 << 62, 0}, end: hashKey{3<<62 - 1, ^uint64(0)}},
		{id: "3", start: hashKey{3 << 62, 0}, end: hashKey{^uint64(0), ^uint64(0)}},
	}}
	for _, tc := range []struct {
		h    hashKey
		want string
	}{
		{hashKey{}, "0"},
		{hashKey{1<<62 - 1, ^uint64(0)}, "0"},
		{quarter, "1"},
		{hashKey{3 << 62, 1}, "3"},
		{hashKey{^uint64(0), ^uint64(0)}, "3"},
	} {
		if got := m.shards[m.find(tc.h)].id; got != tc.want {
			t.Errorf("find(%s) = shard %s, want %s", tc.h, got, tc.want)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testStream returns a stream producer with no client, for driving the batcher's
// packing directly.
func testStream(t *testing.T, cfg Config) *streamProducer {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p := &Producer{cfg: cfg, log: discardLogger(), ctx: context.Background()}
	m, err := newMetrics(noop.NewMeterProvider().Meter(""), p)
	if err != nil {
		t.Fatal(err)
	}
	p.metrics = m
	if cfg.Compression == CompressionZstd {
		p.comp = newCompressor(1, 1<<20)
	}
	s := newStreamProducer(p, "s", &client{endpoint: "test"})
	s.sem = semaphore.NewWeighted(1 << 50)
	_ = s.sem.Acquire(context.Background(), 1<<49) // what forgotten events give back
	s.batch.byID = map[string]*shardQueue{}
	return s
}

// TestPackingProperty is the packing property test: random events (keys of 1 to 256
// characters, data from empty to the record limit, data that looks aggregated, callers
// that give up) go through the batcher's own request building; every record stays
// within the record limit and every request within the request limits, and
// de-aggregating the records in order gives back exactly the events of the callers still
// waiting, in order. An event over the limit is refused by Put's check with an error
// wrapping stream.ErrTooLarge, never split or dropped.
func TestPackingProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	serial := 0
	for iter := range 100 {
		cfg := DefaultConfig()
		cfg.Aggregation = iter%4 != 0
		cfg.MaxRecordBytes = bytesize.Size(100 + r.IntN(64<<10))
		n := 1 + r.IntN(200)
		if iter%10 == 0 {
			cfg.MaxRecordBytes = bytesize.MiB
			n = 1 + r.IntN(30)
		}
		cfg.MaxRequestBytes = cfg.MaxRecordBytes + bytesize.Size(r.IntN(5<<20))
		cfg.MaxInflightBytes = cfg.MaxRequestBytes
		cfg.BatchRecords = 1 + r.IntN(MaxBatchRecords)
		tight := iter%3 == 0 // shard limits bind, time advances
		if !tight {
			cfg.Shard.BytesPerSecond = 64 * bytesize.GiB
			cfg.Shard.RecordsPerSecond = 1 << 30
		}
		s := testStream(t, cfg)
		p := s.p
		now := t0
		q := &shardQueue{shardRange: shardRange{id: "shard-0"}, limit: newBucket(cfg.Shard, now)}
		s.batch.shards = []*shardQueue{q}
		s.batch.byID["shard-0"] = q
		s.batch.smap = &shardMap{shards: []shardRange{q.shardRange}}

		var want []*event
		for len(want) < n {
			c := &call{done: make(chan struct{})}
			for range 1 + r.IntN(20) {
				key := strings.Repeat(string(rune('a'+r.IntN(26))), 1+r.IntN(MaxPartitionKeyChars))
				var size int
				switch r.IntN(20) {
				case 0:
					size = int(cfg.MaxRecordBytes) - len(key) // exactly at the limit
				case 1:
					size = int(cfg.MaxRecordBytes) - len(key) + 1 // one byte over
				case 2, 3:
					size = r.IntN(int(cfg.MaxRecordBytes))
				default:
					size = r.IntN(600)
				}
				size = max(size, 0)
				// Unique data: a serial number, then filler.
				data := bytes.Repeat([]byte{byte('a' + r.IntN(26))}, size)
				copy(data, fmt.Sprintf("%d:", serial))
				serial++
				if r.IntN(20) == 0 && size >= len(kpl.Magic) {
					copy(data, kpl.Magic)
				}
				rec := stream.Record{PartitionKey: key, Data: data}
				err := p.checkRecord(rec)
				wrapped := kpl.NeedsWrapping(data)
				switch {
				case rec.Size() > int(cfg.MaxRecordBytes):
					if !errors.Is(err, stream.ErrTooLarge) || !strings.Contains(err.Error(), "over max_record_bytes") {
						t.Fatalf("iter %d: record of %d bytes over the %d limit: checkRecord = %v, want ErrTooLarge", iter, rec.Size(), cfg.MaxRecordBytes, err)
					}
					continue
				case err != nil && !(wrapped && errors.Is(err, stream.ErrTooLarge)):
					t.Fatalf("iter %d: record of %d bytes within the limit refused: %v", iter, rec.Size(), err)
				case err != nil:
					continue // wrapping would take it over the limit
				}
				c.events = append(c.events, event{key: key, data: data, hash: hashOf(key), size: rec.Size(), call: c})
			}
			c.remaining = len(c.events)
			s.accept(c, now)
			gone := r.IntN(20) == 0
			for i := range c.events {
				if !gone {
					want = append(want, &c.events[i])
				}
			}
			if gone {
				c.gone.Store(true)
			}
			if len(c.events) == 0 {
				n-- // guard against only oversized events
			}
		}

		var got []kpl.UserRecord
		for rounds := 0; s.batch.pendingEvents > 0; rounds++ {
			if rounds > 100000 {
				t.Fatalf("iter %d: %d events never sent", iter, s.batch.pendingEvents)
			}
			req := s.buildRequest(now)
			if req == nil {
				if tight {
					now = now.Add(10 * time.Millisecond)
					continue
				}
				t.Fatalf("iter %d: nothing sent while %d events wait and limits are loose", iter, s.batch.pendingEvents)
			}
			if len(req.entries) > cfg.BatchRecords {
				t.Fatalf("iter %d: request of %d records, limit %d", iter, len(req.entries), cfg.BatchRecords)
			}
			total := 0
			for _, e := range req.entries {
				s.encode(e)
				if e.size != len(e.key)+len(e.data) {
					t.Fatalf("iter %d: record sized %d, is %d", iter, e.size, len(e.key)+len(e.data))
				}
				if e.size > int(cfg.MaxRecordBytes) {
					t.Fatalf("iter %d: record of %d bytes over the limit %d", iter, e.size, cfg.MaxRecordBytes)
				}
				if !cfg.Aggregation && len(e.events) != 1 {
					t.Fatalf("iter %d: aggregation off, record holds %d events", iter, len(e.events))
				}
				total += e.size
				data := e.data
				if IsCompressed(data) {
					var err error
					if data, err = (&decompressor{max: 10 << 20}).decompress(data); err != nil {
						t.Fatalf("iter %d: decompress: %v", iter, err)
					}
				}
				users, err := kpl.Deaggregate(e.key, data)
				if err != nil {
					t.Fatalf("iter %d: Deaggregate: %v", iter, err)
				}
				if len(users) != len(e.events) {
					t.Fatalf("iter %d: record holds %d user records, entry says %d", iter, len(users), len(e.events))
				}
				got = append(got, users...)
			}
			if total > int(cfg.MaxRequestBytes) {
				t.Fatalf("iter %d: request of %d bytes, limit %d", iter, total, cfg.MaxRequestBytes)
			}
			q.busy = false
			if tight {
				now = now.Add(time.Millisecond)
			}
		}
		// Events of callers that gave up are skipped unless already sealed; here every
		// gone call gave up before packing, so none of them may appear.
		if len(got) != len(want) {
			t.Fatalf("iter %d: %d user records out, %d events in", iter, len(got), len(want))
		}
		for i, u := range got {
			if u.PartitionKey != want[i].key || !bytes.Equal(u.Data, want[i].data) {
				t.Fatalf("iter %d: user record %d is %q/%d bytes, want %q/%d bytes", iter, i, u.PartitionKey, len(u.Data), want[i].key, len(want[i].data))
			}
		}
		if s.batch.pendingBytes != 0 || q.pendingBytes != 0 {
			t.Fatalf("iter %d: pending bytes left: %d, %d", iter, s.batch.pendingBytes, q.pendingBytes)
		}
	}
}

func TestFullJitterBackoff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Retry.BaseDelay, cfg.Retry.MaxDelay = 100*time.Millisecond, time.Second
	s := testStream(t, cfg)
	for attempt, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		var maxSeen time.Duration
		for range 2000 {
			d := s.backoff(attempt)
			if d <= 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want in (0, %v]", attempt, d, ceiling)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceiling*8/10 {
			t.Errorf("backoff(%d) never came near its ceiling %v (max %v): not full jitter", attempt, ceiling, maxSeen)
		}
	}
}

func TestClassify(t *testing.T) {
	if got := classify(fmt.Errorf("op: %w", context.Canceled), true); got != failClosed {
		t.Errorf("canceled while closing: %v", got)
	}
	if got := classify(errors.New("dial tcp: connection refused"), false); got != failUnreachable {
		t.Errorf("network error: %v", got)
	}
}

// TestCompressionGivesTokensBack seals compressible events into records, which spends
// their shard's byte tokens on the uncompressed size, then encodes them as a sender
// does: the bytes compression took off go back to the shard's bucket, so that the
// shard's byte limit counts compressed bytes, as Kinesis does.
func TestCompressionGivesTokensBack(t *testing.T) {
	cfg := DefaultConfig() // a bucket of 52 KB: 1 MiB/s, 50ms bursts
	s := testStream(t, cfg)
	q := &shardQueue{shardRange: shardRange{id: "shard-0"}, limit: newBucket(cfg.Shard, t0)}
	s.batch.shards = []*shardQueue{q}
	s.batch.byID["shard-0"] = q
	s.batch.smap = &shardMap{shards: []shardRange{q.shardRange}}
	put := func(n int) {
		c := &call{done: make(chan struct{})}
		for i := range n {
			data := []byte(fmt.Sprintf(`{"v":1,"type":"firewall","event":{"message":"FW-DROP SRC=203.0.113.%d DST=10.1.2.3 PROTO=TCP SPT=%d DPT=22"}}`, i%256, 1024+i))
			c.events = append(c.events, event{key: "k", data: data, hash: hashOf("k"), size: 1 + len(data), call: c})
		}
		c.remaining = len(c.events)
		s.accept(c, t0)
	}
	put(5000)
	full := q.limit.bytes
	req := s.buildRequest(t0)
	if req == nil {
		t.Fatal("no request")
	}
	spent, kept := 0, 0
	for _, e := range req.entries {
		spent += e.size
	}
	afterSeal := q.limit.bytes
	s.encodeAll(req.entries)
	for _, e := range req.entries {
		kept += e.size
		if IsCompressed(e.data) != (len(e.events) > 1) {
			t.Fatalf("a record of %d events compressed=%v", len(e.events), IsCompressed(e.data))
		}
	}
	s.takeNotes(t0)
	if got, want := q.limit.bytes-afterSeal, float64(spent-kept); got != want || want < float64(spent)/3 {
		t.Fatalf("bucket got back %.0f bytes, want the %.0f compression saved of %d spent", got, want, spent)
	}
	if q.limit.bytes > full {
		t.Fatalf("bucket holds %.0f bytes, more than it started with (%.0f)", q.limit.bytes, full)
	}

	// Now the batcher has seen a ratio: a record is charged its predicted compressed
	// size, may hold more uncompressed bytes than the bucket, and the correction leaves
	// the bucket charged exactly the compressed size.
	if s.batch.ratio <= 1 {
		t.Fatalf("predicted ratio %.2f after compressing %d bytes into %d", s.batch.ratio, spent, kept)
	}
	q.busy = false // the first request is done
	put(20000)
	before := q.limit.bytes
	req = s.buildRequest(t0)
	if req == nil {
		t.Fatal("no second request")
	}
	charged, size := 0, 0
	for _, e := range req.entries {
		charged += e.tokens
		size += e.size
	}
	if charged >= size || size <= int(before) {
		t.Fatalf("second request: %d bytes charged %d tokens from a bucket of %.0f: want more bytes than tokens and than the bucket held", size, charged, before)
	}
	s.encodeAll(req.entries)
	packed := 0
	for _, e := range req.entries {
		packed += e.size
	}
	s.takeNotes(t0)
	if got := before - q.limit.bytes; got != float64(packed) {
		t.Fatalf("bucket charged %.0f for records of %d bytes compressed", got, packed)
	}
}

// TestRetryEventsOnTheCallersSpan: a retry of a request carrying events of a traced
// call becomes one event of the caller's span, whatever the number of its records;
// an untraced call costs nothing.
func TestRetryEventsOnTheCallersSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, span := tp.Tracer("test").Start(context.Background(), "put")
	traced := &call{span: span}
	untraced := &call{}
	e := &entry{events: []*event{{call: traced}, {call: traced}, {call: untraced}}}
	traceRetry([]*entry{e, {events: []*event{{call: traced}}}}, 2, "entries", 1, &failure{kind: failThrottled}, 150*time.Millisecond)
	span.End()
	got := rec.Ended()[0].Events()
	if len(got) != 1 || got[0].Name != "kinesis.put_records.retry" {
		t.Fatalf("events %v, want one retry event", got)
	}
	attrs := map[string]string{}
	for _, a := range got[0].Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs["attempt"] != "2" || attrs["throttled_shards"] != "1" || attrs["backoff_ms"] != "150" || attrs["error"] == "" {
		t.Fatalf("attributes %v", attrs)
	}
}

// TestCompressorWindow: an encoder's window holds a whole record, so that a repeat
// from a record's start to its end is still found, and no more (its history is twice
// the window, per encoder); the frames say so, and a reader bounded to that window
// takes them.
func TestCompressorWindow(t *testing.T) {
	for _, c := range []struct{ maxRecord, want int }{
		{1, zstd.MinWindowSize},
		{zstd.MinWindowSize, zstd.MinWindowSize},
		{zstd.MinWindowSize + 1, 2 * zstd.MinWindowSize},
		{1 << 20, 1 << 20},
		{1<<20 + 1, 2 << 20},
		{10 << 20, 8 << 20},
	} {
		if got := windowSize(c.maxRecord); got != c.want {
			t.Errorf("windowSize(%d) = %d, want %d", c.maxRecord, got, c.want)
		}
	}

	const maxRecord = 1 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	head := make([]byte, 64<<10)
	for i := range head {
		head[i] = byte(rng.Uint32())
	}
	// Random bytes (nothing to find nearby), then the record's first 64 KiB again
	// almost a whole record later.
	record := make([]byte, 0, maxRecord)
	record = append(record, head...)
	for len(record) < maxRecord-len(head) {
		record = append(record, byte(rng.Uint32()))
	}
	record = append(record, head...)
	out := newCompressor(1, maxRecord).compress(record)
	if len(out) > len(record)-len(head)/2 {
		t.Errorf("compressed %d bytes to %d: the repeat %d bytes back was not found", len(record), len(out), len(record)-len(head))
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxRecord))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	back, err := dec.DecodeAll(out, nil)
	if err != nil {
		t.Fatalf("a reader with a %d-byte window: %v", maxRecord, err)
	}
	if !bytes.Equal(back, record) {
		t.Error("the record did not come back as it was")
	}
}
