package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// relpTransport is a RELP client as rsyslog's omrelp (librelp) is one: a session per
// connection (open, then syslog transactions), each message its own transaction with
// its own TXNR, answered by its own rsp, and at most window transactions unanswered
// (librelp's default window is 128). A message is acknowledged when its "rsp 200"
// arrives; its latency runs from its write (under --rate, from its batch's scheduled
// time) to that rsp. Any other rsp code (500) counts the message as rejected, with the
// kind relp_CODE; the connection's loss, a serverclose hint or a timeout fails the
// transactions still unanswered (relp_eof, relp_serverclose, relp_timeout, ...). The
// client never resends: what was not answered 200 is counted, not retried.
//
// The runner's batches are only the load generator's unit of work here: a batch's
// messages go out as window slots free up, several frames per write when several
// slots are free at once.
type relpTransport struct {
	addr    string
	window  int
	timeout time.Duration
	// schedule makes latencies count from the batch's start (its scheduled time under
	// --rate) instead of each message's write.
	schedule bool
	wire     *atomic.Int64
	msgs     [][]byte
}

func newRELPTransport(addr string, window int, timeout time.Duration, schedule bool, msgs [][]byte, wire *atomic.Int64) (*relpTransport, []int) {
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		sizes[i] = len(m)
	}
	return &relpTransport{addr: addr, window: window, timeout: timeout, schedule: schedule, wire: wire, msgs: msgs}, sizes
}

// relpOffers is the data of the client's open: librelp's offers (relp_version 0 is the
// version librelp speaks).
const relpOffers = "relp_version=0\nrelp_software=sluice-load,1,https://github.com/sluice-siem/sluice\ncommands=syslog"

// Bounds of what the client reads.
const (
	relpMaxData    = 64 << 10 // the data of one frame from the server
	relpMaxCommand = 32
	relpMaxTxnr    = 999_999_999
	// relpCloseWait bounds the wait for the answer to close at the end.
	relpCloseWait = 5 * time.Second
)

// dial connects and opens a session: the open command, and the server's "rsp 200".
func (t *relpTransport) dial(ctx context.Context) (conn, error) {
	nc, err := dialCounting(ctx, t.addr, t.wire)
	if err != nil {
		return nil, err
	}
	c := &relpConn{
		t: t, nc: nc, next: 2, slots: make(chan struct{}, t.window),
		pending: make(map[uint32]relpPending, t.window), dead: make(chan struct{}), readDone: make(chan struct{}),
	}
	c.br = bufio.NewReaderSize(relpReader{c}, 64<<10)
	if err := c.open(); err != nil {
		_ = nc.Close()
		return nil, err
	}
	go c.read()
	return c, nil
}

func (t *relpTransport) close() {}

// relpPending is a syslog transaction written and not yet answered.
type relpPending struct {
	tr   *relpTracker
	sent time.Time
}

// relpTracker collects the outcomes of one batch's messages; the batch's done is
// called once every message has one.
type relpTracker struct {
	b    batch
	done func(outcome)
	left int // messages without an outcome
	o    outcome
}

// fail records k messages of the batch as not acknowledged, of kind (the first kind
// of a batch is the one reported); it reports whether the batch is complete.
func (tr *relpTracker) fail(k int, kind string, err error) bool {
	if tr.o.kind == "" {
		tr.o.kind, tr.o.err = kind, err
	}
	tr.left -= k
	return tr.left == 0
}

// relpConn is one RELP session. The worker's send writes frames; one reader goroutine
// reads the responses. mu guards the transaction state.
type relpConn struct {
	t     *relpTransport
	nc    net.Conn
	br    *bufio.Reader
	slots chan struct{} // one token per unanswered transaction: the window
	out   []byte        // frames being written (send and close only)

	mu         sync.Mutex
	opened     bool   // open was answered: the reader's deadlines apply
	next       uint32 // TXNR of the next command
	pending    map[uint32]relpPending
	err        error         // why the session ended; set once, then dead is closed
	errKind    string        // err's kind for the outcomes
	dead       chan struct{} // closed when the session ended
	hint       bool          // the server sent serverclose
	closeTxnr  uint32        // of the close command, once sent
	closeAcked chan struct{} // closed when close is answered
	readDone   chan struct{}
}

// relpReader reads the connection for the reader goroutine's buffer. Before each read
// it sets the read deadline: --timeout from now while transactions wait for answers,
// none while nothing does; send sets it too, under the same lock, when it writes.
type relpReader struct{ c *relpConn }

