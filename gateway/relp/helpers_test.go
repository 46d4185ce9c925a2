package relp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/gateway"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Handler that keeps a copy of every message it accepts. hook, when set,
// runs first and may block, fail the batch or reject messages.
type recorder struct {
	mu      sync.Mutex
	msgs    []string
	batches []int
	calls   int
	clients []string
	hook    func(ctx context.Context, b Batch) (gateway.Result, error)
}

func (r *recorder) handle(ctx context.Context, b Batch) (gateway.Result, error) {
	if p := gateway.PrincipalFrom(ctx); p == nil || p.Name != "relp" {
		return gateway.Result{}, gateway.Errorf(gateway.KindUnauthenticated, "no relp principal")
	}
	r.mu.Lock()
	r.calls++
	r.batches = append(r.batches, len(b.Messages))
	r.clients = append(r.clients, b.Client)
	hook := r.hook
	r.mu.Unlock()
	var res gateway.Result
	if hook != nil {
		var err error
		if res, err = hook(ctx, b); err != nil {
			return res, err
		}
	}
	rejected := map[int]bool{}
	for _, rj := range res.Rejections {
		rejected[rj.Index] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range b.Messages {
		if !rejected[i] {
			r.msgs = append(r.msgs, string(m))
			res.Accepted++
		}
	}
	return res, nil
}

func (r *recorder) setHook(h func(ctx context.Context, b Batch) (gateway.Result, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hook = h
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func (r *recorder) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *recorder) batchSizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.batches...)
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testServer is a running server with its recorder, metrics and logs.
type testServer struct {
	srv    *Server
	rec    *recorder
	reader *sdkmetric.ManualReader
	logs   *logBuffer
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func testConfig() Config {
	cfg := DefaultConfig("127.0.0.1")
	cfg.Addr = "127.0.0.1:0"
	return cfg
}

// startServer starts a server on a free loopback port; edit changes the defaults.
func startServer(t testing.TB, edit func(*Config, *Options)) *testServer {
	t.Helper()
	cfg := testConfig()
	ts := &testServer{rec: &recorder{}, reader: sdkmetric.NewManualReader(), logs: &logBuffer{}}
	opts := Options{
		Logger:       slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Meter:        sdkmetric.NewMeterProvider(sdkmetric.WithReader(ts.reader)).Meter("test"),
		DrainTimeout: 5 * time.Second,
	}
	if edit != nil {
		edit(&cfg, &opts)
	}
	srv, err := New(ts.rec.handle, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ts.srv, ts.addr = srv, srv.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel, ts.done = cancel, make(chan error, 1)
	go func() { ts.done <- srv.Run(ctx) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop ends Run and waits for it; safe twice.
func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	ts.cancel()
	if ts.done == nil {
		return
	}
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("Run did not return")
		_ = ts.srv.Close()
	}
	ts.done = nil
}

// counter returns the sum of an int64 counter's points whose attributes include attrs.
func (ts *testServer) counter(t testing.TB, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := ts.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is %T", name, m.Data)
			}
		points:
			for _, p := range sum.DataPoints {
				for _, a := range attrs {
					if v, ok := p.Attributes.Value(a.Key); !ok || v != a.Value {
						continue points
					}
				}
				n += p.Value
			}
		}
	}
	return n
}

// rframe is a frame as the test client reads it.
type rframe struct {
	txnr uint32
	cmd  string
	data string
}

func (f rframe) String() string { return fmt.Sprintf("%d %s %q", f.txnr, f.cmd, f.data) }

// client is a small RELP client for the tests, independent of the server's parser.
type client struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	mu   sync.Mutex // guards writes and txnr
	txnr uint32
}

func dial(t testing.TB, addr string, tlsConf *tls.Config) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if tlsConf != nil {
		nc = tls.Client(nc, tlsConf)
	}
	c := &client{t: t, nc: nc, br: bufio.NewReader(nc), txnr: 1}
	t.Cleanup(func() { _ = nc.Close() })
	return c
}

