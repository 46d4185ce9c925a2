package main

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync/atomic"
	"time"
)

// syslogTransport sends syslog over plain TCP as a relay's forwarding action does
// (rsyslog's omfwd, syslog-ng's network destination): RFC 6587 octet-counted frames or
// LF-terminated lines, a batch per write, as fast as the socket takes them. The frames
// of the whole pool are built once, back to back, so a batch is one slice of them.
//
// Plain syslog has no acknowledgement: a batch counts as acknowledged once the socket
// has taken it (written), and no latency is recorded. What the subject actually
// received is what it says itself, asked after the sending (--received-metrics,
// --received-file: see received.go); the run waits for that before it reads the
// subject's CPU time.
type syslogTransport struct {
	addr    string
	timeout time.Duration
	wire    *atomic.Int64
	frames  []byte
	// offs[i] is where message i's frame starts in frames; offs[len(msgs)] is the end.
	offs []int
}

func newSyslogTransport(addr, framing string, timeout time.Duration, msgs [][]byte, wire *atomic.Int64) (*syslogTransport, []int) {
	t := &syslogTransport{addr: addr, timeout: timeout, wire: wire, offs: make([]int, len(msgs)+1)}
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		t.offs[i] = len(t.frames)
		t.frames = frameSyslog(t.frames, framing, m)
		sizes[i] = len(m)
	}
	t.offs[len(msgs)] = len(t.frames)
	return t, sizes
}

func (t *syslogTransport) dial(ctx context.Context) (conn, error) {
	nc, err := dialCounting(ctx, t.addr, t.wire)
	if err != nil {
		return nil, err
	}
	return &syslogConn{t: t, nc: nc}, nil
}

func (t *syslogTransport) close() {}

// syslogConn is one TCP connection; only its worker writes it.
type syslogConn struct {
	t  *syslogTransport
	nc net.Conn
}

// send writes the batch's frames. On a failed write the frames written whole count as
// sent (the subject may still have them; the received count decides), the rest failed.
func (c *syslogConn) send(_ context.Context, b batch, done func(outcome)) error {
	offs := c.t.offs
	from, to := offs[b.first], offs[b.first+b.n]
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.t.timeout))
	n, err := c.nc.Write(c.t.frames[from:to])
	if err == nil {
		done(outcome{acked: b.n, noAck: true})
		return nil
	}
	whole := sort.Search(b.n, func(i int) bool { return offs[b.first+i+1]-from > n })
	done(outcome{acked: whole, noAck: true, kind: errKind("syslog", err), err: err})
	return fmt.Errorf("write syslog frames: %w", err)
}

// close closes the connection: the kernel still delivers what the socket has taken.
func (c *syslogConn) close() { _ = c.nc.Close() }
