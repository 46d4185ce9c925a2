package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// errIdle ends a connection that sent nothing for idle_timeout.
var errIdle = errors.New("nothing received within idle_timeout")

// conn is one TCP or TLS connection, served by one goroutine (serve), which alone
// reads it. It reads messages into a batch and ingests the batch synchronously, so
// while the gateway is slow the connection is not read.
type conn struct {
	srv *Server
	l   *listener
	nc  net.Conn // TLS or plain
	raw net.Conn // the TCP connection, which Server.Close closes
	log *slog.Logger
	// source is the sender's address, log.source.address of every event.
	source string
	ctx    context.Context
	cancel context.CancelFunc
	fr     *frameReader
	// partialSince is when the message now under way began to arrive; zero between
	// messages.
	partialSince time.Time

	mu sync.Mutex // orders setting read deadlines against interrupt

	b        *batch // nil while no message waits
	read     int64  // bytes read
	reported int64  // bytes already counted in the metric
	messages int64
	readErr  error // a failed read, reported once the buffered messages are ingested
}

func newConn(s *Server, l *listener, raw net.Conn, id uint64) *conn {
	nc := raw
	if l.tls != nil {
		nc = tls.Server(raw, l.tls)
	}
	source := raw.RemoteAddr().String()
	c := &conn{
		srv:    s,
		l:      l,
		nc:     nc,
		raw:    raw,
		source: source,
		log:    s.log.With("listener", l.name, "conn", id, "remote", source),
	}
	c.ctx, c.cancel = context.WithCancel(l.base)
	c.fr = newFrameReader(nc, int(s.cfg.MaxMessageBytes))
	return c
}

// Serve runs the connection (connserve.Conn).
func (c *conn) Serve() { c.serve() }

// Close closes the TCP connection now (connserve.Conn).
func (c *conn) Close() error { return c.raw.Close() }

// Interrupt makes a blocked or future read return at once: the server stops
// (connserve.Conn).
func (c *conn) Interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.nc.SetReadDeadline(time.Now())
}

// setReadDeadline sets the deadline of the next read, unless the server stops, whose
// interrupt must not be undone.
func (c *conn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv.conns.Stopping() {
		return
	}
	_ = c.nc.SetReadDeadline(t)
}

// serve runs the connection until it ends, and logs why it ended.
func (c *conn) serve() {
	defer func() {
		c.cancel()
		_ = c.nc.Close()
		c.countBytes()
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(c.ctx, c.l.handshake)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.srv.metrics.opened.Add(c.ctx, 1, c.srv.metrics.attrs("listener", c.l.name, "result", "handshake_failed"))
			c.log.Warn("syslog tls handshake failed, closing connection", "err", err)
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			c.log = c.log.With("client", certs[0].Subject.CommonName)
		}
	}
	c.srv.metrics.opened.Add(c.ctx, 1, c.srv.metrics.attrs("listener", c.l.name, "result", "served"))
	c.log.Debug("syslog connection opened")
	c.ended(c.run())
}

// ended logs why the connection ended and counts framing errors.
func (c *conn) ended(err error) {
	attrs := []any{"messages", c.messages, "framing", c.fr.mode.String()}
	var fe *framingError
	switch {
	case errors.Is(err, io.EOF):
		c.log.Debug("syslog connection closed by the sender", attrs...)
	case errors.Is(err, errIdle), errors.Is(err, errStopping):
		c.log.Debug("closing syslog connection", append(attrs, "reason", err.Error())...)
	case errors.As(err, &fe):
		c.srv.metrics.framing.Add(c.ctx, 1, c.srv.metrics.attrs("listener", c.l.name, "kind", fe.kind))
		c.log.Warn("syslog framing error, closing connection", append(attrs, "kind", fe.kind, "err", err)...)
	default: // the connection failed, or was closed by Close
		c.log.Info("syslog connection lost", append(attrs, "err", err)...)
	}
}

