package syslog

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/testcerts"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func write(t testing.TB, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// lines returns n distinct BSD lines from host, numbered from first.
func lines(host string, first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("<134>Dec  6 10:00:%02d %s app[%d]: message number %d", (first+i)%60, host, first+i, first+i)
	}
	return out
}

func lf(msgs ...string) string { return strings.Join(msgs, "\n") + "\n" }

// closedWithin checks that the server closes c within d.
func closedWithin(t testing.TB, c net.Conn, d time.Duration) {
	t.Helper()
	began := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(d + 5*time.Second))
	// EOF, or a reset when the server closed with bytes unread.
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection not closed: %v", err)
	}
	if took := time.Since(began); took > d {
		t.Fatalf("closed after %v, want within %v", took, d)
	}
}

// TestTCPFramingsIntoTheGateway: mixed clients at once, one octet-counting, one
// LF-delimited, into the real gateway and the embedded stream. Each event holds its
// line as message, the sender as log.source.address, and its log type by the default
// rules.
func TestTCPFramingsIntoTheGateway(t *testing.T) {
	g := newGateway(t, nil)
	h := start(t, g.gw, testConfig())
	octetMsgs := append([]string{iptablesLine, rfc5424SD}, lines("oc01", 0, 200)...)
	lfMsgs := append([]string{suricataLine, "not syslog at all", "<6>Dec  6 10:00:01 fw01 kernel: [1.0] usb 1-1: new device"}, lines("lf01", 200, 200)...)
	var wg sync.WaitGroup
	var octetSrc, lfSrc string
	wg.Go(func() {
		c := dial(t, h.tcp)
		octetSrc = c.LocalAddr().String()
		write(t, c, octet(octetMsgs...))
	})
	wg.Go(func() {
		c := dial(t, h.tcp)
		lfSrc = c.LocalAddr().String()
		write(t, c, strings.Join(lfMsgs, "\r\n")+"\r\n")
	})
	wg.Wait()
	envs := g.wait(t, len(octetMsgs)+len(lfMsgs))
	types := map[string]string{}
	sources := map[string]string{}
	for _, env := range envs {
		var ev map[string]any
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			t.Fatal(err)
		}
		msg := ev["message"].(string)
		types[msg] = env.Type
		sources[msg], _ = get(ev, "log.source.address").(string)
	}
	for _, m := range octetMsgs {
		if sources[m] != octetSrc {
			t.Errorf("%.40q: source %q, want %q", m, sources[m], octetSrc)
		}
	}
	for _, m := range lfMsgs {
		if sources[m] != lfSrc {
			t.Errorf("%.40q: source %q, want %q", m, sources[m], lfSrc)
		}
	}
	for msg, want := range map[string]string{iptablesLine: "firewall", suricataLine: "ids", rfc5424SD: "syslog", "not syslog at all": "syslog", lfMsgs[2]: "syslog"} {
		if types[msg] != want {
			t.Errorf("%.40q: type %q, want %q", msg, types[msg], want)
		}
	}
	if n := h.counter(t, "sluice_syslog_messages", "listener", "tcp", "result", "accepted"); n != int64(len(envs)) {
		t.Errorf("accepted metric %d, want %d", n, len(envs))
	}
	if n := h.counter(t, "sluice_syslog_parse_failures", "listener", "tcp"); n != 1 {
		t.Errorf("parse failures %d, want 1", n)
	}
	wantBytes := int64(len(octet(octetMsgs...)) + len(strings.Join(lfMsgs, "\r\n")) + 2)
	eventually(t, "bytes counted", func() bool { return h.counter(t, "sluice_syslog_bytes_received", "listener", "tcp") == wantBytes })
}

// TestTCPSplitWrites sends a stream in two writes split at every byte boundary, on a
// fresh connection each, in both framings: every message arrives whole, once.
func TestTCPSplitWrites(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig()
	cfg.BatchLinger = 0
	h := start(t, rec, cfg)
	msgs := []string{"<13>1 - h a - - [x@1 k=\"v\"] first", "<13>Dec  6 10:00:00 h a: second"}
	want := 0
	for _, in := range []string{octet(msgs...), lf(msgs...)} {
		for k := 1; k < len(in); k++ {
			c := dial(t, h.tcp)
			c.(*net.TCPConn).SetNoDelay(true)
			write(t, c, in[:k])
			time.Sleep(time.Millisecond) // let the server read the first part alone
			write(t, c, in[k:])
			_ = c.Close()
			want += 2
		}
	}
	eventually(t, "every message", func() bool { return rec.count() >= want })
	got := rec.messages(t)
	if len(got) != want {
		t.Fatalf("%d messages, want %d", len(got), want)
	}
	for i, m := range got {
		if m != msgs[i%2] && m != msgs[(i+1)%2] {
			t.Fatalf("message %q", m)
		}
	}
}

