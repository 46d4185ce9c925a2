package lumberjack

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// The slow-stream test runs Filebeat's timing scaled down by 15: Filebeat waits 30s for
// an ACK and the issue holds the stream 45s, so the hold is 1.5 times the client's
// timeout; the keepalive default (5s of 30s) is a sixth of it. Run it at full scale
// with: go test -run SlowStream ./gateway/lumberjack -args -slow.timeout=30s -slow.hold=45s
var (
	slowTimeout = flag.Duration("slow.timeout", 2*time.Second, "client ACK timeout in TestSlowStreamKeepsClientAlive")
	slowHold    = flag.Duration("slow.hold", 3*time.Second, "how long TestSlowStreamKeepsClientAlive holds the stream")
)

// TestPartialACKs sends a window of 10,000 events: it is ingested in parts of at most
// 1 MiB or 2048 events, each ACKed once durable, so the client sees increasing partial
// ACKs ending with the window's last sequence, each sent only after its events were
// ingested.
func TestPartialACKs(t *testing.T) {
	rec := newRecorder()
	h := start(t, rec, testConfig())
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := lj.NewWithConn(conn, lj.CompressionLevel(3), lj.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs := events(0, 10000)
	if err := c.Send(evs); err != nil {
		t.Fatal(err)
	}
	var acks []uint32
	for len(acks) == 0 || acks[len(acks)-1] < 10000 {
		seq, err := c.ReceiveACK()
		if err != nil {
			t.Fatalf("after ACKs %v: %v", acks, err)
		}
		if got := rec.count(); int(seq) > got {
			t.Fatalf("ACK %d before its events were ingested (%d were)", seq, got)
		}
		if len(acks) > 0 && seq <= acks[len(acks)-1] {
			t.Fatalf("ACK %d after %v", seq, acks)
		}
		acks = append(acks, seq)
	}
	// About 620 bytes an event: parts of 1 MiB, about 1700 events.
	if len(acks) < 5 || acks[0] > partEvents {
		t.Fatalf("ACKs %v: want parts of at most 1 MiB and %d events", acks, partEvents)
	}
	docsEqual(t, rec.snapshot(), wantDocs(t, evs))
}

// TestSlowStreamKeepsClientAlive fills a tiny embedded stream and holds it (no
// consumer) for longer than the client's ACK timeout. The gateway answers overloaded,
// the receiver retries the same events without reading more and sends keepalives, so
// the client does not time out; once a consumer frees the stream, the window is ACKed
// and every event is in the stream.
func TestSlowStreamKeepsClientAlive(t *testing.T) {
	timeout, hold := *slowTimeout, *slowHold
	gwcfg := gateway.DefaultConfig()
	gwcfg.Limits.BackpressureWait = timeout / 6
	ms, err := embedded.New(embedded.Config{Streams: gwcfg.StreamNames(), Shards: 1, MaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gwcfg, ms, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Fill the stream.
	filler := make([]stream.Record, 64)
	for i := range filler {
		filler[i] = stream.Record{PartitionKey: "k", Data: make([]byte, 64<<10-16)}
	}
	if err := ms.Put(context.Background(), "sluice-default", filler); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig()
	cfg.KeepaliveInterval = timeout / 6
	h := start(t, gw, cfg)

	var received atomic.Int64
	ctx, stopConsume := context.WithCancel(context.Background())
	consumed := make(chan error, 1)
	startConsume := func() {
		go func() {
			consumed <- ms.Consume(ctx, func(_ context.Context, b stream.Batch) error {
				for _, r := range b.Records {
					if _, err := stream.ParseEnvelope(r.Data); err == nil { // not filler
						received.Add(1)
					}
				}
				return nil
			})
		}()
	}
	held := time.Now() // the stream moves at held+hold
	holdTimer := time.AfterFunc(hold, startConsume)
	defer func() {
		stopConsume()
		if holdTimer.Stop() {
			return // the consumer never started
		}
		if err := <-consumed; err != nil {
			t.Error(err)
		}
	}()

	c, err := lj.SyncDial(h.addr, lj.CompressionLevel(3), lj.Timeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs := events(0, 300)
	began := time.Now()
	n, err := c.Send(evs)
	if err != nil || n != len(evs) {
		t.Fatalf("window ACKed %d of %d: %v (after %v; hold %v, client timeout %v)", n, len(evs), err, time.Since(began), hold, timeout)
	}
	if since := time.Since(held); since < hold {
		t.Fatalf("window ACKed %v after the stream was held, before it moved at %v", since, hold)
	}
	eventually(t, "events consumed from the stream", func() bool { return received.Load() == int64(len(evs)) })
	if ka := h.counter(t, "sluice_lumberjack_keepalives"); ka < int64(hold/cfg.KeepaliveInterval)-2 {
		t.Errorf("%d keepalives in %v at %v", ka, hold, cfg.KeepaliveInterval)
	}
	if !strings.Contains(h.logs.String(), "stream busy, holding the lumberjack window") {
		t.Error("no log line for the held window")
	}
}

// TestRetriesOverloadedThenACKs: an overloaded or unavailable Ingest is retried with the
// same events on the same connection; the window is ACKed once one attempt succeeds.
func TestRetriesOverloadedThenACKs(t *testing.T) {
	rec := newRecorder()
	var attempts atomic.Int32
	rec.setHook(func(context.Context, gateway.Batch) error {
		switch attempts.Add(1) {
		case 1:
			return gateway.Errorf(gateway.KindOverloaded, "stream full")
		case 2:
			return gateway.Errorf(gateway.KindUnavailable, "stream unreachable")
		}
		return nil
	})
	h := start(t, rec, testConfig())
	evs := events(0, 10)
	send(t, h.addr, "sync", 3, [][]any{evs})
	if attempts.Load() != 3 {
		t.Errorf("%d attempts, want 3", attempts.Load())
	}
	docsEqual(t, rec.snapshot(), wantDocs(t, evs))
}

// TestPermanentErrorClosesConnection: a window refused with a permanent kind closes the
// connection with a log line, unACKed; the server keeps serving others.
func TestPermanentErrorClosesConnection(t *testing.T) {
	rec := newRecorder()
	rec.setHook(func(context.Context, gateway.Batch) error {
		return gateway.Errorf(gateway.KindUnauthenticated, "no key for you")
	})
	h := start(t, rec, testConfig())
	c, err := lj.SyncDial(h.addr, lj.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.Send(events(0, 3)); err == nil || n != 0 {
		t.Fatalf("Send = %d, %v; want an error and nothing ACKed", n, err)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "lumberjack window refused, closing connection") || !strings.Contains(logs, "no key for you") {
		t.Errorf("no log line for the refused window:\n%s", logs)
	}
	rec.setHook(nil)
	send(t, h.addr, "sync", 0, [][]any{events(0, 2)})
}

// TestDrainingGatewayClosesConnection: while the gateway drains, an unavailable answer
// is not retried: the connection is closed so the client resends elsewhere.
func TestDrainingGatewayClosesConnection(t *testing.T) {
	rec := newRecorder()
	rec.ready = false
	rec.setHook(func(context.Context, gateway.Batch) error {
		return gateway.Errorf(gateway.KindUnavailable, "gateway is shutting down")
	})
	h := start(t, rec, testConfig())
	c, err := lj.SyncDial(h.addr, lj.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(events(0, 3)); err == nil {
		t.Fatal("Send succeeded while the gateway drains")
	}
	if !strings.Contains(h.logs.String(), "the gateway is draining") {
		t.Errorf("no log line for the draining gateway:\n%s", h.logs.String())
	}
}

// TestKillBeforeACK: the server dies while a window is in Ingest, after its first part
// was ACKed. The client, as Beats do, resends what was not ACKed to a new server:
// every event arrives, some twice, none lost.
func TestKillBeforeACK(t *testing.T) {
	rec1 := newRecorder()
	inIngest := make(chan struct{})
	var once sync.Once
	rec1.setHook(func(ctx context.Context, b gateway.Batch) error {
		if rec1.count() == 0 {
			return nil // the first part goes through and is ACKed
		}
		// The second part is in Ingest when the server is killed: never ACKed.
		once.Do(func() { close(inIngest) })
		<-ctx.Done()
		return gateway.Errorf(gateway.KindUnavailable, "killed: %w", ctx.Err())
	})
	h1 := start(t, rec1, testConfig())
	conn, err := net.Dial("tcp", h1.addr)
	if err != nil {
		t.Fatal(err)
	}
	// The low-level client, to see partial ACKs as Beats do (SyncClient reports 0
	// ACKed on any error).
	c, err := lj.NewWithConn(conn, lj.CompressionLevel(3), lj.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs := events(0, 3000)
	go func() {
		<-inIngest
		_ = h1.srv.Close() // kill
	}()
	if err := c.Send(evs); err != nil {
		t.Fatal(err)
	}
	var acked int
	for {
		seq, err := c.ReceiveACK()
		if err != nil {
			break
		}
		acked = int(seq)
	}
	if acked == 0 || acked >= len(evs) || acked != rec1.count() {
		t.Fatalf("ACKed %d before the kill, want the first part (%d events)", acked, rec1.count())
	}
	h1.stop()

	rec2 := newRecorder()
	h2 := start(t, rec2, testConfig())
	send(t, h2.addr, "sync", 3, [][]any{evs[acked:]})

	got := map[string]int{}
	for _, d := range append(rec1.snapshot(), rec2.snapshot()...) {
		got[string(d)]++
	}
	for i, w := range wantDocs(t, evs) {
		if got[w] == 0 {
			t.Fatalf("event %d lost", i)
		}
	}
}

// TestRunDrainsWindowsInProgress: when Run's context ends, idle connections are closed
// at once and a window in progress is finished (ingested and ACKed) before its
// connection closes and Run returns.
func TestRunDrainsWindowsInProgress(t *testing.T) {
	rec := newRecorder()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	rec.setHook(func(context.Context, gateway.Batch) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	h := start(t, rec, testConfig())

	idle, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	c, err := lj.SyncDial(h.addr, lj.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := make(chan error, 1)
	go func() {
		n, err := c.Send(events(0, 5))
		if err == nil && n != 5 {
			err = fmt.Errorf("ACKed %d of 5", n)
		}
		sent <- err
	}()
	<-entered
	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()

	// The idle connection is closed right away.
	_ = idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	select {
	case <-stopped:
		t.Fatal("Run returned while a window was in progress")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-sent; err != nil {
		t.Fatalf("window in progress: %v", err)
	}
	<-stopped
	if _, err := c.Send(events(5, 1)); err == nil {
		t.Fatal("connection still served after Run returned")
	}
}

// TestMaxConnections: connections over lumberjack.max_connections are closed at once
// and counted; the others are served.
func TestMaxConnections(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig()
	cfg.MaxConnections = 2
	h := start(t, rec, cfg)
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	eventually(t, "two open connections", func() bool { return h.counter(t, "sluice_lumberjack_connections_open") == 2 })
	extra, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection over the limit was served")
	}
	if n := h.counter(t, "sluice_lumberjack_connections_opened", "result", "over_limit"); n != 1 {
		t.Errorf("%d connections counted over the limit, want 1", n)
	}
	if !strings.Contains(h.logs.String(), "max_connections reached") {
		t.Error("no log line for the refused connection")
	}
	conns[0].Close()
	eventually(t, "a free slot", func() bool { return h.counter(t, "sluice_lumberjack_connections_open") == 1 })
	send(t, h.addr, "sync", 0, [][]any{events(0, 3)})
}

// TestTimeouts: an idle connection is closed after idle_timeout; a window that stalls is
// closed after read_timeout, counted as a protocol error.
func TestTimeouts(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	cfg.ReadTimeout = 300 * time.Millisecond
	h := start(t, rec, cfg)

	closedWithin := func(c net.Conn, d time.Duration) {
		t.Helper()
		began := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("connection not closed: %v", err)
		}
		if took := time.Since(began); took > d {
			t.Fatalf("closed after %v, want within %v", took, d)
		}
	}
	idle, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	closedWithin(idle, 2*time.Second)

	stalled, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write(concat(winFrame(2), jsonFrame(1, `{"a":1}`))); err != nil {
		t.Fatal(err)
	}
	closedWithin(stalled, 2*time.Second)
	eventually(t, "the read timeout counted", func() bool {
		return h.counter(t, "sluice_lumberjack_protocol_errors", "kind", "read_timeout") == 1
	})
	if rec.count() != 0 {
		t.Errorf("%d events of an unfinished window ingested", rec.count())
	}
}

// TestTypesAllowList runs the real gateway with API keys on: lumberjack connections are
// authenticated as the "lumberjack" principal, which may send only lumberjack.types.
// Events of other types are rejected one by one, and the window is still ACKed.
func TestTypesAllowList(t *testing.T) {
	gwcfg := gateway.DefaultConfig()
	gwcfg.Auth.Keys = []gateway.APIKey{{Name: "http-only", SHA256: gateway.HashKey("secret"), Types: []string{"*"}}}
	ms, err := embedded.New(embedded.Config{Streams: gwcfg.StreamNames(), MaxBytes: int64(64 * bytesize.MiB)})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gwcfg, ms, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Types = []string{"firewall"}
	h := start(t, gw, cfg)
	send(t, h.addr, "sync", 3, [][]any{events(0, 30)}) // types firewall, ids, filestream
	if n := h.counter(t, "sluice_lumberjack_events", "result", "accepted"); n != 10 {
		t.Errorf("%d events accepted, want the 10 firewall events", n)
	}
	if n := h.counter(t, "sluice_lumberjack_events", "result", "rejected"); n != 20 {
		t.Errorf("%d events rejected, want 20", n)
	}
	if !strings.Contains(h.logs.String(), `may not send log type`) {
		t.Error("no log line for the forbidden types")
	}
	if used := ms.Used(); used == 0 {
		t.Error("nothing in the stream")
	}
}
