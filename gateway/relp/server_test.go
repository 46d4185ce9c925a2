package relp

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/sluice-siem/sluice/gateway"
)

func TestOpenSyslogClose(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { o.Software = "sluice,test,https://example.invalid" })
	c := dial(t, ts.addr, nil)
	txnr := c.send("open", openOffers)
	f := c.read()
	want := "200 OK\nrelp_version=0\nrelp_software=sluice,test,https://example.invalid\ncommands=syslog"
	if f.txnr != txnr || f.cmd != "rsp" || f.data != want {
		t.Fatalf("open answered %v, want %q", f, want)
	}
	var sent []string
	for i := range 3 {
		m := msg(i)
		sent = append(sent, m)
		c.expectOK(c.send("syslog", m))
	}
	c.expectOK(c.send("close", ""))
	c.expectEOF()
	if got := ts.rec.got(); !slices.Equal(got, sent) {
		t.Errorf("handler got %q, want %q", got, sent)
	}
	if n := ts.counter(t, "sluice_relp_transactions", attribute.String("result", "accepted")); n != 3 {
		t.Errorf("accepted transactions: %d, want 3", n)
	}
	if n := ts.counter(t, "sluice_relp_connections_opened", attribute.String("result", "served")); n != 1 {
		t.Errorf("served connections: %d, want 1", n)
	}
}

func TestPrincipalAndTypes(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { cfg.Types = []string{"firewall"} })
	var allowed, other bool
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		p := gateway.PrincipalFrom(ctx)
		allowed, other = p.Allows("firewall"), p.Allows("ids")
		if b.Remote == nil {
			t.Error("no remote address")
		}
		return gateway.Result{}, nil
	})
	c := dial(t, ts.addr, nil)
	c.open()
	c.expectOK(c.send("syslog", msg(1)))
	if !allowed || other {
		t.Errorf("principal allows firewall %v, ids %v; want true, false", allowed, other)
	}
}

// TestPipelined sends many transactions without waiting, as omrelp does within its
// window: every response comes back once, in order, with its TXNR, and the handler gets
// batches no larger than the window.
func TestPipelined(t *testing.T) {
	const n, window = 2000, 16
	ts := startServer(t, func(cfg *Config, o *Options) { cfg.Window = window })
	c := dial(t, ts.addr, nil)
	c.open()
	var sent []string
	var frames []byte
	for i := range n {
		sent = append(sent, msg(i))
		frames = append(frames, frame(uint32(i+2), "syslog", msg(i))...)
	}
	c.txnr = n + 2
	errc := make(chan error, 1)
	go func() {
		_, err := c.nc.Write(frames)
		errc <- err
	}()
	for i := range n {
		c.expectOK(uint32(i + 2))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := ts.rec.got(); !slices.Equal(got, sent) {
		t.Fatalf("handler got %d messages, want %d in order", len(got), len(sent))
	}
	sizes := ts.rec.batchSizes()
	if slices.Max(sizes) > window {
		t.Errorf("a batch of %d messages, window %d", slices.Max(sizes), window)
	}
	if len(sizes) >= n {
		t.Errorf("%d handler calls for %d pipelined messages: no batching", len(sizes), n)
	}
}

// TestSplitWrites sends a session one byte per write over TCP.
func TestSplitWrites(t *testing.T) {
	ts := startServer(t, nil)
	c := dial(t, ts.addr, nil)
	var stream []byte
	stream = append(stream, frame(1, "open", openOffers)...)
	for i := range 3 {
		stream = append(stream, frame(uint32(i+2), "syslog", msg(i))...)
	}
	stream = append(stream, frame(5, "close", "")...)
	go func() {
		for i := range stream {
			if _, err := c.nc.Write(stream[i : i+1]); err != nil {
				return
			}
		}
	}()
	if f := c.read(); f.txnr != 1 || !strings.HasPrefix(f.data, "200 OK\n") {
		t.Fatalf("open answered %v", f)
	}
	for i := range 3 {
		c.expectOK(uint32(i + 2))
	}
	c.expectOK(5)
	c.expectEOF()
	if got := ts.rec.got(); len(got) != 3 || got[2] != msg(2) {
		t.Errorf("handler got %q", got)
	}
}

// TestRetryableRefusal: while the stream is busy the server answers nothing (a 500
// would make librelp drop the message) and retries; once the stream takes the batch,
// every transaction is answered 200 once, in order.
func TestRetryableRefusal(t *testing.T) {
	ts := startServer(t, nil)
	var mu sync.Mutex
	fails := 2
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return gateway.Result{}, gateway.Errorf(gateway.KindOverloaded, "stream busy")
		}
		return gateway.Result{}, nil
	})
	c := dial(t, ts.addr, nil)
	c.open()
	start := time.Now()
	t1 := c.send("syslog", msg(1))
	c.expectOK(t1)
	if time.Since(start) < retryMin {
		t.Errorf("answered after %s, before any retry", time.Since(start))
	}
	c.expectOK(c.send("syslog", msg(2)))
	if got := ts.rec.got(); !slices.Equal(got, []string{msg(1), msg(2)}) {
		t.Errorf("handler got %q", got)
	}
	if n := ts.rec.callCount(); n != 4 {
		t.Errorf("%d handler calls, want 4 (2 refused, 2 accepted)", n)
	}
	if n := ts.counter(t, "sluice_relp_retries"); n != 2 {
		t.Errorf("retries: %d, want 2", n)
	}
}

