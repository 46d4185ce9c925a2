package relp

import (
	"bufio"
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

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/internal/connserve"
)

// Retry waits after an overloaded or unavailable Handler, doubling up to retryMax. The
// gateway itself already waited limits.backpressure_wait before answering.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// A connection the server closes gets its last frames sent, its writing side shut
// (FIN), and what the client still sends read and dropped for up to lingerTime or
// lingerBytes, so that closing with unread input does not reset the connection before
// the client has read its responses.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
)

// readBufferSize is the connection's read buffer: a batch of small messages arrives in
// few reads.
const readBufferSize = 64 << 10

// maxRejectLogs is how many rejected messages a batch logs one by one; the rest are
// summed up in one line (they are all counted in sluice_relp_transactions).
const maxRejectLogs = 5

// Response data the server sends.
var (
	rspOK          = []byte("200 OK")
	rspAlreadyOpen = []byte("200 OK connection already open, open ignored")
)

// Why a connection ended, besides protocol errors and the connection's own errors.
var (
	errIdle         = errors.New("no command within relp.idle_timeout")
	errStopping     = errors.New("server stopping")
	errClientClosed = errors.New("client sent close")
	errHandshake    = errors.New("no open command within relp.handshake_timeout")
)

// refusedError ends a connection whose messages the Handler did not make durable: the
// transactions from the first such message on are not answered, so the client resends
// them on a new connection.
type refusedError struct {
	kind gateway.Kind
	why  string // draining, stopping, retry_timeout, refused
	err  error
}

func (e *refusedError) Error() string { return e.why + ": " + e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// writeError is a failed write of responses: the client is gone.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write responses: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// itemKind is what a transaction read ahead of its response is.
type itemKind uint8

const (
	itemMessage itemKind = iota // a syslog message, answered once the Handler decided
	itemReply                   // a response decided when the frame was read
	itemClose                   // close: answered, then the connection ends
)

// item is a transaction read and not yet answered.
type item struct {
	txnr       uint32
	kind       itemKind
	start, end int    // itemMessage: the message's bytes in the arena
	reply      []byte // itemReply: the response's data
	errored    bool   // itemReply answering a syslog transaction with 500
}

// arena holds the messages of one batch. Arenas are pooled by the server and taken by
// a connection for one batch at a time, so idle connections hold none.
type arena struct{ buf []byte }

// msgState is where a message of a batch stands with the Handler.
type msgState uint8

const (
	statePending  msgState = iota // not durable yet
	stateAccepted                 // durable: answer 200
	stateRejected                 // refused for good: answer 200, dropped
)

// conn is one client connection, served by one goroutine (serve), which alone reads
// and writes it.
type conn struct {
	srv     *Server
	nc      net.Conn // TLS or plain
	raw     net.Conn // the TCP connection, which Server.Close closes
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc // stops Handler calls of this connection
	rd      connserve.DeadlineReader
	br      *bufio.Reader
	started time.Time
	client  string // verified client certificate's common name

	mu   sync.Mutex
	idle bool // waiting for a command, the state Server.stop interrupts

	opened bool   // open was answered 200
	next   uint32 // the TXNR the next command must have

	// The batch being read and answered; reused from batch to batch.
	items  []item
	arena  *arena
	held   int // message bytes in the arena
	msgs   [][]byte
	txnrs  []uint32 // of msgs
	state  []msgState
	sub    [][]byte // the messages of one Handler call
	subIdx []int    // their indexes in msgs
	out    []byte   // responses

	rejects  int   // rejections logged in this batch
	txns     int64 // syslog transactions answered
	reported int64 // bytes already counted in the metric
}

func newConn(s *Server, raw net.Conn, id uint64) *conn {
	nc := raw
	if s.tls != nil {
		nc = tls.Server(raw, s.tls)
	}
	c := &conn{
		srv:     s,
		nc:      nc,
		raw:     raw,
		log:     s.log.With("conn", id, "remote", raw.RemoteAddr().String()),
		rd:      connserve.DeadlineReader{Conn: nc},
		started: time.Now(),
		next:    1,
	}
	c.br = bufio.NewReaderSize(&c.rd, readBufferSize)
	c.ctx, c.cancel = context.WithCancel(s.base)
	return c
}

// Serve runs the connection (connserve.Conn).
func (c *conn) Serve() { c.serve() }

// Close closes the TCP connection now (connserve.Conn).
func (c *conn) Close() error { return c.raw.Close() }

// Interrupt ends the wait for the next command, if the connection is waiting
// (connserve.Conn); a connection busy with a command ends after it, as it sees the
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
		_ = c.nc.Close()
		c.countBytes()
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		ctx, cancel := context.WithDeadline(c.ctx, c.started.Add(c.srv.cfg.HandshakeTimeout))
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.srv.metrics.opened.Add(c.ctx, 1, c.srv.metrics.attrs("result", "handshake_failed"))
			c.log.Warn("relp tls handshake failed, closing connection", "err", err)
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			c.client = certs[0].Subject.CommonName
			c.log = c.log.With("client", c.client)
		}
	}
	c.srv.metrics.opened.Add(c.ctx, 1, c.srv.metrics.attrs("result", "served"))
	c.log.Debug("relp connection opened")
	c.ended(c.run())
}

