package kinesis_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait that should succeed.
const patience = 20 * time.Second

// testConfig is the producer configuration for a test server at endpoint: static
// credentials, and retries fast enough for tests.
func testConfig(endpoint string) kinesis.Config {
	cfg := kinesis.DefaultConfig()
	cfg.Region = kinesistest.Region
	cfg.Endpoint = endpoint
	cfg.Credentials = kinesis.Credentials{AccessKeyID: kinesistest.AccessKeyID, SecretAccessKey: kinesistest.SecretAccessKey}
	cfg.Linger = 5 * time.Millisecond
	cfg.Retry.BaseDelay = 5 * time.Millisecond
	cfg.Retry.MaxDelay = 50 * time.Millisecond
	cfg.Retry.MaxAttempts = 20
	cfg.Retry.Timeout = 10 * time.Second
	cfg.RequestTimeout = 5 * time.Second
	return cfg
}

// testLogger writes the producer's logs to the test log when -v is set.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newProducer returns a producer closed (and checked to flush) when the test ends.
func newProducer(t testing.TB, cfg kinesis.Config) *kinesis.Producer {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	p, err := kinesis.New(context.Background(), cfg, kinesis.Options{Logger: testLogger(t), Meter: mp.Meter("test")})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	trackResends(t, reader)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// producerMetrics holds, per test, the metric readers of the producers newProducer
// made for it, so that verify can tell the duplicates a producer owns to from others.
var producerMetrics sync.Map // testing.TB -> *metricReaders

// trackResends adds a producer's metric reader to the test's, for resent.
func trackResends(t testing.TB, r *sdkmetric.ManualReader) {
	readers, loaded := producerMetrics.LoadOrStore(t, &metricReaders{})
	if !loaded {
		t.Cleanup(func() { producerMetrics.Delete(t) })
	}
	readers.(*metricReaders).add(r)
}

type metricReaders struct {
	mu      sync.Mutex
	readers []*sdkmetric.ManualReader
}

func (m *metricReaders) add(r *sdkmetric.ManualReader) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.readers = append(m.readers, r)
}

// resent is how many events the test's producers sent again after a request whose
// answer was lost (sluice_kinesis_events_resent): each may be in the stream twice.
// A busy server that resets a connection after storing a PutRecords makes them.
func resent(t testing.TB) int64 {
	t.Helper()
	v, ok := producerMetrics.Load(t)
	if !ok {
		return 0
	}
	m := v.(*metricReaders)
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, r := range m.readers {
		n += sums(t, r)["sluice_kinesis_events_resent"]
	}
	return n
}

// events returns n records over keys partition keys, each with a unique payload that
// names its key and its place among that key's events, padded to about size bytes.
func events(r *rand.Rand, tag string, n, keys, size int) []stream.Record {
	seq := make(map[int]int)
	out := make([]stream.Record, n)
	for i := range out {
		k := r.IntN(keys)
		data := fmt.Sprintf(`{"tag":%q,"i":%d,"key":%d,"seq":%d,"pad":"`, tag, i, k, seq[k])
		seq[k]++
		if pad := size - len(data) - 2; pad > 0 {
			data += strings.Repeat("x", pad)
		}
		out[i] = stream.Record{PartitionKey: fmt.Sprintf("host-%s-%d", tag, k), Data: []byte(data + `"}`)}
	}
	return out
}

// verify reads the stream back and checks that it holds exactly want (each event
// once, same content), each user record on a shard that owns its partition key when
// owned is set, and the events of each key in the order of want when ordered is set.
func verify(t testing.TB, endpoint, streamName string, want []stream.Record, owned, ordered bool) []kinesistest.Record {
	t.Helper()
	c := kinesistest.Client(t, endpoint)
	recs := kinesistest.ReadAll(t, c, streamName)
	shards := map[string]kinesistest.Shard{}
	for _, s := range kinesistest.Shards(t, c, streamName) {
		shards[s.ID] = s
	}
	wantCount := map[string]int{}
	wantOrder := map[string][]string{}
	for _, r := range want {
		wantCount[string(r.Data)]++
		wantOrder[r.PartitionKey] = append(wantOrder[r.PartitionKey], string(r.Data))
	}
	got := map[string]int{}
	gotOrder := map[string][]string{}
	events := 0
	for _, r := range recs {
		sh := shards[r.Shard]
		for _, u := range r.Users {
			events++
			got[string(u.Data)]++
			gotOrder[u.PartitionKey] = append(gotOrder[u.PartitionKey], string(u.Data))
			if owned && !sh.Owns(u.PartitionKey) {
				t.Errorf("event with key %q is on shard %s, which does not own its hash key", u.PartitionKey, r.Shard)
			}
			if wantCount[string(u.Data)] == 0 {
				t.Errorf("stream holds an event that was never sent: %.80q", u.Data)
			}
		}
	}
	// Duplicates are allowed only as many as the producer resent after lost answers
	// (at-least-once); then order is that of each event's first copy.
	dups := 0
	for data, n := range wantCount {
		if got[data] > n {
			dups += got[data] - n
		}
	}
	allowed := resent(t)
	if dups > 0 && int64(dups) <= allowed {
		t.Logf("%d duplicate events: the producer resent %d after requests whose answers were lost", dups, allowed)
		for key, g := range gotOrder {
			gotOrder[key] = firstCopies(g)
		}
	} else {
		dups = 0
	}
	if events != len(want)+dups {
		t.Errorf("stream holds %d events, want %d (the producer resent %d after lost answers)", events, len(want), allowed)
	}
	for data, n := range wantCount {
		if got[data] < n || (got[data] > n && dups == 0) {
			t.Errorf("event %.80q is in the stream %d times, want %d", data, got[data], n)
		}
	}
	for key, order := range wantOrder {
		if g := gotOrder[key]; ordered && strings.Join(g, "\n") != strings.Join(order, "\n") {
			t.Errorf("events of key %q are out of order or missing: got %d, want %d", key, len(g), len(order))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return recs
}

// firstCopies returns events without the repeats of one seen before.
func firstCopies(events []string) []string {
	seen := make(map[string]bool, len(events))
	out := events[:0:0]
	for _, e := range events {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}