// TestRetryTimeoutClosesUnanswered: a stream busy for longer than retry_timeout makes
// the server close the connection without answering, so the client resends on a new
// connection, where the recovered stream takes the message.
func TestRetryTimeoutClosesUnanswered(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { cfg.RetryTimeout = 300 * time.Millisecond })
	busy := make(chan struct{})
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		select {
		case <-busy:
			return gateway.Result{}, nil
		default:
			return gateway.Result{}, gateway.Errorf(gateway.KindUnavailable, "stream unreachable")
		}
	})
	c := dial(t, ts.addr, nil)
	c.open()
	c.raw(append(frame(2, "syslog", msg(1)), frame(3, "syslog", msg(2))...))
	c.expectServerClose() // no response: both are resent
	if n := ts.counter(t, "sluice_relp_transactions", attribute.String("result", "unanswered")); n != 2 {
		t.Errorf("unanswered transactions: %d, want 2", n)
	}
	close(busy)
	c2 := dial(t, ts.addr, nil)
	c2.open()
	c2.expectOK(c2.send("syslog", msg(1)))
	c2.expectOK(c2.send("syslog", msg(2)))
	if got := ts.rec.got(); !slices.Equal(got, []string{msg(1), msg(2)}) {
		t.Errorf("handler got %q", got)
	}
	if !strings.Contains(ts.logs.String(), "reason=retry_timeout") {
		t.Errorf("no retry_timeout in the logs:\n%s", ts.logs)
	}
}

// TestDrainingClosesUnanswered: while the gateway drains, a busy answer is not retried:
// the connection is closed unanswered so that the client resends elsewhere.
func TestDrainingClosesUnanswered(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { o.Ready = func() bool { return false } })
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		return gateway.Result{}, gateway.Errorf(gateway.KindUnavailable, "gateway is shutting down")
	})
	c := dial(t, ts.addr, nil)
	c.open()
	c.send("syslog", msg(1))
	c.expectServerClose()
	if n := ts.rec.callCount(); n != 1 {
		t.Errorf("%d handler calls, want 1 (no retry while draining)", n)
	}
}

// TestPermanentRejection: a message refused for good is answered 200 and dropped with a
// log line, never handed to the handler again; the messages around it are kept.
func TestPermanentRejection(t *testing.T) {
	ts := startServer(t, nil)
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		var res gateway.Result
		for i, m := range b.Messages {
			if strings.Contains(string(m), "bad") {
				res.Rejections = append(res.Rejections, gateway.Rejection{Index: i, Kind: gateway.KindInvalid, Reason: "not syslog"})
			}
		}
		return res, nil
	})
	c := dial(t, ts.addr, nil)
	c.open()
	frames := append(append(frame(2, "syslog", msg(1)), frame(3, "syslog", "bad")...), frame(4, "syslog", msg(2))...)
	c.txnr = 5
	c.raw(frames)
	for txnr := uint32(2); txnr <= 4; txnr++ {
		c.expectOK(txnr)
	}
	c.expectOK(c.send("syslog", msg(3)))
	if got := ts.rec.got(); !slices.Equal(got, []string{msg(1), msg(2), msg(3)}) {
		t.Errorf("handler kept %q", got)
	}
	if n := ts.counter(t, "sluice_relp_transactions", attribute.String("result", "rejected")); n != 1 {
		t.Errorf("rejected transactions: %d, want 1", n)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "rejected and dropped") || !strings.Contains(logs, "txnr=3") {
		t.Errorf("no log line for the dropped message:\n%s", logs)
	}
}