// run serves batches until the connection ends: wait for a command, read what the
// client has sent (up to the window), hand its messages to the Handler, answer.
func (c *conn) run() error {
	for {
		if err := c.waitCommand(); err != nil {
			return err
		}
		rerr := c.readBatch()
		if err := c.answer(); err != nil {
			var pe *protocolError
			if errors.As(rerr, &pe) { // ended reports err; the protocol error is not lost
				c.srv.metrics.protocol.Add(c.ctx, 1, c.srv.metrics.attrs("kind", pe.kind))
				c.log.Warn("relp protocol error after a batch that was not answered", "kind", pe.kind, "err", pe)
			}
			return err
		}
		if rerr != nil {
			return rerr
		}
	}
}

// ended logs why the connection ended, counts protocol errors, and closes the
// connection the way the reason calls for.
func (c *conn) ended(err error) {
	attrs := []any{"transactions", c.txns}
	var (
		pe   *protocolError
		ref  *refusedError
		werr *writeError
	)
	switch {
	case errors.Is(err, io.EOF):
		c.log.Debug("relp connection closed by the client", attrs...)
	case errors.Is(err, errClientClosed):
		c.log.Debug("relp session closed by the client", attrs...)
		c.linger(false)
	case errors.Is(err, errIdle), errors.Is(err, errStopping):
		c.log.Debug("closing relp connection", append(attrs, "reason", err.Error())...)
		c.linger(true)
	case errors.Is(err, errHandshake):
		c.srv.metrics.protocol.Add(c.ctx, 1, c.srv.metrics.attrs("kind", kindNotOpen))
		c.log.Warn("relp connection sent no open command in time, closing it", append(attrs, "err", err)...)
		c.linger(true)
	case errors.As(err, &pe):
		c.srv.metrics.protocol.Add(c.ctx, 1, c.srv.metrics.attrs("kind", pe.kind))
		c.log.Warn("relp protocol error, closing connection", append(attrs, "kind", pe.kind, "err", err)...)
		c.linger(true)
	case errors.As(err, &ref):
		attrs = append(attrs, "kind", ref.kind.String(), "reason", ref.why, "err", ref.err)
		switch ref.why {
		case "refused":
			c.log.Error("relp batch refused, closing connection unanswered (the client resends it)", attrs...)
		default:
			c.log.Info("relp batch not durable, closing connection unanswered (the client resends it)", attrs...)
		}
		c.linger(true)
	case errors.As(err, &werr):
		c.log.Info("relp connection lost", append(attrs, "err", err)...)
	default: // the connection failed, or was closed by Close
		c.log.Info("relp connection lost", append(attrs, "err", err)...)
	}
}

// linger ends a connection the server closes: the serverclose hint when asked, the
// writing side shut, and the client's further input dropped for a while (see
// lingerTime).
func (c *conn) linger(hint bool) {
	deadline := time.Now().Add(min(lingerTime, c.srv.cfg.ReadTimeout))
	_ = c.nc.SetWriteDeadline(deadline)
	if hint {
		if _, err := c.nc.Write(serverClose); err != nil {
			return
		}
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = tc.CloseWrite()
	}
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.raw.SetReadDeadline(deadline)
	n, _ := io.Copy(io.Discard, io.LimitReader(c.raw, lingerBytes))
	c.rd.N += n
}