func (r relpReader) Read(p []byte) (int, error) {
	c := r.c
	c.mu.Lock()
	switch {
	case !c.opened: // open sets its own deadline
	case len(c.pending) > 0 || c.closeTxnr != 0:
		_ = c.nc.SetReadDeadline(time.Now().Add(c.t.timeout))
	default:
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
	return c.nc.Read(p)
}

// open sends the open command and reads its answer, before the reader starts.
func (c *relpConn) open() error {
	_ = c.nc.SetDeadline(time.Now().Add(c.t.timeout))
	if _, err := c.nc.Write(appendRELPFrame(nil, 1, "open", []byte(relpOffers))); err != nil {
		return fmt.Errorf("relp open: %w", err)
	}
	f, err := readRELPFrame(c.br, nil)
	if err != nil {
		return fmt.Errorf("relp open: read answer: %w", err)
	}
	if f.txnr != 1 || f.cmd != "rsp" {
		return fmt.Errorf("relp open: answered by %d %s, want 1 rsp", f.txnr, f.cmd)
	}
	if code := rspCode(f.data); code != 200 {
		return fmt.Errorf("relp open refused: %q", truncateBytes(f.data, 200))
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.mu.Lock()
	c.opened = true
	c.mu.Unlock()
	return nil
}

// send writes the batch's messages as syslog transactions, as window slots free up.
// It returns an error when the session ended before all were written; those not
// written count as failed.
func (c *relpConn) send(ctx context.Context, b batch, done func(outcome)) error {
	tr := &relpTracker{b: b, done: done, left: b.n, o: outcome{latencies: make([]time.Duration, 0, b.n)}}
	for i := 0; i < b.n; {
		select {
		case c.slots <- struct{}{}:
		case <-c.dead:
			return c.failUnsent(tr, b.n-i, nil)
		case <-ctx.Done():
			return c.failUnsent(tr, b.n-i, ctx.Err())
		}
		k := 1
	more:
		for k < b.n-i {
			select {
			case c.slots <- struct{}{}:
				k++
			default:
				break more
			}
		}
		now := time.Now()
		sent := now
		if c.t.schedule {
			sent = b.start
		}
		c.out = c.out[:0]
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return c.failUnsent(tr, b.n-i, nil)
		}
		for j := range k {
			txnr := c.next
			c.next = nextRELPTxnr(c.next)
			c.pending[txnr] = relpPending{tr: tr, sent: sent}
			c.out = appendRELPFrame(c.out, txnr, "syslog", c.t.msgs[b.first+i+j])
		}
		_ = c.nc.SetReadDeadline(now.Add(c.t.timeout))
		c.mu.Unlock()
		_ = c.nc.SetWriteDeadline(now.Add(c.t.timeout))
		if _, err := c.nc.Write(c.out); err != nil {
			// The session ends: the transactions just registered fail with the rest.
			c.end(fmt.Errorf("write relp frames: %w", err))
			return c.failUnsent(tr, b.n-i-k, nil)
		}
		i += k
	}
	return nil
}

// failUnsent counts k messages of tr that were never written as failed, for err, or
// when err is nil for the reason the session ended; it returns the error.
func (c *relpConn) failUnsent(tr *relpTracker, k int, err error) error {
	c.mu.Lock()
	kind := errKind("relp", err)
	if err == nil {
		err, kind = c.err, c.errKind
	}
	if err == nil { // not reached: the session ended before nil is passed
		err, kind = errBroken, "relp_broken"
	}
	complete := k > 0 && tr.fail(k, kind, err)
	c.mu.Unlock()
	if complete {
		tr.done(tr.o)
	}
	return err
}

// read reads responses until the session ends, then fails what is unanswered.
func (c *relpConn) read() {
	defer close(c.readDone)
	var buf []byte
	for {
		f, err := readRELPFrame(c.br, buf[:0])
		if err != nil {
			c.end(err)
			return
		}
		buf = f.data
		switch {
		case f.txnr == 0 && f.cmd == "serverclose":
			c.mu.Lock()
			c.hint = true
			c.mu.Unlock()
			continue // the server closes the connection next
		case f.cmd != "rsp":
			c.end(fmt.Errorf("relp: server sent %q (TXNR %d), want rsp", f.cmd, f.txnr))
			return
		}
		if err := c.answer(f.txnr, f.data); err != nil {
			c.end(err)
			return
		}
	}
}

// answer records the response to transaction txnr.
func (c *relpConn) answer(txnr uint32, data []byte) error {
	now := time.Now()
	c.mu.Lock()
	p, ok := c.pending[txnr]
	if !ok {
		if txnr != 0 && txnr == c.closeTxnr {
			close(c.closeAcked)
			c.closeTxnr = 0
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		return fmt.Errorf("relp: rsp to TXNR %d, which is not waiting for one", txnr)
	}
	delete(c.pending, txnr)
	tr := p.tr
	tr.left--
	if code := rspCode(data); code == 200 {
		tr.o.acked++
		tr.o.latencies = append(tr.o.latencies, now.Sub(p.sent))
	} else {
		tr.o.rejected++
		if tr.o.kind == "" {
			tr.o.kind = "relp_" + strconv.Itoa(code)
			tr.o.err = fmt.Errorf("rsp %q", truncateBytes(data, 300))
		}
	}
	complete := tr.left == 0
	c.mu.Unlock()
	<-c.slots
	if complete {
		tr.done(tr.o)
	}
	return nil
}

// end ends the session after err: every unanswered transaction fails.
func (c *relpConn) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	kind := errKind("relp", err)
	if c.hint {
		kind = "relp_serverclose"
		err = fmt.Errorf("server sent serverclose, then: %w", err)
	}
	c.err, c.errKind = err, kind
	var complete []*relpTracker
	for txnr, p := range c.pending {
		delete(c.pending, txnr)
		if p.tr.fail(1, kind, err) {
			complete = append(complete, p.tr)
		}
	}
	close(c.dead)
	c.mu.Unlock()
	_ = c.nc.Close()
	for _, tr := range complete {
		tr.done(tr.o)
	}
}

// close ends the session: a close command, answered within relpCloseWait unless the
// session already ended, then the connection closed. Transactions still unanswered
// (the drain gave up) fail.
func (c *relpConn) close() {
	c.mu.Lock()
	if c.err == nil {
		c.closeTxnr = c.next
		c.next = nextRELPTxnr(c.next)
		c.closeAcked = make(chan struct{})
		_ = c.nc.SetReadDeadline(time.Now().Add(c.t.timeout))
		c.out = appendRELPFrame(c.out[:0], c.closeTxnr, "close", nil)
		acked := c.closeAcked
		c.mu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(relpCloseWait))
		if _, err := c.nc.Write(c.out); err == nil {
			t := time.NewTimer(relpCloseWait)
			select {
			case <-acked:
			case <-c.dead:
			case <-t.C:
			}
			t.Stop()
		}
	} else {
		c.mu.Unlock()
	}
	c.end(net.ErrClosed)
	<-c.readDone
}