// TestRetryableRejection: a message the handler refuses as busy while accepting the
// others is handed to it again, alone, and answered once it is durable.
func TestRetryableRejection(t *testing.T) {
	ts := startServer(t, nil)
	var mu sync.Mutex
	var calls [][]string
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		var call []string
		for _, m := range b.Messages {
			call = append(call, string(m))
		}
		calls = append(calls, call)
		if len(calls) == 1 && len(b.Messages) == 3 {
			return gateway.Result{Rejections: []gateway.Rejection{{Index: 1, Kind: gateway.KindOverloaded, Reason: "shard busy"}}}, nil
		}
		return gateway.Result{}, nil
	})
	c := dial(t, ts.addr, nil)
	c.open()
	c.txnr = 5
	c.raw(append(append(frame(2, "syslog", "a"), frame(3, "syslog", "b")...), frame(4, "syslog", "c")...))
	for txnr := uint32(2); txnr <= 4; txnr++ {
		c.expectOK(txnr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) == 2 && !slices.Equal(calls[1], []string{"b"}) {
		t.Errorf("second call got %q, want only the refused message", calls[1])
	} else if len(calls) != 2 && len(calls) != 4 { // the frames may arrive in two reads
		t.Logf("calls: %q", calls)
	}
	if got := ts.rec.got(); !slices.Contains(got, "b") {
		t.Errorf("the refused message was never accepted: %q", got)
	}
}

// TestBatchRefusedForGood: a whole batch refused with a permanent kind (a configuration
// problem) is not answered: the connection is closed with an error log.
func TestBatchRefusedForGood(t *testing.T) {
	ts := startServer(t, nil)
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		return gateway.Result{}, gateway.Errorf(gateway.KindTooLarge, "batch has 200 events, limit is 100 (limits.max_batch_events)")
	})
	c := dial(t, ts.addr, nil)
	c.open()
	c.send("syslog", msg(1))
	c.expectServerClose()
	if logs := ts.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "max_batch_events") {
		t.Errorf("no error log:\n%s", logs)
	}
}

// TestUnsupportedCommand: an unknown command is answered 500 and the session goes on.
func TestUnsupportedCommand(t *testing.T) {
	ts := startServer(t, nil)
	c := dial(t, ts.addr, nil)
	c.open()
	txnr := c.send("starttls", "")
	if f := c.read(); f.txnr != txnr || f.data != "500 command not supported: starttls" {
		t.Fatalf("starttls answered %v", f)
	}
	c.expectOK(c.send("syslog", msg(1)))
	txnr = c.send("eventlog", "some data")
	if f := c.read(); f.txnr != txnr || !strings.HasPrefix(f.data, "500 ") {
		t.Fatalf("eventlog answered %v", f)
	}
	c.expectOK(c.send("syslog", msg(2)))
}

func TestRepeatedOpen(t *testing.T) {
	ts := startServer(t, nil)
	c := dial(t, ts.addr, nil)
	c.open()
	txnr := c.send("open", openOffers)
	if f := c.read(); f.txnr != txnr || !strings.HasPrefix(f.data, "200 ") {
		t.Fatalf("second open answered %v", f)
	}
	c.expectOK(c.send("syslog", msg(1)))
}