// TestOctetCountTooLarge: an octet count over max_message_bytes closes the connection
// with a log line and a count; the messages before it are delivered, and nothing is
// allocated for the declared length.
func TestOctetCountTooLarge(t *testing.T) {
	rec := newRecorder()
	h := start(t, rec, testConfig())
	for _, bad := range []string{"65537 <13>x", "99999999999999999999 <13>x", "12x<13>abcdefghijk"} {
		c := dial(t, h.tcp)
		write(t, c, octet("<13>before")+bad)
		closedWithin(t, c, 3*time.Second)
	}
	eventually(t, "three messages", func() bool { return rec.count() == 3 })
	eventually(t, "framing errors counted", func() bool {
		return h.counter(t, "sluice_syslog_framing_errors", "kind", kindFrameTooLarge) == 2 &&
			h.counter(t, "sluice_syslog_framing_errors", "kind", kindBadCount) == 1
	})
	if !strings.Contains(h.logs.String(), "syslog framing error, closing connection") {
		t.Error("no log line for the framing error")
	}
}

// TestOverlongLine: an LF line over max_message_bytes is discarded up to its LF and
// counted; the connection goes on with the next line.
func TestOverlongLine(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig()
	cfg.MaxMessageBytes = 1024
	h := start(t, rec, cfg)
	c := dial(t, h.tcp)
	write(t, c, lf("<13>before", "<13>"+strings.Repeat("x", 5000), "<13>after"))
	write(t, c, "<13>"+strings.Repeat("y", 1<<20)) // a megabyte without LF, never buffered whole
	write(t, c, "\n<13>last\n")
	eventually(t, "three messages", func() bool { return rec.count() == 3 })
	if got := rec.messages(t); !slices.Equal(got, []string{"<13>before", "<13>after", "<13>last"}) {
		t.Errorf("messages %q", got)
	}
	if n := h.counter(t, "sluice_syslog_messages", "result", "too_long"); n != 2 {
		t.Errorf("too_long %d, want 2", n)
	}
	if n := h.counter(t, "sluice_syslog_framing_errors", "kind", kindLineTooLong); n != 2 {
		t.Errorf("line_too_long %d, want 2", n)
	}
	if !strings.Contains(h.logs.String(), "syslog line longer than max_message_bytes discarded") {
		t.Error("no log line for the discarded line")
	}
}

// TestTrailersAndInvalidSyslog: NUL and CR trailers are stripped; lines that are not
// syslog are accepted whole, tagged and counted.
func TestTrailersAndInvalidSyslog(t *testing.T) {
	g := newGateway(t, nil)
	h := start(t, g.gw, testConfig())
	c := dial(t, h.tcp)
	write(t, c, "<13>Dec  6 10:00:00 h a: nul\x00\n<13>Dec  6 10:00:00 h a: crlf\r\nplain text line\n\x00garbage \xff\xfe\n")
	envs := g.wait(t, 4)
	var msgs []string
	var tagged int
	for _, env := range envs {
		var ev map[string]any
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, ev["message"].(string))
		if ev["tags"] != nil {
			tagged++
		}
	}
	slices.Sort(msgs)
	want := []string{"<13>Dec  6 10:00:00 h a: crlf", "<13>Dec  6 10:00:00 h a: nul", "garbage \ufffd\ufffd", "plain text line"}
	if !slices.Equal(msgs, want) {
		t.Errorf("messages %q, want %q", msgs, want)
	}
	if tagged != 2 {
		t.Errorf("%d events tagged, want 2", tagged)
	}
	if n := h.counter(t, "sluice_syslog_parse_failures"); n != 2 {
		t.Errorf("parse failures %d, want 2", n)
	}
}