// relpFrame is a frame the server sent.
type relpFrame struct {
	txnr uint32
	cmd  string
	data []byte
}

// appendRELPFrame appends "TXNR SP COMMAND SP DATALEN [SP DATA] LF".
func appendRELPFrame(dst []byte, txnr uint32, cmd string, data []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(txnr), 10)
	dst = append(dst, ' ')
	dst = append(dst, cmd...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	if len(data) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, data...)
	}
	return append(dst, '\n')
}

// readRELPFrame reads one frame; its data is appended to buf. Every field is bounded.
func readRELPFrame(br *bufio.Reader, buf []byte) (relpFrame, error) {
	var f relpFrame
	txnr, next, err := readRELPNumber(br)
	if err != nil {
		return f, err
	}
	if next != ' ' {
		return f, fmt.Errorf("relp frame: byte %q after TXNR, want a space", next)
	}
	f.txnr = uint32(txnr)
	var cmd [relpMaxCommand]byte
	n := 0
	for {
		b, err := br.ReadByte()
		if err != nil {
			return f, midRELPFrame(err)
		}
		if b == ' ' {
			break
		}
		if n == len(cmd) || !(b|0x20 >= 'a' && b|0x20 <= 'z') {
			return f, fmt.Errorf("relp frame: bad command byte %q", b)
		}
		cmd[n] = b
		n++
	}
	switch string(cmd[:n]) { // no allocation for the commands a server sends
	case "rsp":
		f.cmd = "rsp"
	case "serverclose":
		f.cmd = "serverclose"
	default:
		f.cmd = string(cmd[:n])
	}
	size, next, err := readRELPNumber(br)
	if err != nil {
		return f, midRELPFrame(err)
	}
	switch {
	case size == 0 && next == '\n':
		f.data = buf
		return f, nil
	case size == 0 || next != ' ':
		return f, fmt.Errorf("relp frame: byte %q after DATALEN %d", next, size)
	case size > relpMaxData:
		return f, fmt.Errorf("relp frame: DATALEN %d over %d", size, relpMaxData)
	}
	for range size {
		b, err := br.ReadByte()
		if err != nil {
			return f, midRELPFrame(err)
		}
		buf = append(buf, b)
	}
	f.data = buf
	if b, err := br.ReadByte(); err != nil {
		return f, midRELPFrame(err)
	} else if b != '\n' {
		return f, fmt.Errorf("relp frame: byte %q after the data, want LF", b)
	}
	return f, nil
}

// readRELPNumber reads 1 to 9 digits and the byte after them.
func readRELPNumber(br *bufio.Reader) (int, byte, error) {
	n := 0
	for digits := 0; ; digits++ {
		b, err := br.ReadByte()
		if err != nil {
			if digits > 0 {
				err = midRELPFrame(err)
			}
			return 0, 0, err
		}
		if b < '0' || b > '9' {
			if digits == 0 {
				return 0, 0, fmt.Errorf("relp frame: byte %q, want a number", b)
			}
			return n, b, nil
		}
		if digits == 9 {
			return 0, 0, errors.New("relp frame: number of more than 9 digits")
		}
		n = n*10 + int(b-'0')
	}
}

func midRELPFrame(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("relp frame cut short: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// rspCode returns the status code that starts an rsp's data ("200 OK"), or 0.
func rspCode(data []byte) int {
	if len(data) < 3 {
		return 0
	}
	code := 0
	for _, b := range data[:3] {
		if b < '0' || b > '9' {
			return 0
		}
		code = code*10 + int(b-'0')
	}
	if len(data) > 3 && data[3] != ' ' && data[3] != '\n' {
		return 0
	}
	return code
}

// nextRELPTxnr is the TXNR after t: 999999999 is followed by 1.
func nextRELPTxnr(t uint32) uint32 {
	if t >= relpMaxTxnr {
		return 1
	}
	return t + 1
}