// TestProtocolErrors: input that breaks the protocol closes the connection after the
// serverclose hint, answered 500 where the client should drop the message rather than
// resend it, and is counted by kind.
func TestProtocolErrors(t *testing.T) {
	big := strings.Repeat("x", 70_000)
	tests := []struct {
		name   string
		open   bool   // open the session first
		input  string // after open, TXNRs from 2
		answer string // the 500 expected before the close, if any
		kind   string
	}{
		{name: "syslog before open", input: "1 syslog 5 hello\n", answer: "500 session not open", kind: kindNotOpen},
		{name: "close before open", input: "1 close 0\n", answer: "500 session not open", kind: kindNotOpen},
		{name: "open not first txnr", input: "2 " + string(frame(2, "open", openOffers)[2:]), kind: kindTxnr},
		{name: "txnr skips", open: true, input: "3 syslog 2 hi\n", kind: kindTxnr},
		{name: "txnr repeats", open: true, input: "2 syslog 2 hi\n2 syslog 2 hi\n", answer: "200 OK", kind: kindTxnr},
		{name: "txnr zero", open: true, input: "0 syslog 2 hi\n", kind: kindTxnr},
		{name: "datalen over limit", open: true, input: "2 syslog 70000 " + big + "\n", answer: "500 syslog of 70000 bytes is over relp.max_message_bytes", kind: kindTooLarge},
		{name: "huge datalen", open: true, input: "2 syslog 999999999 x", answer: "500 syslog of 999999999 bytes", kind: kindTooLarge},
		{name: "missing trailer", open: true, input: "2 syslog 5 helloX", kind: kindTrailer},
		{name: "datalen short", open: true, input: "2 syslog 3 hello\n", kind: kindTrailer},
		{name: "http", input: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", kind: kindMalformed},
		{name: "binary", input: "\x16\x03\x01\x02\x00\x01\x00", kind: kindMalformed},
		{name: "txnr too long", input: "1234567890 open 0\n", kind: kindMalformed},
		{name: "command too long", input: "1 " + strings.Repeat("a", 33) + " 0\n", kind: kindMalformed},
		{name: "command not letters", open: true, input: "2 sys-log 2 hi\n", kind: kindMalformed},
		{name: "datalen too long", open: true, input: "2 syslog 1234567890 x", kind: kindMalformed},
		{name: "space after datalen 0", open: true, input: "2 close 0 \n", kind: kindMalformed},
		{name: "no datalen", open: true, input: "2 syslog \n", kind: kindMalformed},
		{name: "open without syslog", input: string(frame(1, "open", "relp_version=0\ncommands=eventlog")), answer: "500 required command not supported", kind: kindOffers},
		{name: "open bad version", input: string(frame(1, "open", "relp_version=x\ncommands=syslog")), answer: "500 cannot use offers", kind: kindOffers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := dial(t, ts.addr, nil)
			if tt.open {
				c.open()
			}
			go func() { _, _ = c.nc.Write([]byte(tt.input)) }() // the server may close before it is all read
			if tt.answer != "" {
				f := c.read()
				if f.cmd != "rsp" || !strings.HasPrefix(f.data, tt.answer) {
					t.Fatalf("answered %v, want %q", f, tt.answer)
				}
				if len(f.data) > 84 {
					t.Errorf("response text longer than 80 characters: %q", f.data)
				}
			}
			c.expectServerClose()
			eventually(t, "the protocol error count", func() bool {
				return ts.counter(t, "sluice_relp_protocol_errors", attribute.String("kind", tt.kind)) == 1
			})
			if got := ts.rec.got(); len(got) != 0 && tt.answer != "200 OK" {
				t.Errorf("handler got %q", got)
			}
		})
	}
}

// TestAnsweredBeforeProtocolError: the transactions before a protocol error in the same
// read are handed to the handler and answered before the connection is closed.
func TestAnsweredBeforeProtocolError(t *testing.T) {
	ts := startServer(t, nil)
	c := dial(t, ts.addr, nil)
	c.open()
	c.raw(append(frame(2, "syslog", msg(1)), "7 syslog 2 hi\n"...))
	c.expectOK(2)
	c.expectServerClose()
	if got := ts.rec.got(); !slices.Equal(got, []string{msg(1)}) {
		t.Errorf("handler got %q", got)
	}
}

func TestTruncatedFrame(t *testing.T) {
	ts := startServer(t, nil)
	c := dial(t, ts.addr, nil)
	c.open()
	c.raw([]byte("2 syslog 10 hel"))
	if err := c.nc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.expectServerClose()
	eventually(t, "the truncated count", func() bool {
		return ts.counter(t, "sluice_relp_protocol_errors", attribute.String("kind", kindTruncated)) == 1
	})
}

// TestWindowBackpressure: while the handler is busy the connection is not read beyond
// the window, so a client that keeps sending is stopped by TCP; once the handler
// returns, every transaction is answered in order.
func TestWindowBackpressure(t *testing.T) {
	const window, n = 8, 16_000
	ts := startServer(t, func(cfg *Config, o *Options) { cfg.Window = window })
	release := make(chan struct{})
	blocked := make(chan int, 1)
	var once sync.Once
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		once.Do(func() {
			blocked <- len(b.Messages)
			<-release
		})
		return gateway.Result{}, nil
	})
	c := dial(t, ts.addr, nil)
	c.open()
	payload := strings.Repeat("m", 2000)
	var frames []byte
	for i := range n {
		frames = append(frames, frame(uint32(i+2), "syslog", payload)...)
	}
	written := make(chan error, 1)
	go func() {
		_, err := c.nc.Write(frames)
		written <- err
	}()
	if got := <-blocked; got > window {
		t.Fatalf("first batch has %d messages, window %d", got, window)
	}
	select {
	case err := <-written:
		t.Fatalf("the client wrote %d MiB while the handler was blocked (err %v): not pushed back", len(frames)>>20, err)
	case <-time.After(500 * time.Millisecond):
	}
	if calls := ts.rec.callCount(); calls != 1 {
		t.Errorf("%d handler calls while the first was blocked", calls)
	}
	close(release)
	for i := range n {
		c.expectOK(uint32(i + 2))
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if m := slices.Max(ts.rec.batchSizes()); m > window {
		t.Errorf("a batch of %d messages, window %d", m, window)
	}
}

