package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/gateway/lumberjack"
	"github.com/sluice-siem/sluice/stream/discard"
)

// newCore returns sluice's gateway core on a null stream, as `sluice gateway` runs with
// stream.kind discard.
func newCore(t *testing.T) (*gateway.Gateway, *discard.Stream) {
	t.Helper()
	cfg := gateway.DefaultConfig()
	cfg.Auth.Disabled = true
	null := discard.New()
	g, err := gateway.New(cfg, null, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g, null
}

// load runs `sluice-load run` with args and returns its summary and exit code. The test
// process is the subject of --pid: its receivers run in it.
func load(t *testing.T, args ...string) (summary, int) {
	t.Helper()
	args = append([]string{"run", "--progress", "0", "--drain", "10s", "--timeout", "20s"}, args...)
	if runtime.GOOS == "linux" {
		args = append(args, "--pid", strconv.Itoa(os.Getpid()))
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	var s summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("sluice-load %q: exit %d, summary %v\nstdout: %s\nstderr: %s", args, code, err, stdout.String(), stderr.String())
	}
	return s, code
}

// checkBookkeeping asserts that every event sent was acknowledged, once, and that
// every batch's latency was recorded.
func checkBookkeeping(t *testing.T, s summary, code int, events, batch int64) {
	t.Helper()
	wantBatches := (events + batch - 1) / batch
	if code != 0 || !s.OK || len(s.Problems) > 0 {
		t.Errorf("exit %d, ok %v, problems %q", code, s.OK, s.Problems)
	}
	if s.Events != (counts{Sent: events, Acked: events}) {
		t.Errorf("events %+v, want %d sent and acked", s.Events, events)
	}
	if s.Batches != (counts{Sent: wantBatches, Acked: wantBatches}) {
		t.Errorf("batches %+v, want %d sent and acked", s.Batches, wantBatches)
	}
	if s.Latency.Count != uint64(wantBatches) || s.Latency.P50 <= 0 || s.Latency.P50 > s.Latency.P99 || s.Latency.P99 > s.Latency.Max {
		t.Errorf("latency %+v: want %d batches, 0 < p50 <= p99 <= max", s.Latency, wantBatches)
	}
	if len(s.Errors) != 0 {
		t.Errorf("errors %v", s.Errors)
	}
	if s.EventsPerSecond <= 0 || s.PayloadMBPerSec <= 0 || s.WireMBPerSec <= 0 || s.EventBytes < 300 {
		t.Errorf("rates: %.0f events/s, %.1f MB/s payload, %.1f MB/s wire, %.0f bytes/event", s.EventsPerSecond, s.PayloadMBPerSec, s.WireMBPerSec, s.EventBytes)
	}
	// CPU time comes from /proc in clock ticks (10 ms): a run of a few tens of
	// milliseconds may honestly measure none, so only a longer one must show some.
	if runtime.GOOS == "linux" && (s.Process == nil || s.Process.CPU < 0 || s.Process.PeakRSS <= 0 ||
		(s.Process.CPU == 0 && s.Elapsed >= 0.5)) {
		t.Errorf("process figures %+v (elapsed %.3f s)", s.Process, s.Elapsed)
	}
}

func TestLumberjackToSluiceReceiver(t *testing.T) {
	g, null := newCore(t)
	cfg := config.Default(config.RoleDev).Lumberjack
	cfg.Addr = "127.0.0.1:0"
	srv, err := lumberjack.New(g, cfg, lumberjack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// 2 full windows of 2048 and one of 1904, over 2 connections.
	s, code := load(t, "--transport", "lumberjack", "--addr", srv.Addr().String(), "--connections", "2", "--events", "6000", "--shape", "mix")
	checkBookkeeping(t, s, code, 6000, 2048)
	if s.Compression != "zlib-3" || s.Inflight != 2 {
		t.Errorf("compression %q, inflight %d: want Filebeat's zlib-3, 2", s.Compression, s.Inflight)
	}
	if got := null.Records(); got != 6000 {
		t.Errorf("the stream got %d records, want 6000", got)
	}
}

func TestLumberjackToGoLumberBaseline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- baselineLumberjack(ctx, ln, 10*time.Second, false, &logs) }()

	s, code := load(t, "--transport", "lumberjack", "--addr", ln.Addr().String(), "--connections", "2", "--events", "5000", "--batch", "1000", "--role", "baseline")
	checkBookkeeping(t, s, code, 5000, 1000)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "stopped after 5 batches, 5000 events") {
		t.Errorf("baseline log: %s", logs.String())
	}
}

