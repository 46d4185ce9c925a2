package lumberjack

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/internal/connserve"
	"github.com/sluice-siem/sluice/internal/jsonx"
)

// Retry waits after an overloaded or unavailable Ingest, doubling up to retryMax. The
// gateway itself already waited limits.backpressure_wait before answering.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// metadataSlack is how much larger than gateway.limits.max_event_bytes an event may
// arrive and still be kept for Ingest, which applies the limit after @metadata (about
// 100 bytes from Beats) is cut.
const metadataSlack = 4 << 10

// maxRejectLogs is how many rejected events a window logs one by one; the rest are
// summed up in one line (they are all counted in sluice_gateway_events_rejected).
const maxRejectLogs = 5

// Why a connection ended, besides protocol errors and the connection's own errors.
var (
	errIdle     = errors.New("no window within lumberjack.idle_timeout")
	errStopping = errors.New("server stopping")
)

// refusedError is a window that Ingest refused as a whole with a permanent kind, or
// with a retryable kind while the gateway drains.
type refusedError struct {
	kind gateway.Kind
	err  error
}

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// writeError is a failed ACK: the client is gone.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write ACK: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// action is what the receiver does with a part of a window whose Ingest failed.
type action int

const (
	actionClose action = iota
	actionRetry
)

// actionOf is the one table from the error kinds of Ingest to lumberjack: retry the same
// events on this connection (the client waits, kept alive by keepalives, and is not
// read meanwhile), or close the connection with a log line (the client reconnects and
// resends what was not ACKed).
func actionOf(k gateway.Kind) action {
	switch k {
	case gateway.KindOverloaded, gateway.KindUnavailable:
		return actionRetry
	default:
		// invalid, too_large, unsupported_media, unauthenticated, forbidden: the same
		// window would fail again; internal: a new connection is the cleanest retry.
		return actionClose
	}
}

// part is the events of a window read so far and not yet ACKed: their bytes in one
// arena, their positions in spans. Parts are pooled by the server and taken by a
// connection for one window at a time, so idle connections hold none.
type part struct {
	arena  []byte
	spans  []span
	events []gateway.Event
	// ids holds the events' identities (gateway.Event.ID), idEnds where each ends.
	ids    []byte
	idEnds []int
	// tops holds the events' top-level members (gateway.Event.Top), topEnds where
	// each event's end.
	tops    []jsonx.Member
	topEnds []int
}

// span is one event of a part.
type span struct {
	seq        uint32
	start, end int    // bytes in the arena
	skipped    uint32 // size of an event too large to keep, 0 otherwise
}

func (p *part) reset() {
	p.arena = p.arena[:0]
	p.spans = p.spans[:0]
	clear(p.events)
	p.events = p.events[:0]
	p.ids = p.ids[:0]
	p.idEnds = p.idEnds[:0]
}

type ingestResult struct {
	res gateway.Result
	err error
}

// conn is one client connection, served by one goroutine (serve), which alone reads
// and writes it.
type conn struct {
	srv *Server
	nc  net.Conn // TLS or plain
	raw net.Conn // the TCP connection, which Server.Close closes
	log *slog.Logger
	ctx context.Context
	// cancel stops Ingest calls of this connection.
	cancel context.CancelFunc

	rd   connserve.DeadlineReader
	dec  decoder
	scan scanner

	mu   sync.Mutex
	idle bool // waiting for a window frame, the state Server.stop interrupts

	timer     *time.Timer // keepalives
	done      chan ingestResult
	lastAck   uint32    // sequence of the window's last ACK
	lastWrite time.Time // of the last ACK or keepalive
	reported  int64     // bytes already counted in the metric
	rejects   int       // rejections logged in this window
	windows   int64
	events    int64
}