// TestBatchBytesBound: max_batch_bytes ends a batch before the window does.
func TestBatchBytesBound(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) {
		cfg.MaxMessageBytes = 1000
		cfg.MaxBatchBytes = 2500
	})
	c := dial(t, ts.addr, nil)
	c.open()
	var frames []byte
	for i := range 50 {
		frames = append(frames, frame(uint32(i+2), "syslog", strings.Repeat("x", 1000))...)
	}
	c.txnr = 52
	c.raw(frames)
	for i := range 50 {
		c.expectOK(uint32(i + 2))
	}
	if m := slices.Max(ts.rec.batchSizes()); m > 3 {
		t.Errorf("a batch of %d messages of 1000 bytes, max_batch_bytes 2500", m)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { cfg.IdleTimeout = 200 * time.Millisecond })
	c := dial(t, ts.addr, nil)
	c.open()
	c.expectOK(c.send("syslog", msg(1)))
	start := time.Now()
	c.expectServerClose()
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("closed after %s, idle timeout 200ms", d)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { cfg.HandshakeTimeout = 200 * time.Millisecond })
	c := dial(t, ts.addr, nil)
	c.expectServerClose() // no open in time
	eventually(t, "the not_open count", func() bool {
		return ts.counter(t, "sluice_relp_protocol_errors", attribute.String("kind", kindNotOpen)) == 1
	})
}

// TestGracefulDrain: when Run's context ends, idle connections get serverclose at
// once, a batch in progress is finished and answered, then its connection gets
// serverclose; Run returns.
func TestGracefulDrain(t *testing.T) {
	ts := startServer(t, nil)
	idle := dial(t, ts.addr, nil)
	idle.open()
	busy := dial(t, ts.addr, nil)
	busy.open()
	release := make(chan struct{})
	entered := make(chan struct{})
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		close(entered)
		<-release
		return gateway.Result{}, nil
	})
	txnr := busy.send("syslog", msg(1))
	<-entered
	ts.cancel()
	idle.expectServerClose()
	close(release)
	busy.expectOK(txnr)
	busy.expectServerClose()
	ts.stop(t)
	if _, err := dial2(ts.addr); err == nil {
		t.Error("the listener still accepts after Run returned")
	}
}

// TestDrainTimeout: a batch still in progress at the drain deadline has its handler
// canceled and its connection closed unanswered.
func TestDrainTimeout(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { o.DrainTimeout = 300 * time.Millisecond })
	entered := make(chan struct{})
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		close(entered)
		<-ctx.Done()
		return gateway.Result{}, gateway.Errorf(gateway.KindUnavailable, "canceled: %w", ctx.Err())
	})
	c := dial(t, ts.addr, nil)
	c.open()
	c.send("syslog", msg(1))
	<-entered
	start := time.Now()
	ts.stop(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run returned after %s, drain timeout 300ms", d)
	}
	if f, err := c.readErr(5 * time.Second); err == nil && f.cmd == "rsp" {
		t.Errorf("the canceled transaction was answered: %v", f)
	}
}

func TestClose(t *testing.T) {
	ts := startServer(t, nil)
	entered := make(chan struct{})
	canceled := make(chan struct{})
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		close(entered)
		<-ctx.Done()
		close(canceled)
		return gateway.Result{}, gateway.Errorf(gateway.KindUnavailable, "canceled")
	})
	c := dial(t, ts.addr, nil)
	c.open()
	c.send("syslog", msg(1))
	<-entered
	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-canceled
	if f, err := c.readErr(5 * time.Second); err == nil && f.cmd == "rsp" {
		t.Errorf("answered after Close: %v", f)
	}
	if err := ts.srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestMaxConnections(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { cfg.MaxConnections = 2 })
	a, b := dial(t, ts.addr, nil), dial(t, ts.addr, nil)
	a.open()
	b.open()
	extra := dial(t, ts.addr, nil)
	extra.expectEOF()
	if n := ts.counter(t, "sluice_relp_connections_opened", attribute.String("result", "over_limit")); n != 1 {
		t.Errorf("over_limit connections: %d, want 1", n)
	}
	a.expectOK(a.send("syslog", msg(1)))
	a.expectOK(a.send("close", ""))
	a.expectEOF()
	eventually(t, "a free connection slot", func() bool { return ts.srv.open.Load() == 1 })
	c := dial(t, ts.addr, nil)
	c.open()
	c.expectOK(c.send("syslog", msg(2)))
}

// dial2 dials without the test helpers, for checks that expect a failure.
func dial2(addr string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		_ = nc.Close()
	}
	return nc, err
}