func TestHTTPAndBulkToSluiceReceiver(t *testing.T) {
	g, null := newCore(t)
	rc, err := httprecv.New(g, httprecv.Options{Bulk: &httprecv.Bulk{DataStreamTypes: true, Version: "8.17.0"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	s, code := load(t, "--transport", "http", "--addr", addr, "--events", "1200", "--shape", "ids", "--size", "1000")
	checkBookkeeping(t, s, code, 1200, 500)
	if s.EventBytes < 1000 || s.EventBytes > 1010 {
		t.Errorf("%.1f bytes per event, want 1000 (padded)", s.EventBytes)
	}

	s, code = load(t, "--transport", "bulk", "--addr", addr, "--events", "2500", "--gzip", "--shape", "waf")
	checkBookkeeping(t, s, code, 2500, 1000)
	if s.Compression != "gzip" {
		t.Errorf("compression %q, want gzip", s.Compression)
	}
	if got := null.Records(); got != 3700 {
		t.Errorf("the stream got %d records, want 3700", got)
	}
}

func TestGRPCToSluiceReceiver(t *testing.T) {
	g, null := newCore(t)
	svc := grpcrecv.New(g, grpcrecv.Config{}, grpcrecv.Options{})
	gs := grpc.NewServer(svc.ServerOptions()...)
	svc.Register(gs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()

	s, code := load(t, "--transport", "grpc", "--addr", ln.Addr().String(), "--events", "3000", "--batch", "250", "--inflight", "3", "--size", "700")
	checkBookkeeping(t, s, code, 3000, 250)
	if s.EventBytes < 700 || s.EventBytes > 710 {
		t.Errorf("%.1f bytes per event, want 700 (padded)", s.EventBytes)
	}
	if got := null.Records(); got != 3000 {
		t.Errorf("the stream got %d records, want 3000", got)
	}
}

// A subject that refuses or rejects some batches: every event is still accounted for,
// errors are counted by kind, and the run fails.
func TestErrorsByKind(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := bytes.Count(body, []byte("\n"))
		switch requests.Add(1) % 4 {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":"stream full","kind":"overloaded"}`)
		case 2:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"accepted":%d,"rejected":2}`, n-2)
		default:
			fmt.Fprintf(w, `{"accepted":%d,"rejected":0}`, n)
		}
	}))
	defer srv.Close()

	s, code := load(t, "--transport", "http", "--addr", strings.TrimPrefix(srv.URL, "http://"), "--connections", "1", "--events", "800", "--batch", "100")
	if code != 1 || s.OK {
		t.Errorf("exit %d, ok %v: want a failed run", code, s.OK)
	}
	want := counts{Sent: 800, Acked: 100*4 + 98*2, Rejected: 2 * 2, Failed: 100 * 2}
	if s.Events != want {
		t.Errorf("events %+v, want %+v", s.Events, want)
	}
	if s.Errors["http_429"] != 2 || s.Errors["http_400"] != 2 || len(s.Errors) != 2 {
		t.Errorf("errors %v, want 2 http_429 and 2 http_400", s.Errors)
	}
	if s.Latency.Count != 4 {
		t.Errorf("latency of %d batches, want the 4 acknowledged", s.Latency.Count)
	}

	// Within --max-error-ratio the same run passes.
	requests.Store(0)
	if s, code := load(t, "--transport", "http", "--addr", strings.TrimPrefix(srv.URL, "http://"), "--connections", "1", "--events", "800", "--batch", "100", "--max-error-ratio", "0.3"); code != 0 {
		t.Errorf("exit %d with --max-error-ratio 0.3: %q", code, s.Problems)
	}
}

// --http-ack status: a peer that answers with a status only (Benthos's http_server) has
// a 2xx acknowledge the whole request and anything else fail it; without the option
// the same answers acknowledge nothing, and the option is refused for other transports.
func TestHTTPAckByStatus(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if requests.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "rejecting due to failed processing")
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	s, code := load(t, "--transport", "http", "--http-ack", "status", "--addr", addr, "--connections", "1", "--events", "800", "--batch", "100")
	if code != 1 {
		t.Errorf("exit %d: want a failed run (two requests answered 502)", code)
	}
	if want := (counts{Sent: 800, Acked: 600, Failed: 200}); s.Events != want {
		t.Errorf("events %+v, want %+v", s.Events, want)
	}
	if s.Errors["http_502"] != 2 || len(s.Errors) != 1 {
		t.Errorf("errors %v, want 2 http_502", s.Errors)
	}

	requests.Store(1) // no 502 in the next three requests
	if s, _ := load(t, "--transport", "http", "--addr", addr, "--connections", "1", "--events", "300", "--batch", "100"); s.Events.Acked != 0 {
		t.Errorf("by count, answers without \"accepted\" acknowledged %d events, want none", s.Events.Acked)
	}

	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"run", "--transport", "bulk", "--http-ack", "status", "--addr", addr}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--http-ack status is for --transport http") {
		t.Errorf("--http-ack status with bulk: exit %d, %q", code, stderr.String())
	}
}

// Under --rate the run takes as long as the rate says, and a subject started with
// --subject-cmd is measured and stopped.
func TestRateAndSubjectCommand(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("subjects are measured through /proc")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"accepted":%d}`, bytes.Count(body, []byte("\n")))
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"run", "--progress", "0", "--transport", "http",
		"--addr", strings.TrimPrefix(srv.URL, "http://"), "--events", "3000", "--batch", "100", "--rate", "10000",
		"--subject-cmd", `sh -c 'trap "exit 0" TERM; while :; do sleep 0.02; done'`}, &stdout, &stderr)
	var s summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %s %s", code, err, stdout.String(), stderr.String())
	}
	// 3000 events at 10000/s, the first batch free: 0.29s.
	if s.Elapsed < 0.27 || s.Events.Acked != 3000 {
		t.Errorf("%d events acknowledged in %.3fs, want 3000 in at least 0.29s", s.Events.Acked, s.Elapsed)
	}
	if s.Process == nil || s.Process.PID <= 0 || s.Process.PeakRSS <= 0 || s.Process.StopProblem != "" {
		t.Errorf("process %+v", s.Process)
	}
}

func TestRefusesRemoteTargets(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{"127.0.0.1:80", "[::1]:80", "127.5.5.5:1", "localhost:9"} {
		if err := checkLoopback(ctx, addr, false); err != nil {
			t.Errorf("checkLoopback(%q): %v", addr, err)
		}
	}
	for _, addr := range []string{"10.0.0.1:80", "192.0.2.1:5044", "[2001:db8::1]:80", ":5044", "0.0.0.0:80", "nohost"} {
		if err := checkLoopback(ctx, addr, false); err == nil {
			t.Errorf("checkLoopback(%q) allowed it", addr)
		}
	}
	if err := checkLoopback(ctx, "192.0.2.1:5044", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
	var stderr bytes.Buffer
	if code := run(ctx, []string{"run", "--transport", "http", "--addr", "192.0.2.1:80"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "--allow-remote") {
		t.Errorf("run against 192.0.2.1: exit %d, %s", code, stderr.String())
	}
}
