package lumberjack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/syncbuf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an Ingester that keeps a copy of every event it accepts. hook, when
// set, runs first and may block or fail the batch.
type recorder struct {
	limits gateway.Limits
	hook   func(ctx context.Context, b gateway.Batch) error

	mu      sync.Mutex
	docs    [][]byte
	ids     []string // the identity of each of docs (gateway.Event.ID)
	calls   int
	rejects []gateway.Rejection
	ready   bool
}

func newRecorder() *recorder {
	return &recorder{limits: gateway.DefaultConfig().Limits, ready: true}
}

func (r *recorder) Limits() gateway.Limits { return r.limits }

func (r *recorder) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

func (r *recorder) Ingest(ctx context.Context, b gateway.Batch) (gateway.Result, error) {
	if b.Receiver != "lumberjack" {
		return gateway.Result{}, fmt.Errorf("receiver %q", b.Receiver)
	}
	if gateway.PrincipalFrom(ctx) == nil {
		return gateway.Result{}, gateway.Errorf(gateway.KindUnauthenticated, "no principal")
	}
	r.mu.Lock()
	r.calls++
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, b); err != nil {
			return gateway.Result{}, err
		}
	}
	var res gateway.Result
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ev := range b.Events {
		if ev.Err != nil {
			rj := gateway.Rejection{Index: i, Kind: gateway.KindOf(ev.Err), Reason: ev.Err.Error()}
			res.Rejections = append(res.Rejections, rj)
			r.rejects = append(r.rejects, rj)
			continue
		}
		r.docs = append(r.docs, bytes.Clone(ev.Doc))
		r.ids = append(r.ids, string(ev.ID))
		res.Accepted++
	}
	return res, nil
}

func (r *recorder) setHook(h func(ctx context.Context, b gateway.Batch) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hook = h
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.docs)
}

func (r *recorder) snapshot() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.docs)
}

// syncBuffer is syncbuf.Buffer: output written by one goroutine, read by another.
type syncBuffer = syncbuf.Buffer

// harness is a running server and what a test observes of it.
type harness struct {
	srv    *Server
	addr   string
	logs   *syncBuffer
	reader *sdkmetric.ManualReader
	stop   func() // ends Run and waits for it
}

// testConfig is the configuration tests start from: defaults, a free port, short
// timeouts.
func testConfig() Config {
	cfg := DefaultConfig("127.0.0.1")
	cfg.Addr = "127.0.0.1:0"
	cfg.ReadTimeout = 5 * time.Second
	return cfg
}

func start(t *testing.T, ing Ingester, cfg Config, opts ...func(*Options)) *harness {
	t.Helper()
	h := &harness{logs: &syncBuffer{}, reader: sdkmetric.NewManualReader()}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	o := Options{
		Logger:       slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Meter:        provider.Meter("test"),
		DrainTimeout: 5 * time.Second,
	}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(ing, cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	h.srv, h.addr = srv, srv.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10s of its context ending")
			}
			_ = provider.Shutdown(context.Background())
		})
	}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h
}

// counter sums the data points of an int64 counter (or gauge) whose attributes include
// the given key=value pairs.
func (h *harness) counter(t *testing.T, name string, kv ...string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				if matches(p.Attributes, kv) {
					sum += p.Value
				}
			}
		}
	}
	return sum
}

func matches(set attribute.Set, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if v, ok := set.Value(attribute.Key(kv[i])); !ok || v.AsString() != kv[i+1] {
			return false
		}
	}
	return true
}

// eventually waits up to 5s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// events returns n Filebeat-shaped events with ids from first, as the client sends
// them (encoded by the client: raw JSON, which it checks and compacts).
func events(first, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = json.RawMessage(filebeatEvent(first+i, []string{"firewall", "ids", ""}[i%3]))
	}
	return out
}

// wantDocs is what the receiver must pass on for events: each exactly as the client
// encoded it (encoding/json, which escapes <, > and &), without the @metadata member.
func wantDocs(t *testing.T, evs []any) []string {
	t.Helper()
	out := make([]string, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		raw := string(b)
		if !strings.Contains(raw, filebeatMetadata) {
			t.Fatalf("event without @metadata: %s", raw)
		}
		out[i] = strings.Replace(raw, filebeatMetadata, "", 1)
	}
	return out
}

func docsEqual(t *testing.T, got [][]byte, want []string) {
	t.Helper()
	g := make([]string, len(got))
	for i, d := range got {
		g[i] = string(d)
	}
	slices.Sort(g)
	w := slices.Clone(want)
	slices.Sort(w)
	if len(g) != len(w) {
		t.Fatalf("received %d events, sent %d", len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("event differs:\n got  %s\n want %s", g[i], w[i])
		}
	}
}

// TestGoLumberClients sends windows with go-lumber's own client, synchronous and
// asynchronous (two windows in flight), at compression levels 0, 3 and 9: every event
// arrives exactly as sent (without @metadata) and every window is ACKed in full.
func TestGoLumberClients(t *testing.T) {
	for _, mode := range []string{"sync", "async"} {
		for _, level := range []int{0, 3, 9} {
			t.Run(fmt.Sprintf("%s/level%d", mode, level), func(t *testing.T) {
				t.Parallel()
				rec := newRecorder()
				h := start(t, rec, testConfig())
				sizes := []int{1, 2048, 1, 700}
				var want []string
				var windows [][]any
				next := 0
				for _, n := range sizes {
					w := events(next, n)
					next += n
					windows = append(windows, w)
					want = append(want, wantDocs(t, w)...)
				}
				send(t, h.addr, mode, level, windows)
				docsEqual(t, rec.snapshot(), want)
				if got := h.counter(t, "sluice_lumberjack_windows"); got != int64(len(sizes)) {
					t.Errorf("windows metric %d, want %d", got, len(sizes))
				}
				if got := h.counter(t, "sluice_lumberjack_events", "result", "accepted"); got != int64(next) {
					t.Errorf("accepted events metric %d, want %d", got, next)
				}
			})
		}
	}
}

// send sends each window with a go-lumber client and checks that each is ACKed in full.
func send(t *testing.T, addr, mode string, level int, windows [][]any, opts ...lj.Option) {
	t.Helper()
	opts = append([]lj.Option{lj.CompressionLevel(level), lj.Timeout(10 * time.Second)}, opts...)
	switch mode {
	case "sync":
		c, err := lj.SyncDial(addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i, w := range windows {
			n, err := c.Send(w)
			if err != nil || n != len(w) {
				t.Fatalf("window %d of %d events: ACKed %d, %v", i, len(w), n, err)
			}
		}
	case "async":
		c, err := lj.AsyncDial(addr, 2, opts...)
		if err != nil {
			t.Fatal(err)
		}
		type ack struct {
			seq uint32
			err error
		}
		acks := make(chan ack, len(windows))
		for i, w := range windows {
			if err := c.Send(func(seq uint32, err error) { acks <- ack{seq, err} }, w); err != nil {
				t.Fatalf("send window %d: %v", i, err)
			}
		}
		for i, w := range windows {
			a := <-acks
			if a.err != nil || a.seq != uint32(len(w)) {
				t.Fatalf("window %d of %d events: ACKed %d, %v", i, len(w), a.seq, a.err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("mode %q", mode)
	}
}