// TestTypesNotAllowed runs the real gateway with API keys on: syslog messages act as
// their listener's principal ("syslog/tcp"), which without types of its own may send
// only syslog.types. Messages of other types are rejected one by one, counted by
// reason and logged; the others go through.
func TestTypesNotAllowed(t *testing.T) {
	g := newGateway(t, func(c *gateway.Config) {
		c.Auth.Disabled = false
		c.Auth.Keys = []gateway.APIKey{{Name: "http-only", SHA256: gateway.HashKey("secret"), Types: []string{"*"}}}
	})
	cfg := testConfig()
	cfg.Types = []string{"firewall"}
	h := start(t, g.gw, cfg)
	if !strings.Contains(h.logs.String(), "syslog rules give a log type that the listener's types do not allow") ||
		!strings.Contains(h.logs.String(), `"setting":"syslog.types"`) {
		t.Error("no warning at start for the rule types that types does not allow")
	}
	c := dial(t, h.tcp)
	write(t, c, lf(iptablesLine, suricataLine, "<13>Dec  6 10:00:00 h a: x"))
	envs := g.wait(t, 1)
	if envs[0].Type != "firewall" || eventMessage(t, envs[0]) != iptablesLine {
		t.Errorf("got %s %s", envs[0].Type, envs[0].Event)
	}
	eventually(t, "rejections counted", func() bool {
		return h.counter(t, "sluice_syslog_messages", "result", "rejected", "reason", "forbidden") == 2
	})
	if n := h.counter(t, "sluice_syslog_messages", "result", "accepted"); n != 1 {
		t.Errorf("accepted %d, want 1", n)
	}
	if !strings.Contains(h.logs.String(), "syslog messages rejected by the gateway and dropped") {
		t.Error("no log line for the rejected messages")
	}
}

// TestEventTooLarge: a message whose event exceeds gateway.limits.max_event_bytes is
// rejected (too_large) without its document being sent; the others go through.
func TestEventTooLarge(t *testing.T) {
	rec := newRecorder()
	rec.limits.MaxEventBytes = 1000
	h := start(t, rec, testConfig())
	c := dial(t, h.tcp)
	write(t, c, lf("<13>small", "<13>"+strings.Repeat("b", 990), "<13>"+strings.Repeat("c", 2000), "<13>small2"))
	eventually(t, "rejections counted", func() bool {
		return h.counter(t, "sluice_syslog_messages", "result", "rejected", "reason", "too_large") == 2
	})
	if got := rec.messages(t); !slices.Equal(got, []string{"<13>small", "<13>small2"}) {
		t.Errorf("messages %q", got)
	}
}

// TestUDP: one datagram, one message, trailers stripped, into the real gateway; a
// datagram over max_message_bytes is discarded and counted.
func TestUDP(t *testing.T) {
	g := newGateway(t, nil)
	cfg := testConfig()
	cfg.MaxMessageBytes = 2048
	h := start(t, g.gw, cfg)
	c, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range []string{iptablesLine + "\n", suricataLine + "\r\n\x00", rfc5424SD, "<13>" + strings.Repeat("z", 3000), "\n"} {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	envs := g.wait(t, 3)
	got := map[string]string{}
	for _, env := range envs {
		var ev map[string]any
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			t.Fatal(err)
		}
		got[ev["message"].(string)] = env.Type
		if src := get(ev, "log.source.address"); src != c.LocalAddr().String() {
			t.Errorf("source %v, want %s", src, c.LocalAddr())
		}
	}
	if got[iptablesLine] != "firewall" || got[suricataLine] != "ids" || got[rfc5424SD] != "syslog" {
		t.Errorf("events %v", got)
	}
	eventually(t, "the long datagram counted", func() bool {
		return h.counter(t, "sluice_syslog_messages", "listener", "udp", "result", "too_long") == 1
	})
	if n := h.counter(t, "sluice_syslog_messages", "listener", "udp", "result", "accepted"); n != 3 {
		t.Errorf("accepted %d, want 3", n)
	}
}

// gate is an ingester hook that holds every batch until released.
type gate struct {
	ch      chan struct{}
	entered chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{ch: make(chan struct{}), entered: make(chan struct{}, 1000)} }

func (g *gate) hook(ctx context.Context, _ gateway.Batch) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.ch:
		return nil
	case <-ctx.Done():
		return gateway.Errorf(gateway.KindUnavailable, "canceled: %w", ctx.Err())
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.ch) }) }

