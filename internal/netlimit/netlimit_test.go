package netlimit_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/internal/netlimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait is the bound of every wait for an event.
const wait = 10 * time.Second

// fixture is a Group with a metric reader and a log that records its lines.
type fixture struct {
	g      *netlimit.Group
	reader *sdkmetric.ManualReader
	logs   *lines
}

func newFixture(t *testing.T, budget int) *fixture {
	t.Helper()
	f := &fixture{reader: sdkmetric.NewManualReader(), logs: &lines{}}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	var err error
	f.g, err = netlimit.NewGroup(netlimit.GroupOptions{
		Budget: budget,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)),
		Meter:  mp.Meter("test"),
		// One line per listener for the whole test: the first refusal's.
		LogInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// metrics returns the data points of the Group's instruments as "name{attrs}" -> value.
func (f *fixture) metrics(t *testing.T) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	key := func(name string, set attribute.Set) string {
		var kv []string
		for _, a := range set.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.String())
		}
		return name + "{" + strings.Join(kv, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			}
		}
	}
	return out
}

// lines is a log destination safe for concurrent use.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.buf.String()), "\n")
}

// echo serves ln: every connection gets back what it sends, until it closes. It stops
// when the test ends.
func echo(t *testing.T, ln net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
}

// dial connects to ln; the connection is closed when the test ends.
func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// served reports whether the server answers on c: an echo round trip succeeds.
func served(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := fmt.Fprintln(c, "ping"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

// closedByServer reports whether the server closed c without a word: a read ends in
// EOF or a reset.
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET))
}

// waitFor polls cond until it holds, failing the test after the wait bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// The connection over a listener's cap is accepted and closed at once while those
// within it are served; once one closes, a new one is served again. The refusal is
// counted and logged.
func TestListenerCap(t *testing.T) {
	f := newFixture(t, 0)
	ln := f.g.Wrap("http", loopback(t), 2)
	echo(t, ln)

	first, second := dial(t, ln), dial(t, ln)
	if !served(t, first) || !served(t, second) {
		t.Fatal("connections within the cap are not served")
	}
	third := dial(t, ln)
	if !closedByServer(t, third) {
		t.Fatal("the connection over the cap was not closed by the server")
	}
	if !served(t, first) {
		t.Fatal("a connection within the cap stopped being served after a refusal")
	}
	m := f.metrics(t)
	if got := m["sluice_listener_refused{listener=http,reason=max_connections}"]; got != 1 {
		t.Errorf("refused max_connections = %d, want 1 (%v)", got, m)
	}
	if got := m["sluice_listener_connections{listener=http}"]; got != 2 {
		t.Errorf("open connections gauge = %d, want 2", got)
	}
	logs := f.logs.all()
	if len(logs) != 1 || !strings.Contains(logs[0], "http.max_connections (2) reached") || !strings.Contains(logs[0], "refused=1") {
		t.Errorf("log = %q, want one line naming http.max_connections", logs)
	}

	_ = first.Close()
	waitFor(t, "the server to close its side of the first connection", func() bool { return ln.Open() == 1 })
	if fourth := dial(t, ln); !served(t, fourth) {
		t.Fatal("a connection after one closed is not served")
	}
	// More refusals within the log interval are counted, not logged.
	for range 3 {
		if !closedByServer(t, dial(t, ln)) {
			t.Fatal("a connection over the cap was not closed")
		}
	}
	if got := f.metrics(t)["sluice_listener_refused{listener=http,reason=max_connections}"]; got != 4 {
		t.Errorf("refused = %d, want 4", got)
	}
	if logs := f.logs.all(); len(logs) != 1 {
		t.Errorf("%d log lines, want 1 per log interval: %q", len(logs), logs)
	}
}

