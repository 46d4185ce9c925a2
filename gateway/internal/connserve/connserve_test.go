package connserve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// unitConn serves a toy protocol: each byte the client sends starts a unit of work,
// which ends when release is closed (or the work is canceled) and is answered "d".
// Between units the connection is idle, and Interrupt ends it then.
type unitConn struct {
	srv     *Server
	nc      net.Conn
	ctx     context.Context
	release <-chan struct{}
	working *atomic.Int64 // units begun

	mu   sync.Mutex
	idle bool
}

func (c *unitConn) Serve() {
	defer c.nc.Close()
	buf := make([]byte, 1)
	for {
		c.setIdle(true)
		if c.srv.Stopping() {
			return
		}
		if _, err := c.nc.Read(buf); err != nil {
			return
		}
		c.setIdle(false)
		c.working.Add(1)
		select {
		case <-c.release:
		case <-c.ctx.Done():
			return
		}
		if _, err := c.nc.Write([]byte("d")); err != nil {
			return
		}
	}
}

func (c *unitConn) setIdle(idle bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = idle
}

func (c *unitConn) Interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

func (c *unitConn) Close() error { return c.nc.Close() }

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type harness struct {
	srv      *Server
	open     atomic.Int64
	refused  atomic.Int64
	working  atomic.Int64
	canceled context.Context // done once Config.Cancel was called
	release  chan struct{}
	logs     *syncBuffer
	ran      chan error
	stopRun  context.CancelFunc
}

// start makes a server (newHarness) and runs it (Run) until the test ends.
func start(t *testing.T, drain time.Duration, maxConns int) *harness {
	t.Helper()
	h := newHarness(t, drain, maxConns)
	ctx, stop := context.WithCancel(context.Background())
	h.stopRun = stop
	go func() { h.ran <- h.srv.Run(ctx) }()
	t.Cleanup(func() {
		h.srv.Close()
		stop()
		<-h.ran
	})
	return h
}

// newHarness makes a server of the toy protocol, listening.
func newHarness(t *testing.T, drain time.Duration, maxConns int) *harness {
	t.Helper()
	h := &harness{release: make(chan struct{}), logs: &syncBuffer{}, ran: make(chan error, 1)}
	base, cancel := context.WithCancel(context.Background())
	h.canceled = base
	h.srv = NewServer(Config{
		Name:         "toy",
		Addr:         "127.0.0.1:0",
		Log:          slog.New(slog.NewTextHandler(h.logs, nil)),
		DrainTimeout: drain,
		DrainMessage: "toy units still in progress at the drain deadline",
		MaxConns:     maxConns,
		Open:         &h.open,
		NewConn: func(nc net.Conn, _ uint64) Conn {
			return &unitConn{srv: h.srv, nc: nc, ctx: base, release: h.release, working: &h.working}
		},
		Refused: func() { h.refused.Add(1) },
		Cancel:  cancel,
	})
	if err := h.srv.Listen(); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) dial(t *testing.T) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", h.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// begin starts a unit of work on nc and waits until the server has begun it.
func (h *harness) begin(t *testing.T, nc net.Conn) {
	t.Helper()
	n := h.working.Load()
	if _, err := nc.Write([]byte("w")); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return h.working.Load() == n+1 })
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// ended reports whether the server closed nc (reading gives EOF or a reset).
func ended(t *testing.T, nc net.Conn) bool {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return len(b) == 0 || string(b) == "d"
}

// TestRunDrains: when Run's context ends, idle connections end at once and new ones
// are refused, a unit in progress finishes and is answered, and Run returns once it
// has, canceling the connections' work last.
func TestRunDrains(t *testing.T) {
	h := start(t, time.Minute, 10)
	busy, idle := h.dial(t), h.dial(t)
	h.begin(t, busy)
	_ = idle
	eventually(t, func() bool { return h.open.Load() == 2 })

	h.stopRun()
	if !ended(t, idle) {
		t.Fatal("idle connection not closed when Run's context ended")
	}
	if nc, err := net.DialTimeout("tcp", h.srv.Addr().String(), time.Second); err == nil {
		nc.Close()
		t.Fatal("dial after stop succeeded: the listener is still open")
	}
	select {
	case err := <-h.ran:
		t.Fatalf("Run returned %v with a unit in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	if h.canceled.Err() != nil {
		t.Fatal("work canceled before the drain ended")
	}

	close(h.release)
	got := make([]byte, 1)
	_ = busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(busy, got); err != nil || string(got) != "d" {
		t.Fatalf("unit in progress not answered: %q, %v", got, err)
	}
	if !ended(t, busy) {
		t.Fatal("busy connection not closed after its unit")
	}
	if err := <-h.ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.ran <- nil // for the cleanup
	if h.canceled.Err() == nil {
		t.Fatal("work not canceled when Run returned")
	}
	if h.open.Load() != 0 {
		t.Fatalf("open = %d after Run", h.open.Load())
	}
	if strings.Contains(h.logs.String(), "drain deadline") {
		t.Fatalf("drain deadline logged: %s", h.logs)
	}
}

// TestRunDrainDeadline: a unit still in progress at the drain deadline has its
// connection closed and its work canceled, with a log line.
func TestRunDrainDeadline(t *testing.T) {
	h := start(t, 50*time.Millisecond, 10)
	busy := h.dial(t)
	h.begin(t, busy)
	h.stopRun()
	if err := <-h.ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.ran <- nil
	if h.canceled.Err() == nil {
		t.Fatal("work not canceled at the drain deadline")
	}
	if !ended(t, busy) {
		t.Fatal("connection not closed at the drain deadline")
	}
	if !strings.Contains(h.logs.String(), "toy units still in progress at the drain deadline") {
		t.Fatalf("no drain deadline log line: %s", h.logs)
	}
}

// TestClose: Close closes every connection and cancels their work at once.
func TestClose(t *testing.T) {
	h := start(t, time.Minute, 10)
	busy := h.dial(t)
	h.begin(t, busy)
	h.srv.Close()
	if h.canceled.Err() == nil {
		t.Fatal("work not canceled by Close")
	}
	if !ended(t, busy) {
		t.Fatal("connection not closed by Close")
	}
	select {
	case err := <-h.ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		h.ran <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

// TestMaxConns: a connection over the limit is counted, logged and closed; a slot
// frees when a connection ends.
func TestMaxConns(t *testing.T) {
	h := start(t, time.Minute, 1)
	first := h.dial(t)
	h.begin(t, first)
	over := h.dial(t)
	if !ended(t, over) {
		t.Fatal("connection over the limit not closed")
	}
	if h.refused.Load() != 1 {
		t.Fatalf("refused = %d, want 1", h.refused.Load())
	}
	if !strings.Contains(h.logs.String(), "toy connection refused: toy.max_connections reached") {
		t.Fatalf("no over-limit log line: %s", h.logs)
	}
	close(h.release)
	_ = first.Close()
	eventually(t, func() bool { return h.open.Load() == 0 })
	second := h.dial(t)
	h.begin(t, second)
}