// TestUDPDropsWhenQueueFull stalls the ingester: the reader keeps reading, the queue
// fills, and datagrams beyond it are dropped and counted, never blocking the reader.
// Once released, everything queued is delivered.
func TestUDPDropsWhenQueueFull(t *testing.T) {
	rec := newRecorder()
	g := newGate()
	rec.setHook(g.hook)
	cfg := testConfig()
	cfg.UDP.QueueMessages = 10
	h := start(t, rec, cfg)
	c, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const sent = 100
	if _, err := c.Write([]byte("<13>first")); err != nil {
		t.Fatal(err)
	}
	<-g.entered // the worker holds a batch of one in Ingest
	for i := range sent - 1 {
		if _, err := fmt.Fprintf(c, "<13>datagram %d", i); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "drops counted", func() bool {
		return h.counter(t, "sluice_syslog_udp_dropped")+h.counter(t, "sluice_syslog_udp_queued") == sent-1
	})
	if q := h.counter(t, "sluice_syslog_udp_queued"); q != 10 {
		t.Errorf("%d queued, want 10", q)
	}
	if !strings.Contains(h.logs.String(), "syslog udp queue full, dropping datagrams") {
		t.Error("no log line for the drops")
	}
	g.release()
	eventually(t, "queued datagrams delivered", func() bool { return rec.count() == 11 })
	if n := h.counter(t, "sluice_syslog_udp_dropped"); n != sent-11 {
		t.Errorf("%d dropped, want %d", n, sent-11)
	}
}

// TestUDPQueueBytes: the byte bound of the queue drops too.
func TestUDPQueueBytes(t *testing.T) {
	rec := newRecorder()
	g := newGate()
	rec.setHook(g.hook)
	cfg := testConfig()
	cfg.MaxMessageBytes = 1024
	cfg.UDP.QueueBytes = 4096
	h := start(t, rec, cfg)
	c, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	write(t, c, "<13>first")
	<-g.entered
	msg := "<13>" + strings.Repeat("q", 996) // 1000 bytes: four fit
	for range 10 {
		write(t, c, msg)
	}
	eventually(t, "drops counted", func() bool { return h.counter(t, "sluice_syslog_udp_dropped") == 6 })
	g.release()
	eventually(t, "queued datagrams delivered", func() bool { return rec.count() == 5 })
}

// TestBackpressure: while the gateway holds a batch, the connection is not read, so
// the sender's writes eventually block; once released, every message written arrives,
// in order.
func TestBackpressure(t *testing.T) {
	rec := newRecorder()
	g := newGate()
	rec.setHook(g.hook)
	h := start(t, rec, testConfig())
	c := dial(t, h.tcp)
	line := strings.Repeat("p", 180)
	var written int
	var blocked bool
	for written < 200000 {
		_ = c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		chunk := make([]byte, 0, 100*200)
		for i := range 100 {
			chunk = fmt.Appendf(chunk, "<13>Dec  6 10:00:00 h a: %07d %s\n", written+i, line)
		}
		n, err := c.Write(chunk)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			blocked = true
			_ = c.SetWriteDeadline(time.Time{})
			if _, err := c.Write(chunk[n:]); err != nil { // finish the chunk once released
				go func() { t.Error(err) }()
			}
			break
		}
		written += 100
		if written == 100 {
			<-g.entered
		}
	}
	if !blocked {
		t.Fatalf("wrote %d messages while the gateway held its batch: no backpressure", written)
	}
	written += 100
	held := rec.count()
	if held != 0 {
		t.Fatalf("%d messages ingested while the gateway held", held)
	}
	t.Logf("the sender blocked after %d messages", written)
	_ = c.Close()
	g.release()
	eventually(t, "every message written", func() bool { return rec.count() == written })
	for i, m := range rec.messages(t) {
		if !strings.Contains(m, fmt.Sprintf(": %07d ", i)) {
			t.Fatalf("message %d out of order: %q", i, m)
		}
	}
}