// run reads, batches and ingests messages until the connection ends.
func (c *conn) run() error {
	now := c.srv.now()
	for {
		msg, err := c.fr.next()
		switch {
		case err == nil:
			c.partialSince = time.Time{}
			if c.b == nil {
				c.b = c.srv.getBatch()
			}
			c.srv.add(c.b, msg, c.source, now)
			c.messages++
			if c.srv.full(c.b) {
				c.flush()
			}
			continue
		case errors.Is(err, errLineTooLong):
			c.partialSince = time.Time{}
			c.tooLong()
			continue
		case errors.Is(err, errNeedMore):
		default: // io.EOF after the last message, or a framing error
			c.flush()
			return err
		}

		// Every message at hand is in the batch: read more, or ingest first.
		if c.readErr != nil {
			c.flush()
			return c.readErr
		}
		if c.srv.conns.Stopping() {
			c.flush()
			return errStopping
		}
		var deadline time.Time
		if c.b != nil {
			deadline = c.b.first.Add(c.srv.cfg.BatchLinger)
			// A plain TCP read that did not fill the buffer drained the socket:
			// nothing more is at hand, so waiting would only add latency. (A TLS
			// read returns one record at a time, so it says nothing of the socket.)
			if (c.l.tls == nil && c.fr.short) || !c.srv.now().Before(deadline) {
				c.flush()
				continue
			}
		} else if c.l.idle > 0 {
			deadline = c.srv.now().Add(c.l.idle)
		}
		// A message under way must arrive whole within message_timeout.
		if mt := c.srv.cfg.MessageTimeout; mt > 0 && c.fr.midMessage() {
			if c.partialSince.IsZero() {
				c.partialSince = c.srv.now()
			}
			if t := c.partialSince.Add(mt); deadline.IsZero() || t.Before(deadline) {
				deadline = t
			}
		}
		c.setReadDeadline(deadline)
		n, err := c.fr.fill()
		if n > 0 {
			c.read += int64(n)
			now = c.srv.now()
		}
		switch {
		case err == nil, errors.Is(err, io.EOF):
			// next returns what was read, then the last line or io.EOF.
		case errors.Is(err, os.ErrDeadlineExceeded):
			switch {
			case c.srv.conns.Stopping():
				// next ingests what is buffered, then the connection ends.
			case c.b != nil:
				c.flush() // the linger ran out
			case !c.partialSince.IsZero() && !c.srv.now().Before(c.partialSince.Add(c.srv.cfg.MessageTimeout)):
				return &framingError{kind: kindSlowMessage, msg: fmt.Sprintf("a message not whole within message_timeout %s", c.srv.cfg.MessageTimeout)}
			default:
				return errIdle
			}
		default:
			c.readErr = err
		}
	}
}

// flush ingests the batch, if any, and gives it back.
func (c *conn) flush() {
	if c.b == nil {
		return
	}
	c.countBytes()
	c.srv.ingest(c.ctx, &c.l.attrs, c.l.name, c.b, c.log)
	c.srv.putBatch(c.b)
	c.b = nil
}

// tooLong counts and logs (rate-limited) a discarded overlong line.
func (c *conn) tooLong() {
	c.srv.metrics.messages.Add(c.ctx, 1, c.l.attrs.tooLong)
	c.srv.metrics.framing.Add(c.ctx, 1, c.srv.metrics.attrs("listener", c.l.name, "kind", kindLineTooLong))
	if ok, n := c.srv.limiter.allow("too_long_" + c.l.name); ok {
		c.log.Warn("syslog line longer than max_message_bytes discarded", "max_message_bytes", c.srv.cfg.MaxMessageBytes, "discarded_since_last_line", n)
	}
}

// countBytes adds the bytes read since the last call to the metric.
func (c *conn) countBytes() {
	if n := c.read - c.reported; n > 0 {
		c.srv.metrics.bytes.Add(context.Background(), n, c.l.attrs.listener)
		c.reported = c.read
	}
}
