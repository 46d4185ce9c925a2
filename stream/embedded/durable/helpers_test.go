package durable_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded/durable"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait that should succeed; failures are reported, not hung.
const patience = 10 * time.Second

// logs collects what a stream logs, and passes it to the test log with -v.
type logs struct {
	t   testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

func newLogs(t testing.TB) *logs { return &logs{t: t} }

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if testing.Verbose() {
		l.t.Log(strings.TrimSpace(string(p)))
	}
	return l.buf.Write(p)
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the logged lines that contain every one of parts.
func (l *logs) lines(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.buf.String()) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// clock is a fake clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// config returns a configuration of one stream "fw" in a new directory, logging to l.
func config(t testing.TB, l *logs) durable.Config {
	return durable.Config{Dir: t.TempDir(), Streams: []string{"fw"}, Logger: l.logger()}
}

// open opens a stream and closes it when the test ends.
func open(t testing.TB, cfg durable.Config) *durable.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	s, err := durable.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func put(t testing.TB, s *durable.Stream, name string, recs ...stream.Record) {
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

// records returns n records with the same partition key (so one shard), data
// prefix-0 .. prefix-(n-1).
func records(key, prefix string, n int) []stream.Record {
	out := make([]stream.Record, n)
	for i := range out {
		out[i] = rec(key, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// reader opens a reader of a shard.
func reader(t testing.TB, s *durable.Stream, name, shard string, from stream.Checkpoint, start stream.Start) stream.ShardReader {
	t.Helper()
	r, err := s.Open(context.Background(), name, shard, from, start)
	if err != nil {
		t.Fatalf("Open reader of %s/%s: %v", name, shard, err)
	}
	return r
}

// done is a context that has ended: a Read with it returns what is there without
// waiting for more.
var done = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// drain reads everything the reader has now, without waiting for more.
func drain(t testing.TB, r stream.ShardReader) []stream.Delivered {
	t.Helper()
	var out []stream.Delivered
	for {
		page, err := r.Read(done, 1000)
		if len(page.Records) == 0 {
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("Read: %v", err)
			}
			return out
		}
		if err != nil {
			t.Fatalf("Read returned records and %v", err)
		}
		out = append(out, page.Records...)
	}
}

// drainAll reads every shard of a stream from its start.
func drainAll(t testing.TB, s *durable.Stream, name string) []stream.Delivered {
	t.Helper()
	shards, err := s.Shards(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var out []stream.Delivered
	for _, sh := range shards {
		out = append(out, drain(t, reader(t, s, name, sh.ID, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon}))...)
	}
	return out
}

func data(recs []stream.Delivered) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

// metrics reads instruments through a manual reader.
type metrics struct {
	t      testing.TB
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newMetrics(t testing.TB) *metrics {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &metrics{t: t, reader: r, mp: mp}
}

// value returns the sum of an instrument's data points (the count for a histogram),
// and whether it had any.
func (m *metrics) value(name string) (float64, bool) {
	m.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		m.t.Fatalf("collect metrics: %v", err)
	}
	var sum float64
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != name {
				continue
			}
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					sum, found = sum+float64(p.Value), true
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					sum, found = sum+float64(p.Value), true
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					sum, found = sum+p.Value, true
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sum, found = sum+float64(p.Count), true
				}
			default:
				m.t.Fatalf("metric %s has data of type %T", name, mt.Data)
			}
		}
	}
	return sum, found
}

// waitFor polls cond until it holds, failing the test after patience. It is for
// conditions with no event to wait on (a background pass that already ran).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