// waitCommand waits for the first byte of the next command: up to the handshake
// timeout for open, up to the idle timeout after it.
func (c *conn) waitCommand() error {
	c.mu.Lock()
	if c.srv.cs.Stopping() {
		c.mu.Unlock()
		return errStopping
	}
	c.idle = true
	var deadline time.Time
	switch {
	case !c.opened:
		deadline = c.started.Add(c.srv.cfg.HandshakeTimeout)
	case c.srv.cfg.IdleTimeout > 0:
		deadline = time.Now().Add(c.srv.cfg.IdleTimeout)
	}
	_ = c.nc.SetReadDeadline(deadline)
	c.rd.Timeout = 0
	c.mu.Unlock()

	_, err := c.br.Peek(1)

	c.mu.Lock()
	c.idle = false
	c.mu.Unlock()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		switch {
		case c.srv.cs.Stopping():
			return errStopping
		case !c.opened:
			return errHandshake
		}
		return errIdle
	}
	return err
}

// readBatch reads the commands the client has sent, until the window or
// max_batch_bytes is reached, a close is read, or no more bytes are buffered (the client
// waits for responses, or sends no more). A protocol error ends it; the items before it
// are still answered, and an error that gets a 500 adds that response.
func (c *conn) readBatch() error {
	cfg := &c.srv.cfg
	c.rd.Timeout = cfg.ReadTimeout
	c.arena = c.srv.arenas.Get().(*arena)
	for {
		h, err := readHeader(c.br)
		if err != nil {
			return c.readError(err)
		}
		if h.txnr != c.next {
			if h.txnr == 0 {
				return protoErrorf(kindTxnr, "transaction number 0 (reserved for server hints) on command %q, expected %d", h.command(), c.next)
			}
			return protoErrorf(kindTxnr, "transaction number %d on command %q, expected %d: each command's TXNR is one more than the last, starting at 1", h.txnr, h.command(), c.next)
		}
		c.next = nextTxnr(c.next)
		if h.size > int(cfg.MaxMessageBytes) {
			msg := fmt.Sprintf("500 %s of %d bytes is over relp.max_message_bytes (%d)", h.command(), h.size, cfg.MaxMessageBytes)
			c.reply(h.txnr, []byte(msg), h.cmd == cmdSyslog)
			return protoErrorf(kindTooLarge, "%s of %d bytes, over relp.max_message_bytes %d (answered 500)", h.command(), h.size, cfg.MaxMessageBytes)
		}
		switch {
		case !c.opened && h.cmd != cmdOpen:
			c.reply(h.txnr, []byte("500 session not open: the first command must be open"), h.cmd == cmdSyslog)
			return protoErrorf(kindNotOpen, "command %q before open (answered 500)", h.command())
		case h.cmd == cmdOpen:
			if err := c.open(h); err != nil {
				return err
			}
		case h.cmd == cmdSyslog:
			start := len(c.arena.buf)
			c.arena.buf, err = readData(c.br, h.size, c.arena.buf)
			if err != nil {
				return c.readError(err)
			}
			c.items = append(c.items, item{txnr: h.txnr, kind: itemMessage, start: start, end: len(c.arena.buf)})
			c.held += h.size
		case h.cmd == cmdClose:
			if err := skipData(c.br, h.size); err != nil {
				return c.readError(err)
			}
			c.items = append(c.items, item{txnr: h.txnr, kind: itemClose})
			return errClientClosed // nothing after close is read
		default:
			if err := skipData(c.br, h.size); err != nil {
				return c.readError(err)
			}
			// The command is letters only, at most 32: safe in the response.
			c.reply(h.txnr, []byte("500 command not supported: "+h.command()), false)
		}
		if len(c.items) >= cfg.Window || c.held >= int(cfg.MaxBatchBytes) || c.br.Buffered() == 0 {
			return nil
		}
	}
}