// TestRetryOverloadedLosesNothing: batches the gateway refuses as a whole with
// overloaded or unavailable are retried with the same events until they go through:
// nothing lost, nothing twice.
func TestRetryOverloadedLosesNothing(t *testing.T) {
	rec := newRecorder()
	var attempts atomic.Int32
	rec.setHook(func(context.Context, gateway.Batch) error {
		switch n := attempts.Add(1); {
		case n <= 2:
			return gateway.Errorf(gateway.KindOverloaded, "stream full")
		case n == 3:
			return gateway.Errorf(gateway.KindUnavailable, "stream unreachable")
		case n%3 == 0:
			return gateway.Errorf(gateway.KindOverloaded, "stream full again")
		}
		return nil
	})
	cfg := testConfig()
	cfg.BatchEvents = 50
	h := start(t, rec, cfg)
	msgs := lines("h", 0, 1000)
	c := dial(t, h.tcp)
	write(t, c, lf(msgs...))
	eventually(t, "every message", func() bool { return rec.count() >= len(msgs) })
	if got := rec.messages(t); !slices.Equal(got, msgs) {
		t.Fatalf("%d messages delivered, want the %d sent, in order, once", len(got), len(msgs))
	}
	if n := h.counter(t, "sluice_syslog_ingest_retries"); n < 3 {
		t.Errorf("%d retries counted", n)
	}
	if n := h.counter(t, "sluice_syslog_messages", "result", "lost"); n != 0 {
		t.Errorf("%d lost", n)
	}
	if !strings.Contains(h.logs.String(), "gateway busy, holding the syslog batch and retrying") {
		t.Error("no log line for the held batch")
	}
}

// TestRetryOverloadedRealStream fills a tiny embedded stream: the gateway answers
// overloaded, the receiver holds the batch; once a consumer frees the stream, every
// message is in it.
func TestRetryOverloadedRealStream(t *testing.T) {
	gwcfg := gateway.DefaultConfig()
	gwcfg.Auth.Disabled = true
	gwcfg.Limits.BackpressureWait = 50 * time.Millisecond
	ms, gw := smallStream(t, gwcfg)
	h := start(t, gw, testConfig())
	msgs := lines("h", 0, 2000)
	c := dial(t, h.tcp)
	write(t, c, lf(msgs...))
	eventually(t, "a retry", func() bool { return h.counter(t, "sluice_syslog_ingest_retries") > 0 })
	var mu sync.Mutex
	got := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ms.Consume(ctx, func(_ context.Context, b stream.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range b.Records {
				if env, err := stream.ParseEnvelope(r.Data); err == nil {
					got[eventMessage(t, env)]++
				}
			}
			return nil
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	eventually(t, "every message in the stream", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(msgs)
	})
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		if got[m] != 1 {
			t.Fatalf("%q in the stream %d times", m, got[m])
		}
	}
}

// TestGracefulDrain: when Run's context ends, an idle connection is closed at once, a
// batch in Ingest is finished before Run returns, and what a connection had read is
// delivered.
func TestGracefulDrain(t *testing.T) {
	rec := newRecorder()
	g := newGate()
	rec.setHook(g.hook)
	h := start(t, rec, testConfig())
	idle := dial(t, h.tcp)
	busy := dial(t, h.tcp)
	write(t, busy, lf(lines("h", 0, 10)...))
	<-g.entered
	write(t, busy, lf(lines("h", 10, 5)...)) // read (or not) while the batch is held
	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()
	closedWithin(t, idle, 3*time.Second)
	select {
	case <-stopped:
		t.Fatal("Run returned while a batch was in Ingest")
	case <-time.After(100 * time.Millisecond):
	}
	g.release()
	<-stopped
	if n := rec.count(); n < 10 {
		t.Errorf("%d messages delivered, want at least the 10 in Ingest", n)
	}
	if n := h.counter(t, "sluice_syslog_messages", "result", "lost"); n != 0 {
		t.Errorf("%d lost", n)
	}
	closedWithin(t, busy, time.Second)
}

// TestDrainDeadline: a batch the gateway never takes is given up at the drain
// deadline, counted as lost, and Run returns.
func TestDrainDeadline(t *testing.T) {
	rec := newRecorder()
	g := newGate()
	defer g.release()
	rec.setHook(g.hook)
	h := start(t, rec, testConfig(), func(o *Options) { o.DrainTimeout = 200 * time.Millisecond })
	c := dial(t, h.tcp)
	write(t, c, lf(lines("h", 0, 7)...))
	<-g.entered
	began := time.Now()
	h.stop()
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("Run returned %v after its context ended, drain timeout 200ms", took)
	}
	if n := h.counter(t, "sluice_syslog_messages", "result", "lost"); n != 7 {
		t.Errorf("%d lost, want 7", n)
	}
	if !strings.Contains(h.logs.String(), "syslog messages lost") {
		t.Error("no log line for the lost messages")
	}
}

