package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
)

// ljTransport speaks lumberjack v2 as Filebeat's Logstash output does: go-lumber's
// async client, one window of events per batch, zlib compressed, a few windows in
// flight per connection. The events are encoded once up front (the client's JSON
// encoder passes them through), so the client spends its CPU on compression and
// writing, as Filebeat's output does after its own encoding.
type ljTransport struct {
	addr     string
	level    int
	inflight int
	timeout  time.Duration
	wire     *atomic.Int64
	// windows holds the pool's documents as the client's Send takes them.
	windows []any
}

func newLJTransport(addr string, level, inflight int, timeout time.Duration, evs []event, wire *atomic.Int64) (*ljTransport, []int) {
	t := &ljTransport{addr: addr, level: level, inflight: inflight, timeout: timeout, wire: wire, windows: make([]any, len(evs))}
	sizes := make([]int, len(evs))
	for i, e := range evs {
		t.windows[i] = e.beat
		sizes[i] = len(e.beat)
	}
	return t, sizes
}

// rawJSON is the client's JSON encoder: the events are already JSON.
func rawJSON(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("event is a %T, want encoded JSON", v)
	}
	return b, nil
}

func (t *ljTransport) dial(ctx context.Context) (conn, error) {
	c, err := dialCounting(ctx, t.addr, t.wire)
	if err != nil {
		return nil, err
	}
	cl, err := lj.NewWithConn(c, lj.Timeout(t.timeout), lj.CompressionLevel(t.level), lj.JSONEncoder(rawJSON))
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("lumberjack client: %w", err)
	}
	// The async client writes a window before it queues it, so alone it lets more
	// than inflight windows out; the runner's own window keeps exactly t.inflight
	// unacknowledged, as Filebeat's pipelining does.
	ac, err := lj.NewAsyncClientWith(cl, t.inflight)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("lumberjack async client: %w", err)
	}
	return &ljConn{t: t, ac: ac}, nil
}

func (t *ljTransport) close() {}

// ljConn is one lumberjack connection.
type ljConn struct {
	t      *ljTransport
	ac     *lj.AsyncClient
	broken atomic.Bool
}

var errBroken = errors.New("connection broken")

// send writes one window; the async client calls back when the window is ACKed in
// full, or with how far it got when the connection failed.
func (c *ljConn) send(_ context.Context, b batch, done func(outcome)) error {
	window := c.t.windows[b.first : b.first+b.n]
	err := c.ac.Send(func(seq uint32, err error) {
		o := outcome{acked: int(seq)}
		if err != nil || int(seq) < b.n {
			if err == nil {
				err = fmt.Errorf("window of %d events ACKed up to %d", b.n, seq)
			}
			o.kind, o.err = errKind("lumberjack", err), err
			c.broken.Store(true)
		}
		done(o)
	}, window)
	if err != nil {
		return fmt.Errorf("send lumberjack window: %w", err)
	}
	if c.broken.Load() {
		return errBroken
	}
	return nil
}

// close closes the connection; windows still waiting are failed by the client.
func (c *ljConn) close() { _ = c.ac.Close() }