// open handles an open command: it reads the client's offers and answers with the
// server's, or with 500 and a protocol error when they cannot be used.
func (c *conn) open(h header) error {
	start := len(c.arena.buf)
	var err error
	c.arena.buf, err = readData(c.br, h.size, c.arena.buf)
	if err != nil {
		return c.readError(err)
	}
	data := c.arena.buf[start:]
	defer func() { c.arena.buf = c.arena.buf[:start] }()
	if c.opened {
		// librelp answers a repeated open the same way: harmless.
		c.reply(h.txnr, rspAlreadyOpen, false)
		return nil
	}
	o, err := parseOffers(data)
	if err != nil {
		c.reply(h.txnr, []byte("500 cannot use offers: "+err.Error()), false)
		return protoErrorf(kindOffers, "open: %v (answered 500)", err)
	}
	if !o.syslog {
		c.reply(h.txnr, []byte("500 required command not supported by client: syslog"), false)
		return protoErrorf(kindOffers, "open: the client does not offer the syslog command (answered 500)")
	}
	c.reply(h.txnr, c.srv.openRsp, false)
	c.opened = true
	c.log.Debug("relp session opened", "offers", string(truncate(data, 200)))
	return nil
}

// reply queues a response decided when its command was read.
func (c *conn) reply(txnr uint32, data []byte, errored bool) {
	c.items = append(c.items, item{txnr: txnr, kind: itemReply, reply: data, errored: errored})
}

// readError names a read that failed inside a batch.
func (c *conn) readError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if c.srv.cs.Stopping() && len(c.items) == 0 {
			return errStopping
		}
		return protoErrorf(kindReadTimeout, "no complete frame within relp.read_timeout (%s)", c.srv.cfg.ReadTimeout)
	}
	return err
}

// answer hands the batch's messages to the Handler, then writes the responses in
// transaction order, up to the first message that is not durable. It returns an error
// when the connection must end: a write failed, the client sent close, or messages
// could not be made durable (they are left unanswered, for the client to resend).
func (c *conn) answer() error {
	defer c.release()
	if len(c.items) == 0 {
		return nil
	}
	c.msgs, c.txnrs = c.msgs[:0], c.txnrs[:0]
	for _, it := range c.items {
		if it.kind == itemMessage {
			c.msgs = append(c.msgs, c.arena.buf[it.start:it.end])
			c.txnrs = append(c.txnrs, it.txnr)
		}
	}
	var herr error
	if len(c.msgs) > 0 {
		herr = c.settle()
	}
	var accepted, rejected, errored, unanswered int64
	closing := false
	c.out = c.out[:0]
	m := 0
	for _, it := range c.items {
		switch it.kind {
		case itemMessage:
			st := c.state[m]
			m++
			if st == statePending {
				unanswered++
				continue
			}
			if unanswered > 0 {
				continue // responses stay in order: none after an unanswered one
			}
			if st == stateAccepted {
				accepted++
			} else {
				rejected++
			}
			c.out = appendFrame(c.out, it.txnr, "rsp", rspOK)
		case itemReply:
			if unanswered > 0 {
				continue
			}
			if it.errored {
				errored++
			}
			c.out = appendFrame(c.out, it.txnr, "rsp", it.reply)
		case itemClose:
			if unanswered > 0 {
				continue
			}
			closing = true
			c.out = appendFrame(c.out, it.txnr, "rsp", rspOK)
		}
	}
	// Counted before the responses are written, so a client that has its response sees
	// the count.
	mt := c.srv.metrics
	if accepted > 0 {
		mt.txns.Add(c.ctx, accepted, mt.accepted)
	}
	if rejected > 0 {
		mt.txns.Add(c.ctx, rejected, mt.rejected)
	}
	if errored > 0 {
		mt.txns.Add(c.ctx, errored, mt.errored)
	}
	if unanswered > 0 {
		mt.txns.Add(c.ctx, unanswered, mt.unanswered)
	}
	c.txns += accepted + rejected + errored
	c.countBytes()
	if len(c.out) > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.ReadTimeout))
		if _, err := c.nc.Write(c.out); err != nil {
			return &writeError{err: err}
		}
	}
	if c.rejects > maxRejectLogs {
		c.log.Warn("more relp messages of the batch rejected and dropped", "rejected", c.rejects, "logged", maxRejectLogs)
	}
	switch {
	case unanswered > 0:
		return herr
	case closing:
		return errClientClosed
	}
	return nil
}

// release gives the batch's arena back and forgets its items.
func (c *conn) release() {
	clear(c.msgs)
	clear(c.sub)
	c.items, c.msgs, c.sub, c.held, c.rejects = c.items[:0], c.msgs[:0], c.sub[:0], 0, 0
	if c.arena != nil {
		c.arena.buf = c.arena.buf[:0]
		// An arena grown past a batch by outsized messages is left to the GC.
		if cap(c.arena.buf) <= c.srv.maxArena {
			c.srv.arenas.Put(c.arena)
		}
		c.arena = nil
	}
}