// All listeners of a Group share its budget: once one listener's connections spend
// it, the others refuse connections too, whatever their own caps, until one closes.
func TestBudgetSharedByListeners(t *testing.T) {
	f := newFixture(t, 3)
	flooded := f.g.Wrap("grpc", loopback(t), 0)
	other := f.g.Wrap("lumberjack", loopback(t), 100)
	echo(t, flooded)
	echo(t, other)

	var held []net.Conn
	for range 3 {
		c := dial(t, flooded)
		if !served(t, c) {
			t.Fatal("a connection within the budget is not served")
		}
		held = append(held, c)
	}
	if !closedByServer(t, dial(t, other)) {
		t.Fatal("another listener accepted a connection past the budget")
	}
	if !closedByServer(t, dial(t, flooded)) {
		t.Fatal("the flooded listener accepted a connection past the budget")
	}
	m := f.metrics(t)
	if m["sluice_listener_refused{listener=lumberjack,reason=fd_budget}"] != 1 || m["sluice_listener_refused{listener=grpc,reason=fd_budget}"] != 1 {
		t.Errorf("refused by budget: %v, want one per listener", m)
	}
	if m["sluice_listener_connection_budget{}"] != 3 || f.g.InUse() != 3 {
		t.Errorf("budget gauge %d, in use %d; want 3 and 3", m["sluice_listener_connection_budget{}"], f.g.InUse())
	}
	if logs := strings.Join(f.logs.all(), "\n"); !strings.Contains(logs, "connection budget of all listeners (3") {
		t.Errorf("log does not name the budget: %q", logs)
	}

	_ = held[0].Close()
	waitFor(t, "the budget to have room", func() bool { return f.g.InUse() == 2 })
	if !served(t, dial(t, other)) {
		t.Fatal("the other listener refuses connections after the budget has room again")
	}
}

// A flood on one listener leaves the others their share of the budget: half of it, in
// equal parts.
func TestBudgetKeepsASharePerListener(t *testing.T) {
	f := newFixture(t, 8) // two listeners: a share of 2 each
	flooded := f.g.Wrap("grpc", loopback(t), 0)
	other := f.g.Wrap("http", loopback(t), 0)
	echo(t, flooded)
	echo(t, other)
	for i := range 6 {
		if !served(t, dial(t, flooded)) {
			t.Fatalf("connection %d of the flooded listener, within its part, is not served", i+1)
		}
	}
	if !closedByServer(t, dial(t, flooded)) {
		t.Fatal("the flooded listener took the other listener's share")
	}
	for i := range 2 {
		if !served(t, dial(t, other)) {
			t.Fatalf("connection %d of the other listener's share is not served", i+1)
		}
	}
	if !closedByServer(t, dial(t, other)) {
		t.Fatal("the other listener accepted a connection past the budget")
	}
	if f.g.InUse() != 8 {
		t.Errorf("in use %d, want 8", f.g.InUse())
	}
}

// Closing a connection twice releases its slots once.
func TestCloseTwiceReleasesOnce(t *testing.T) {
	f := newFixture(t, 10)
	ln := f.g.Wrap("http", loopback(t), 0)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial(t, ln)
	dial(t, ln)
	a, b := <-accepted, <-accepted
	if ln.Open() != 2 || f.g.InUse() != 2 {
		t.Fatalf("open %d, in use %d; want 2 and 2", ln.Open(), f.g.InUse())
	}
	_ = a.Close()
	_ = a.Close()
	if ln.Open() != 1 || f.g.InUse() != 1 {
		t.Errorf("after closing one connection twice: open %d, in use %d; want 1 and 1", ln.Open(), f.g.InUse())
	}
	_ = b.Close()
	_ = ln.Close()
	for range accepted {
	}
}

// flaky is a listener whose Accept fails with errs, in order, then returns a pipe, then
// fails with errs' last error for ever.
type flaky struct {
	mu      sync.Mutex
	errs    []error
	calls   int
	gave    bool
	closed  chan struct{}
	once    sync.Once
	failing chan struct{} // gets a value at each failure
}