// TestStoppingWhileGatewayDrains: when the receiver stops while the gateway refuses
// batches because it drains, a held batch is given up at once (counted lost) instead
// of waiting for the drain deadline.
func TestStoppingWhileGatewayDrains(t *testing.T) {
	rec := newRecorder()
	entered := make(chan struct{}, 100)
	rec.setHook(func(context.Context, gateway.Batch) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		return gateway.Errorf(gateway.KindUnavailable, "gateway is shutting down")
	})
	h := start(t, rec, testConfig(), func(o *Options) { o.DrainTimeout = 10 * time.Second })
	c := dial(t, h.tcp)
	write(t, c, lf(lines("h", 0, 3)...))
	<-entered
	rec.mu.Lock()
	rec.ready = false
	rec.mu.Unlock()
	began := time.Now()
	h.stop()
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
	if n := h.counter(t, "sluice_syslog_messages", "result", "lost"); n != 3 {
		t.Errorf("%d lost, want 3", n)
	}
}

// TestPermanentErrorDropsBatch: a batch refused as a whole with a permanent kind is
// dropped (counted lost, logged); the connection goes on.
func TestPermanentErrorDropsBatch(t *testing.T) {
	rec := newRecorder()
	var once atomic.Bool
	rec.setHook(func(context.Context, gateway.Batch) error {
		if once.CompareAndSwap(false, true) {
			return gateway.Errorf(gateway.KindInvalid, "bad batch")
		}
		return nil
	})
	cfg := testConfig()
	cfg.BatchLinger = 0
	h := start(t, rec, cfg)
	c := dial(t, h.tcp)
	write(t, c, "<13>one\n")
	eventually(t, "the first batch lost", func() bool { return h.counter(t, "sluice_syslog_messages", "result", "lost") == 1 })
	write(t, c, "<13>two\n")
	eventually(t, "the second delivered", func() bool { return rec.count() == 1 })
	if !strings.Contains(h.logs.String(), "the gateway refused the batch") {
		t.Error("no log line")
	}
}

// TestMaxConnections: connections over a listener's max_connections are closed at
// once and counted; the others are served.
func TestMaxConnections(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig()
	cfg.TCP.MaxConnections = 2
	h := start(t, rec, cfg)
	a, b := dial(t, h.tcp), dial(t, h.tcp)
	eventually(t, "two open connections", func() bool { return h.counter(t, "sluice_syslog_connections_open", "listener", "tcp") == 2 })
	extra := dial(t, h.tcp)
	closedWithin(t, extra, 3*time.Second)
	if n := h.counter(t, "sluice_syslog_connections_opened", "listener", "tcp", "result", "over_limit"); n != 1 {
		t.Errorf("%d over the limit, want 1", n)
	}
	if !strings.Contains(h.logs.String(), "max_connections reached") {
		t.Error("no log line for the refused connection")
	}
	_ = a.Close()
	eventually(t, "a free slot", func() bool { return h.counter(t, "sluice_syslog_connections_open", "listener", "tcp") == 1 })
	c := dial(t, h.tcp)
	write(t, c, "<13>through\n")
	write(t, b, "<13>still\n")
	eventually(t, "both messages", func() bool { return rec.count() == 2 })
}

// TestIdleTimeout: a connection that sends nothing for idle_timeout is closed.
func TestIdleTimeout(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig()
	cfg.TCP.IdleTimeout = 200 * time.Millisecond
	h := start(t, rec, cfg)
	c := dial(t, h.tcp)
	write(t, c, "<13>hello\n")
	closedWithin(t, c, 2*time.Second)
	if rec.count() != 1 {
		t.Errorf("%d messages", rec.count())
	}
}