func newConn(s *Server, raw net.Conn, id uint64) *conn {
	nc := raw
	if s.tls != nil {
		nc = tls.Server(raw, s.tls)
	}
	c := &conn{
		srv:   s,
		nc:    nc,
		raw:   raw,
		log:   s.log.With("conn", id, "remote", nc.RemoteAddr().String()),
		rd:    connserve.DeadlineReader{Conn: nc},
		timer: time.NewTimer(time.Hour),
		done:  make(chan ingestResult, 1),
		scan:  newScanner(s.maxDepth),
	}
	c.timer.Stop()
	c.ctx, c.cancel = context.WithCancel(s.base)
	c.dec = decoder{wire: bufio.NewReaderSize(&c.rd, wireBufferSize), lim: s.lim, inflaters: s.inflaters}
	return c
}

// Serve runs the connection (connserve.Conn).
func (c *conn) Serve() { c.serve() }

// Close closes the TCP connection now (connserve.Conn).
func (c *conn) Close() error { return c.raw.Close() }

// Interrupt ends the wait for the next window, if the connection is waiting
// (connserve.Conn); a connection busy with a window ends after it, as it sees the
// server stopping.
func (c *conn) Interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// serve runs the connection until it ends, and logs why it ended.
func (c *conn) serve() {
	defer func() {
		c.cancel()
		c.timer.Stop()
		_ = c.nc.Close()
		c.countBytes()
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.srv.metrics.opened.Add(c.ctx, 1, c.srv.metrics.attrs("result", "handshake_failed"))
			c.log.Warn("lumberjack tls handshake failed, closing connection", "err", err)
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			c.log = c.log.With("client", certs[0].Subject.CommonName)
		}
	}
	c.srv.metrics.opened.Add(c.ctx, 1, c.srv.metrics.attrs("result", "served"))
	c.log.Debug("lumberjack connection opened")
	c.ended(c.run())
}

func (c *conn) run() error {
	for {
		count, err := c.nextWindow()
		if err != nil {
			return err
		}
		if err := c.window(count); err != nil {
			return err
		}
	}
}

// ended logs why the connection ended and counts protocol errors.
func (c *conn) ended(err error) {
	attrs := []any{"windows", c.windows, "events", c.events}
	var (
		pe  *protocolError
		ref *refusedError
	)
	switch {
	case errors.Is(err, io.EOF):
		c.log.Debug("lumberjack connection closed by the client", attrs...)
	case errors.Is(err, errIdle), errors.Is(err, errStopping):
		c.log.Debug("closing lumberjack connection", append(attrs, "reason", err.Error())...)
	case errors.As(err, &pe):
		c.srv.metrics.protocol.Add(c.ctx, 1, c.srv.metrics.attrs("kind", pe.kind))
		c.log.Warn("lumberjack protocol error, closing connection", append(attrs, "kind", pe.kind, "err", err)...)
	case errors.As(err, &ref) && ref.kind.Retryable() && ref.kind != gateway.KindInternal:
		c.log.Info("closing lumberjack connection: the gateway is draining, the client resends elsewhere", append(attrs, "kind", ref.kind.String(), "err", err)...)
	case errors.As(err, &ref):
		c.log.Error("lumberjack window refused, closing connection", append(attrs, "kind", ref.kind.String(), "err", err)...)
	default: // the connection failed, or was closed by Close
		c.log.Info("lumberjack connection lost", append(attrs, "err", err)...)
	}
}

// nextWindow waits up to the idle timeout for the next window and returns its size.
func (c *conn) nextWindow() (uint32, error) {
	c.mu.Lock()
	if c.srv.cs.Stopping() {
		c.mu.Unlock()
		return 0, errStopping
	}
	c.idle = true
	var deadline time.Time
	if d := c.srv.cfg.IdleTimeout; d > 0 {
		deadline = time.Now().Add(d)
	}
	_ = c.nc.SetReadDeadline(deadline)
	c.rd.Timeout = 0
	c.mu.Unlock()

	count, err := c.dec.window()

	c.mu.Lock()
	c.idle = false
	c.mu.Unlock()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if c.srv.cs.Stopping() {
			return 0, errStopping
		}
		return 0, errIdle
	}
	return count, err
}