func newFlaky(errs ...error) *flaky {
	return &flaky{errs: errs, closed: make(chan struct{}), failing: make(chan struct{}, 1000)}
}

func (f *flaky) Accept() (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	select {
	case <-f.closed:
		return nil, net.ErrClosed
	default:
	}
	if f.calls <= len(f.errs) || f.gave {
		f.failing <- struct{}{}
		return nil, f.errs[min(f.calls, len(f.errs))-1]
	}
	f.gave = true
	server, client := net.Pipe()
	_ = client.Close()
	return server, nil
}

func (f *flaky) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *flaky) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func opError(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: &netErr{errno}}
}

// netErr is what the net package wraps an accept's errno in (an *os.SyscallError).
type netErr struct{ errno syscall.Errno }

func (e *netErr) Error() string { return "accept4: " + e.errno.Error() }
func (e *netErr) Unwrap() error { return e.errno }

// Out of file descriptors, Accept backs off and retries without returning the error
// (servers would stop or spin on it): each failure costs one accept call, and they are
// counted and logged once per interval.
func TestAcceptErrorsAreRetried(t *testing.T) {
	f := newFixture(t, 0)
	fl := newFlaky(opError(syscall.EMFILE), opError(syscall.ENFILE), opError(syscall.ECONNABORTED))
	ln := f.g.Wrap("http", fl, 0)
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept = %v, want the connection after the failures pass", err)
	}
	_ = c.Close()
	if fl.calls != 4 {
		t.Errorf("%d accept calls, want 4: one per failure, then the connection", fl.calls)
	}
	if got := f.metrics(t)["sluice_listener_accept_errors{listener=http}"]; got != 3 {
		t.Errorf("accept errors = %d, want 3", got)
	}
	if logs := f.logs.all(); len(logs) != 1 || !strings.Contains(logs[0], "too many open files") {
		t.Errorf("log = %q, want one line with the first error", logs)
	}

	// Close ends an Accept waiting to retry.
	for range 3 { // the failures above
		<-fl.failing
	}
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	for range 2 {
		<-fl.failing
	}
	_ = ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Accept did not return after Close")
	}
}

// An error that does not pass, such as a broken listener's, is returned at once.
func TestAcceptReturnsLastingErrors(t *testing.T) {
	f := newFixture(t, 0)
	fl := newFlaky(opError(syscall.EBADF))
	ln := f.g.Wrap("http", fl, 0)
	if _, err := ln.Accept(); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Accept = %v, want EBADF", err)
	}
	if fl.calls != 1 {
		t.Errorf("%d accept calls, want 1", fl.calls)
	}
}

// The budget keeps headroom for files and outbound connections: a tenth of the limit,
// at least 256 descriptors, at most half of them.
func TestFDBudget(t *testing.T) {
	budget, limit, err := netlimit.FDBudget()
	if err != nil {
		t.Skipf("no file-descriptor limit here: %v", err)
	}
	if budget <= 0 || uint64(budget) > limit-min(256, limit/2) {
		t.Errorf("budget %d of a limit of %d leaves no headroom", budget, limit)
	}
}

// An accepted connection can close its writing side, as net/http does before closing a
// connection whose request it did not read to the end: the client reads the end of the
// answer, not a reset.
func TestCloseWrite(t *testing.T) {
	f := newFixture(t, 0)
	ln := f.g.Wrap("http", loopback(t), 0)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client := dial(t, ln)
	server := <-accepted
	if server == nil {
		t.Fatal("no connection accepted")
	}
	defer server.Close()
	cw, ok := server.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("an accepted connection cannot close its writing side")
	}
	if _, err := io.WriteString(server, "answer"); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(wait))
	if got, err := io.ReadAll(client); err != nil || string(got) != "answer" {
		t.Fatalf("client read %q, %v; want the answer, then EOF", got, err)
	}
}