// TestMessageTimeout: a sender that trickles a message, a byte at a time within
// idle_timeout, is disconnected once the message is not whole within message_timeout;
// the messages it completed before are kept, and the framing error is counted.
func TestMessageTimeout(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig()
	cfg.TCP.IdleTimeout = 300 * time.Millisecond
	cfg.MessageTimeout = 500 * time.Millisecond
	h := start(t, rec, cfg)
	c := dial(t, h.tcp)
	write(t, c, "<13>whole\n<13>tri")
	began := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		buf := make([]byte, 1)
		_, _ = c.Read(buf) // returns when the server closes the connection
	}()
	for {
		select {
		case <-closed:
			if took := time.Since(began); took > 3*time.Second {
				t.Errorf("closed after %v, want about message_timeout", took)
			}
			if rec.count() != 1 {
				t.Errorf("%d messages, want the whole one", rec.count())
			}
			return
		case <-time.After(100 * time.Millisecond):
			if time.Since(began) > 5*time.Second {
				t.Fatal("a trickled message held the connection past message_timeout")
			}
			_, _ = c.Write([]byte("x")) // each byte resets idle_timeout
		}
	}
}

// TestBatching: a burst is ingested in batches, not message by message. A lone
// message on plain TCP is ingested at once: the read that brought it drained the
// socket. On TLS, where a read says nothing of the socket, it waits batch_linger.
func TestBatching(t *testing.T) {
	certs := testcerts.New(t)
	rec := newRecorder()
	cfg := tlsConfig(certs, "none")
	cfg.BatchLinger = time.Second
	h := start(t, rec, cfg)
	c := dial(t, h.tcp)
	write(t, c, octet(lines("h", 0, 5000)...))
	eventually(t, "the burst", func() bool { return rec.count() == 5000 })
	if calls := rec.ingestCalls(); calls > 100 {
		t.Errorf("%d Ingest calls for 5000 messages", calls)
	}
	began := time.Now()
	write(t, c, octet("<13>lone"))
	eventually(t, "the lone message", func() bool { return rec.count() == 5001 })
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Errorf("a lone message on plain TCP took %v", took)
	}
	tc, err := tls.Dial("tcp", h.tls, certs.ClientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	began = time.Now()
	write(t, tc, "<13>lone on tls\n")
	eventually(t, "the lone TLS message", func() bool { return rec.count() == 5002 })
	if took := time.Since(began); took < 900*time.Millisecond {
		t.Errorf("a lone message on TLS took %v, batch_linger is 1s", took)
	}
}

// TestClose drops what is in flight at once.
func TestClose(t *testing.T) {
	rec := newRecorder()
	g := newGate()
	defer g.release()
	rec.setHook(g.hook)
	h := start(t, rec, testConfig())
	c := dial(t, h.tcp)
	write(t, c, "<13>x\n")
	<-g.entered
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.runReturned:
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	eventually(t, "the message counted lost", func() bool { return h.counter(t, "sluice_syslog_messages", "result", "lost") == 1 })
}

func TestNewRefusesNothingToListenOn(t *testing.T) {
	cfg := DefaultConfig("127.0.0.1")
	cfg.TCP.Addr, cfg.UDP.Addr = "", ""
	if _, err := New(newRecorder(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "nothing to listen on") {
		t.Errorf("New: %v", err)
	}
}

// TestListenFailsWhole: when one address cannot be bound, none stays bound.
func TestListenFailsWhole(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	cfg := testConfig()
	cfg.UDP.Addr = udp.LocalAddr().String() // taken
	srv, err := New(newRecorder(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err == nil {
		t.Fatal("Listen succeeded on a taken UDP port")
	}
	if srv.TCPAddr() != nil {
		t.Error("TCP listener left bound")
	}
	_ = srv.Close()
}

// smallStream returns a gateway over an embedded stream of 1 MiB that is nearly full
// (no consumer yet): the gateway answers overloaded until one runs.
func smallStream(t *testing.T, gwcfg gateway.Config) (*embedded.Stream, *gateway.Gateway) {
	t.Helper()
	ms, err := embedded.New(embedded.Config{Streams: gwcfg.StreamNames(), Shards: 1, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gwcfg, ms, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	filler := make([]stream.Record, 15)
	for i := range filler {
		filler[i] = stream.Record{PartitionKey: "k", Data: make([]byte, 64<<10-16)}
	}
	if err := ms.Put(context.Background(), "sluice-default", filler); err != nil {
		t.Fatal(err)
	}
	return ms, gw
}