// window reads, ingests and acknowledges one window of count events, in parts.
func (c *conn) window(count uint32) error {
	start := time.Now()
	c.lastAck, c.lastWrite, c.rejects = 0, start, 0
	c.rd.Timeout = c.srv.cfg.ReadTimeout
	p := c.srv.parts.Get().(*part)
	defer func() {
		c.dec.release()
		p.reset()
		// An arena grown past a part by one outsized event is left to the GC.
		if cap(p.arena) <= 2*c.srv.partBytes {
			c.srv.parts.Put(p)
		}
	}()
	for i := uint32(0); i < count; i++ {
		seq, size, err := c.dec.header()
		if err != nil {
			return err
		}
		if int64(size) > int64(c.srv.maxEvent)+metadataSlack {
			// Ingest would reject it: read past it instead of keeping it.
			if err := c.dec.skip(size); err != nil {
				return err
			}
			p.spans = append(p.spans, span{seq: seq, skipped: size})
		} else {
			if len(p.arena) > 0 && len(p.arena)+int(size) > c.srv.partBytes {
				if err := c.flush(p, time.Time{}); err != nil {
					return err
				}
			}
			from := len(p.arena)
			if p.arena, err = c.dec.payload(p.arena, size); err != nil {
				return err
			}
			p.spans = append(p.spans, span{seq: seq, start: from, end: len(p.arena)})
		}
		if len(p.spans) >= c.srv.partEvts && i+1 < count {
			if err := c.flush(p, time.Time{}); err != nil {
				return err
			}
		}
	}
	if err := c.dec.endWindow(); err != nil {
		return err
	}
	c.countBytes()
	if err := c.flush(p, start); err != nil {
		return err
	}
	if c.rejects > maxRejectLogs {
		c.log.Warn("more events of the window rejected and dropped", "rejected", c.rejects, "logged", maxRejectLogs)
	}
	return nil
}

// flush ingests the part read so far, retrying while the stream is busy, and ACKs it.
// windowStart is set for the window's last part: its ACK completes the window. Metrics
// are recorded before the ACK is written, so a client that has its ACK sees them.
func (c *conn) flush(p *part, windowStart time.Time) error {
	if len(p.spans) == 0 {
		return nil
	}
	evs := p.events[:0]
	p.ids, p.idEnds = p.ids[:0], p.idEnds[:0]
	p.tops, p.topEnds = p.tops[:0], p.topEnds[:0]
	for _, sp := range p.spans {
		var ev gateway.Event
		if sp.skipped > 0 {
			ev.Err = gateway.Errorf(gateway.KindTooLarge, "event is %d bytes, limit is %d (gateway.limits.max_event_bytes)", sp.skipped, c.srv.maxEvent)
		} else {
			raw := p.arena[sp.start:sp.end]
			doc, ids, tops, err := c.scan.eventTop(raw, c.srv.cfg.KeepMetadata, p.ids, p.tops)
			if err != nil {
				ev.Doc, ev.Err = raw, &gateway.Error{Kind: gateway.KindInvalid, Msg: err.Error(), Err: err}
			} else {
				ev.Doc, p.ids, p.tops = doc, ids, tops
			}
		}
		p.idEnds = append(p.idEnds, len(p.ids))
		p.topEnds = append(p.topEnds, len(p.tops))
		evs = append(evs, ev)
	}
	// The identities and members are cut out of ids and tops only now: they may have
	// moved as they grew.
	from := 0
	for k, end := range p.idEnds {
		if end > from {
			evs[k].ID = p.ids[from:end:end]
		}
		from = end
	}
	from = 0
	for k, end := range p.topEnds {
		if evs[k].Err == nil {
			evs[k].Top = p.tops[from:end:end]
		}
		from = end
	}
	p.events = evs
	res, err := c.ingest(gateway.Batch{Receiver: "lumberjack", Events: evs})
	if err != nil {
		return err
	}
	for _, rj := range res.Rejections {
		if c.rejects < maxRejectLogs && rj.Index >= 0 && rj.Index < len(p.spans) {
			c.log.Warn("lumberjack event rejected and dropped", "seq", p.spans[rj.Index].seq, "kind", rj.Kind.String(), "reason", rj.Reason)
		}
		c.rejects++
	}
	c.events += int64(len(evs))
	if n := len(res.Rejections); n > 0 {
		c.srv.metrics.events.Add(c.ctx, int64(n), c.srv.metrics.rejected)
	}
	c.srv.metrics.events.Add(c.ctx, int64(res.Accepted), c.srv.metrics.accepted)
	if !windowStart.IsZero() {
		c.windows++
		c.srv.metrics.windows.Add(c.ctx, 1)
		c.srv.metrics.ackLatency.Record(c.ctx, time.Since(windowStart).Seconds())
	}
	if err := c.ack(p.spans[len(p.spans)-1].seq); err != nil {
		return err
	}
	p.reset()
	return nil
}

