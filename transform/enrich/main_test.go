package enrich

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/transform/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Environment variables naming the test servers; scripts/lookupdb.sh prints them.
const (
	redisEnv    = "SLUICE_TEST_REDIS_ADDR"
	postgresEnv = "SLUICE_TEST_POSTGRES_DSN"
)

// patience bounds every wait that should succeed.
const patience = 10 * time.Second

// server returns the address of a test server from the environment. When the variable
// is unset it skips the test, except under CI=true, where it fails it: CI must never
// skip these tests silently.
func server(t testing.TB, env string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and CI=true: start the servers with `eval \"$(scripts/lookupdb.sh start)\"` (scripts/test.sh does)", env)
	}
	t.Skipf("%s is not set: run `eval \"$(scripts/lookupdb.sh start)\"` to run this test against a real server", env)
	return ""
}

// testLogger writes logs to the test log when -v is set.
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

// testMeter collects the metrics of a test.
type testMeter struct {
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
}

func newTestMeter(t testing.TB) *testMeter {
	r := sdkmetric.NewManualReader()
	p := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return &testMeter{reader: r, provider: p}
}

// sum returns the total of an int64 counter over the points whose attributes include
// attrs ("key=value" each).
func (m *testMeter) sum(t testing.TB, name string, attrs ...string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != name {
				continue
			}
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if hasAttrs(dp.Attributes, attrs) {
						total += dp.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					if hasAttrs(dp.Attributes, attrs) {
						total += int64(dp.Count)
					}
				}
			}
		}
	}
	return total
}

func hasAttrs(set attribute.Set, attrs []string) bool {
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		got, ok := set.Value(attribute.Key(k))
		if !ok || got.String() != v {
			return false
		}
	}
	return true
}

// newTestResources returns Resources closed when the test ends. With run set, Run
// reloads files every 10ms until then.
func newTestResources(t testing.TB, cfg ResourcesConfig, m *testMeter, run bool) *Resources {
	t.Helper()
	if cfg.Cache.Size == 0 {
		cfg.Cache = DefaultResourcesConfig().Cache
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = 10 * time.Millisecond
	}
	var meter metric.Meter // nil: no metrics
	if m != nil {
		meter = m.provider.Meter("test")
	}
	r, err := NewResources(context.Background(), cfg, testLogger(t), meter)
	if err != nil {
		t.Fatalf("NewResources: %v", err)
	}
	t.Cleanup(r.Close)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		t.Cleanup(func() { cancel(); wg.Wait() })
	}
	return r
}

// writeFile writes data to dir/name atomically (a temporary file renamed over it) and
// gives it a modification time that differs from any earlier version's.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	bumpMtime(t, tmp, path)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// bumpMtime sets tmp's modification time one second past old's, if old exists.
func bumpMtime(t testing.TB, tmp, old string) {
	t.Helper()
	fi, err := os.Stat(old)
	if err != nil {
		return
	}
	mt := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		t.Fatal(err)
	}
}

// eventOf returns an event with the given fields.
func eventOf(fields map[string]any) *event.Event {
	return &event.Event{Type: "test", Received: time.Unix(0, 0), Fields: fields}
}

// eventually polls cond until it holds or patience runs out.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxy is a TCP proxy to a test server that a test can take down (closing every
// connection and refusing new ones), stall (accepting connections and forwarding
// nothing) and bring back, to play a backend that fails mid-run.
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  string // up, down, stall
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, mode: "up", conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.setMode("down")
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// setMode switches the proxy; leaving "up" closes every connection.
func (p *proxy) setMode(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode != "up" {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "down" {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	_ = c.Close()
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		stalled := p.mode == "stall"
		p.mu.Unlock()
		if stalled {
			p.wg.Go(func() {
				// Read and drop everything until the connection is closed.
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						p.untrack(c)
						return
					}
				}
			})
			continue
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *proxy) forward(c net.Conn) {
	defer p.untrack(c)
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32*1024)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
}
