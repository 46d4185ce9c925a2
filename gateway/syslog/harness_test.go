package syslog

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

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/syncbuf"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an Ingester that keeps a copy of every event it accepts. hook, when
// set, runs first and may block or fail the batch.
type recorder struct {
	limits gateway.Limits

	mu      sync.Mutex
	hook    func(ctx context.Context, b gateway.Batch) error
	docs    []recorded
	calls   int
	rejects []gateway.Rejection
	ready   bool
}

// recorded is one accepted event.
type recorded struct {
	typ string
	doc []byte
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
	if b.Receiver != "syslog" {
		return gateway.Result{}, fmt.Errorf("receiver %q", b.Receiver)
	}
	if p := gateway.PrincipalFrom(ctx); p == nil || !strings.HasPrefix(p.Name, "syslog/") {
		return gateway.Result{}, gateway.Errorf(gateway.KindUnauthenticated, "no syslog principal")
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
		r.docs = append(r.docs, recorded{typ: ev.Type, doc: bytes.Clone(ev.Doc)})
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

func (r *recorder) ingestCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// messages returns the message field of every accepted event, in order.
func (r *recorder) messages(t testing.TB) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.docs))
	for i, d := range r.docs {
		out[i] = decode(t, d.doc)["message"].(string)
	}
	return out
}

// syncBuffer is syncbuf.Buffer: output written by one goroutine, read by another.
type syncBuffer = syncbuf.Buffer

// harness is a running server and what a test observes of it.
type harness struct {
	srv         *Server
	tcp, tls    string
	udp         string
	logs        *syncBuffer
	reader      *sdkmetric.ManualReader
	stop        func() // ends Run and waits for it
	runReturned chan struct{}
}

// testConfig is the configuration tests start from: defaults, free ports on
// 127.0.0.1 for TCP and UDP, TLS off.
func testConfig() Config {
	cfg := DefaultConfig("127.0.0.1")
	cfg.TCP.Addr = "127.0.0.1:0"
	cfg.UDP.Addr = "127.0.0.1:0"
	cfg.UDP.ReadBufferBytes = 0
	return cfg
}

func start(t *testing.T, ing Ingester, cfg Config, opts ...func(*Options)) *harness {
	t.Helper()
	h := &harness{logs: &syncBuffer{}, reader: sdkmetric.NewManualReader(), runReturned: make(chan struct{})}
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
	h.srv = srv
	if a := srv.TCPAddr(); a != nil {
		h.tcp = a.String()
	}
	if a := srv.TLSAddr(); a != nil {
		h.tls = a.String()
	}
	if a := srv.UDPAddr(); a != nil {
		h.udp = a.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := srv.Run(ctx)
		close(h.runReturned)
		done <- err
	}()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not return within 15s of its context ending")
			}
		})
	}
	t.Cleanup(func() {
		h.stop()
		_ = provider.Shutdown(context.Background())
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h
}

// counter sums the data points of an int64 counter (or gauge) whose attributes include
// the given key=value pairs.
func (h *harness) counter(t testing.TB, name string, kv ...string) int64 {
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

// eventually waits up to 10s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// realGateway is the gateway core over an embedded stream, and what was produced to
// it, read back by a consumer.
type realGateway struct {
	gw  *gateway.Gateway
	ms  *embedded.Stream
	mu  sync.Mutex
	got []stream.Envelope
}

// newGateway starts the gateway core (default config, changed by edit) over an
// embedded stream, and a consumer that keeps every envelope.
func newGateway(t *testing.T, edit func(*gateway.Config)) *realGateway {
	t.Helper()
	gwcfg := gateway.DefaultConfig()
	gwcfg.Auth.Disabled = true
	if edit != nil {
		edit(&gwcfg)
	}
	ms, err := embedded.New(embedded.Config{Streams: gwcfg.StreamNames(), MaxBytes: int64(64 * bytesize.MiB)})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gwcfg, ms, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := &realGateway{gw: gw, ms: ms}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ms.Consume(ctx, func(_ context.Context, b stream.Batch) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, r := range b.Records {
				env, err := stream.ParseEnvelope(r.Data)
				if err != nil {
					return err
				}
				env.Event = slices.Clone(env.Event)
				g.got = append(g.got, env)
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return g
}

// wait waits until n events have been consumed and returns them, sorted by message.
func (g *realGateway) wait(t testing.TB, n int) []stream.Envelope {
	t.Helper()
	eventually(t, fmt.Sprintf("%d events in the stream", n), func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.got) >= n
	})
	time.Sleep(20 * time.Millisecond) // more than n would show now
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.got) != n {
		t.Fatalf("%d events in the stream, want %d", len(g.got), n)
	}
	out := slices.Clone(g.got)
	slices.SortFunc(out, func(a, b stream.Envelope) int { return bytes.Compare(a.Event, b.Event) })
	return out
}

// eventMessage returns the message of an envelope's event.
func eventMessage(t testing.TB, env stream.Envelope) string {
	t.Helper()
	var ev struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(env.Event, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Message
}