// frame encodes one frame.
func frame(txnr uint32, cmd string, data string) []byte {
	s := strconv.FormatUint(uint64(txnr), 10) + " " + cmd + " " + strconv.Itoa(len(data))
	if data != "" {
		s += " " + data
	}
	return []byte(s + "\n")
}

// send writes a command with the next TXNR and returns that TXNR.
func (c *client) send(cmd, data string) uint32 {
	c.t.Helper()
	c.mu.Lock()
	txnr := c.txnr
	c.txnr = nextTxnr(c.txnr)
	c.mu.Unlock()
	c.raw(frame(txnr, cmd, data))
	return txnr
}

// raw writes bytes as they are.
func (c *client) raw(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

const openOffers = "relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog"

// open opens the session and checks the server's offers.
func (c *client) open() {
	c.t.Helper()
	txnr := c.send("open", openOffers)
	f := c.read()
	if f.txnr != txnr || f.cmd != "rsp" || !strings.HasPrefix(f.data, "200 OK\n") ||
		!strings.Contains(f.data, "\nrelp_version=0") || !strings.Contains(f.data, "\ncommands=syslog") {
		c.t.Fatalf("open answered %v", f)
	}
}

// read reads one frame the server sent, failing the test on error.
func (c *client) read() rframe {
	c.t.Helper()
	f, err := c.readErr(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

// readErr reads one frame within d.
func (c *client) readErr(d time.Duration) (rframe, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	var f rframe
	tx, err := c.br.ReadString(' ')
	if err != nil {
		return f, err
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(tx, " "), 10, 32)
	if err != nil {
		return f, fmt.Errorf("txnr %q: %w", tx, err)
	}
	f.txnr = uint32(n)
	cmd, err := c.br.ReadString(' ')
	if err != nil {
		return f, err
	}
	f.cmd = strings.TrimSuffix(cmd, " ")
	var size int
	for {
		b, err := c.br.ReadByte()
		if err != nil {
			return f, err
		}
		if b == ' ' || b == '\n' {
			if b == '\n' {
				if size != 0 {
					return f, errors.New("LF after a non-zero DATALEN")
				}
				return f, nil
			}
			break
		}
		if b < '0' || b > '9' {
			return f, fmt.Errorf("DATALEN byte %q", b)
		}
		size = size*10 + int(b-'0')
	}
	data := make([]byte, size+1)
	if _, err := io.ReadFull(c.br, data); err != nil {
		return f, err
	}
	if data[size] != '\n' {
		return f, fmt.Errorf("no trailer after %q", data)
	}
	f.data = string(data[:size])
	return f, nil
}

// expectOK reads a response and checks it answers txnr with 200 OK.
func (c *client) expectOK(txnr uint32) {
	c.t.Helper()
	f := c.read()
	if f.txnr != txnr || f.cmd != "rsp" || f.data != "200 OK" {
		c.t.Fatalf("want %d rsp 200 OK, got %v", txnr, f)
	}
}

// expectServerClose reads the serverclose hint and then the end of the connection,
// with no response in between.
func (c *client) expectServerClose() {
	c.t.Helper()
	f := c.read()
	if f.txnr != 0 || f.cmd != "serverclose" || f.data != "" {
		c.t.Fatalf("want 0 serverclose 0, got %v", f)
	}
	c.expectEOF()
}

// expectEOF checks that the server closed the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	if f, err := c.readErr(10 * time.Second); err == nil {
		c.t.Fatalf("want the connection closed, got %v", f)
	} else if !errors.Is(err, io.EOF) && !isReset(err) {
		c.t.Fatalf("want the connection closed, got %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// eventually waits until cond holds, failing after 10s.
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

// msg is a syslog message of about 200 bytes, numbered.
func msg(i int) string {
	return fmt.Sprintf("<134>1 2026-12-06T10:00:00.000Z fw01 filterlog 4242 - - rule=%d,match,block,in,4,0x0,,64,12345,0,none,6,tcp,60,203.0.113.7,198.51.100.2,51515,443,0,S,1234567890,,64240,,mss;sackOK;TS;nop;wscale", i)
}