// ingest calls Ingest until the part is durable, sending keepalives while it waits. It
// retries the same events after an overloaded or unavailable answer, unless the gateway
// drains or the server stops; other kinds are final.
func (c *conn) ingest(b gateway.Batch) (gateway.Result, error) {
	backoff := retryMin
	for attempt := 1; ; attempt++ {
		res, err := c.ingestOnce(b)
		if err == nil {
			return res, nil
		}
		var werr *writeError
		if errors.As(err, &werr) || c.ctx.Err() != nil {
			return res, err
		}
		kind := gateway.KindOf(err)
		if actionOf(kind) != actionRetry || !c.srv.ing.Ready() || c.srv.cs.Stopping() {
			return res, &refusedError{kind: kind, err: err}
		}
		level := slog.LevelDebug
		if attempt == 1 {
			level = slog.LevelWarn
		}
		c.log.Log(c.ctx, level, "stream busy, holding the lumberjack window (the client is kept alive and not read)",
			"kind", kind.String(), "attempt", attempt, "retry_in", backoff, "err", err)
		if err := c.wait(backoff); err != nil {
			return res, err
		}
		backoff = min(2*backoff, retryMax)
	}
}

// ingestOnce runs one Ingest call, sending keepalives while it runs. It always waits for
// Ingest to return, since the events are in the connection's buffers.
func (c *conn) ingestOnce(b gateway.Batch) (gateway.Result, error) {
	go func() {
		res, err := c.srv.ing.Ingest(c.ctx, b)
		c.done <- ingestResult{res, err}
	}()
	var werr error
	for {
		if werr == nil {
			c.armKeepalive()
		}
		select {
		case r := <-c.done:
			if werr != nil {
				return gateway.Result{}, werr
			}
			return r.res, r.err
		case <-c.timer.C:
			if err := c.keepalive(); err != nil {
				werr = err
				c.cancel() // the client is gone: stop Ingest, then return
			}
		}
	}
}

// wait waits d, sending keepalives.
func (c *conn) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.armKeepalive()
		select {
		case <-t.C:
			return nil
		case <-c.timer.C:
			if err := c.keepalive(); err != nil {
				return err
			}
		case <-c.ctx.Done():
			return fmt.Errorf("wait to retry: %w", c.ctx.Err())
		}
	}
}

func (c *conn) armKeepalive() {
	c.timer.Reset(time.Until(c.lastWrite.Add(c.srv.cfg.KeepaliveInterval)))
}

// keepalive sends an ACK that does not advance: the window is still being worked on.
func (c *conn) keepalive() error {
	if err := c.write(c.lastAck); err != nil {
		return err
	}
	c.srv.metrics.keepalives.Add(c.ctx, 1)
	return nil
}

// ack acknowledges the window's events up to seq.
func (c *conn) ack(seq uint32) error {
	if err := c.write(seq); err != nil {
		return err
	}
	c.lastAck = seq
	return nil
}

func (c *conn) write(seq uint32) error {
	buf := [6]byte{versionV2, frameACK}
	binary.BigEndian.PutUint32(buf[2:], seq)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.ReadTimeout))
	if _, err := c.nc.Write(buf[:]); err != nil {
		return &writeError{err: err}
	}
	c.lastWrite = time.Now()
	return nil
}

// countBytes adds the bytes read since the last call to the metric.
func (c *conn) countBytes() {
	if n := c.rd.N - c.reported; n > 0 {
		c.srv.metrics.bytes.Add(context.Background(), n)
		c.reported = c.rd.N
	}
}