// settle calls the Handler until every message of the batch is accepted or rejected
// for good, retrying the others while the stream is busy. It returns nil when all are
// settled, or a *refusedError when it gave up (the pending messages stay unanswered).
func (c *conn) settle() error {
	c.state = c.state[:0]
	for range c.msgs {
		c.state = append(c.state, statePending)
	}
	backoff := retryMin
	var deadline time.Time
	for attempt := 1; ; attempt++ {
		c.sub, c.subIdx = c.sub[:0], c.subIdx[:0]
		for i, st := range c.state {
			if st == statePending {
				c.sub = append(c.sub, c.msgs[i])
				c.subIdx = append(c.subIdx, i)
			}
		}
		err := c.call()
		if err == nil {
			return nil
		}
		kind := gateway.KindOf(err)
		switch {
		case kind != gateway.KindOverloaded && kind != gateway.KindUnavailable:
			return &refusedError{kind: kind, why: "refused", err: err}
		case c.ctx.Err() != nil:
			return &refusedError{kind: kind, why: "stopping", err: err}
		case c.srv.cs.Stopping():
			return &refusedError{kind: kind, why: "stopping", err: err}
		case !c.srv.ready():
			return &refusedError{kind: kind, why: "draining", err: err}
		}
		now := c.srv.now()
		if deadline.IsZero() {
			deadline = now.Add(c.srv.cfg.RetryTimeout)
		}
		wait := min(backoff, deadline.Sub(now))
		if wait <= 0 {
			return &refusedError{kind: kind, why: "retry_timeout", err: err}
		}
		level := slog.LevelDebug
		if attempt == 1 {
			level = slog.LevelWarn
		}
		c.log.Log(c.ctx, level, "stream busy, holding the relp batch (the client is not read and waits for its window)",
			"kind", kind.String(), "attempt", attempt, "messages", len(c.sub), "retry_in", wait, "err", err)
		c.srv.metrics.retries.Add(c.ctx, 1)
		if !c.sleep(wait) {
			return &refusedError{kind: kind, why: "stopping", err: err}
		}
		backoff = min(2*backoff, retryMax)
	}
}

// call runs the Handler once on the pending messages (c.sub) and records what it
// decided. It returns nil when none is pending any more, else an error whose kind says
// whether to retry.
func (c *conn) call() error {
	start := c.srv.now()
	res, err := c.srv.handle(c.ctx, Batch{Messages: c.sub, Remote: c.raw.RemoteAddr(), Client: c.client})
	c.srv.metrics.latency.Record(c.ctx, c.srv.now().Sub(start).Seconds())
	c.srv.metrics.batchSize.Record(c.ctx, int64(len(c.sub)))
	if err != nil {
		return err
	}
	for _, i := range c.subIdx {
		c.state[i] = stateAccepted
	}
	var retry error
	for _, rj := range res.Rejections {
		if rj.Index < 0 || rj.Index >= len(c.subIdx) {
			c.log.Warn("relp handler rejected a message out of its batch, ignored", "index", rj.Index, "messages", len(c.subIdx))
			continue
		}
		i := c.subIdx[rj.Index]
		if rj.Kind.Retryable() {
			c.state[i] = statePending
			retry = gateway.Errorf(gateway.KindOverloaded, "message %d refused (%s): %s", c.txnrs[i], rj.Kind, rj.Reason)
			continue
		}
		if c.state[i] == stateRejected {
			continue
		}
		c.state[i] = stateRejected
		if c.rejects < maxRejectLogs {
			c.log.Warn("relp message rejected and dropped (answered 200: resending would fail the same way)",
				"txnr", c.txnrs[i], "kind", rj.Kind.String(), "reason", rj.Reason)
		}
		c.rejects++
	}
	return retry
}

// sleep waits d unless the connection or the server stops first; it reports whether
// it waited the whole time.
func (c *conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	case <-c.srv.cs.Quit():
		return false
	}
}

// countBytes adds the bytes read since the last call to the metric.
func (c *conn) countBytes() {
	if n := c.rd.N - c.reported; n > 0 {
		c.srv.metrics.bytes.Add(context.Background(), n)
		c.reported = c.rd.N
	}
}
