package kinesis_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// TestPartialFailuresRetried puts through a proxy that fails chosen PutRecords entries
// (throttling, internal failures, another code; some twice) and answers some whole
// requests with throttling or 500. Every event still arrives exactly once, and the
// proxy's log shows that only failed entries were sent again: each entry arrived once
// more than it was failed, and the server stored it once.
func TestPartialFailuresRetried(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	for _, agg := range []bool{true, false} {
		name := "aggregation"
		if !agg {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			admin := kinesistest.Client(t, endpoint)
			streamName := kinesistest.CreateStream(t, admin, 4)
			proxy := newFaultProxy(t, endpoint)
			proxy.entryFault = func(d string, try int) string {
				switch {
				case try == 1 && strings.ContainsRune("0123", rune(d[0])):
					return "ProvisionedThroughputExceededException"
				case try == 1 && d[0] == '4':
					return "InternalFailure"
				case try == 1 && d[0] == '5':
					return "KMSThrottlingException"
				case try == 2 && d[0] == '0':
					return "ProvisionedThroughputExceededException"
				}
				return ""
			}
			proxy.requestFault = func(n int) (int, string) {
				switch n % 7 {
				case 2:
					return 400, "LimitExceededException"
				case 4:
					return 500, "InternalFailure"
				case 6:
					return 400, "ProvisionedThroughputExceededException"
				}
				return 0, ""
			}
			cfg := testConfig(proxy.URL())
			cfg.Aggregation = agg
			if agg {
				cfg.MaxRecordBytes = 8 << 10 // many records per request, so that entries fail alone
			}
			p := newProducer(t, cfg)
			sent := putConcurrently(t, func(ctx context.Context, recs []stream.Record) error {
				return p.Put(ctx, streamName, recs)
			}, 4, 8, 60, 30, 250)
			verify(t, endpoint, streamName, sent, true, false)

			seen, failed, stored, failedRequests, failedEntries := proxy.stats()
			retried := 0
			for d, n := range seen {
				if stored[d] != 1 {
					t.Errorf("entry %s stored %d times, want once", d, stored[d])
				}
				if n != failed[d]+1 {
					t.Errorf("entry %s sent %d times and failed %d times: an entry was sent again after it succeeded", d, n, failed[d])
				}
				if n > 1 {
					retried++
				}
			}
			t.Logf("%d entries, %d retried; %d entries and %d requests failed by the proxy", len(seen), retried, failedEntries, failedRequests)
			if failedRequests == 0 || failedEntries == 0 || retried == 0 {
				t.Errorf("the proxy failed %d requests and %d entries: the test did not exercise retries", failedRequests, failedEntries)
			}
		})
	}
}

// gatewayFor returns a gateway core that routes log type "fw" to streamName.
func gatewayFor(t *testing.T, p gateway.Producer, streamName string, wait time.Duration) *gateway.Gateway {
	t.Helper()
	cfg := gateway.DefaultConfig()
	cfg.Auth.Disabled = true
	cfg.Routing.Streams = map[string]string{"fw": streamName}
	cfg.Routing.DefaultStream = streamName
	cfg.Limits.BackpressureWait = wait
	g, err := gateway.New(cfg, p, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func fwBatch(n int) gateway.Batch {
	b := gateway.Batch{Receiver: "http"}
	for i := range n {
		b.Events = append(b.Events, gateway.Event{Type: "fw", PartitionKey: "host-" + string(rune('a'+i%26)), Doc: []byte(`{"msg":"deny","n":1}`)})
	}
	return b
}

// TestRetryBudgetThroughGateway fails every try of every entry (or request) and checks
// that, once the retry budget is spent, the gateway's Ingest over the producer answers
// a retryable error of the right kind, nothing acknowledged and nothing stored:
// throttling is backpressure (overloaded, 429), a failing server is unavailable (503).
func TestRetryBudgetThroughGateway(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	for _, tc := range []struct {
		name      string
		entryCode string
		status    int
		code      string
		want      gateway.Kind
	}{
		{"throttled entries", "ProvisionedThroughputExceededException", 0, "", gateway.KindOverloaded},
		{"failing entries", "InternalFailure", 0, "", gateway.KindUnavailable},
		{"throttled requests", "", 400, "ProvisionedThroughputExceededException", gateway.KindOverloaded},
		{"server errors", "", 500, "InternalFailure", gateway.KindUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			admin := kinesistest.Client(t, endpoint)
			streamName := kinesistest.CreateStream(t, admin, 2)
			proxy := newFaultProxy(t, endpoint)
			proxy.entryFault = func(string, int) string { return tc.entryCode }
			proxy.requestFault = func(int) (int, string) { return tc.status, tc.code }
			cfg := testConfig(proxy.URL())
			cfg.Retry.MaxAttempts = 4
			cfg.Retry.BaseDelay, cfg.Retry.MaxDelay = time.Millisecond, 5*time.Millisecond
			p := newProducer(t, cfg)
			g := gatewayFor(t, p, streamName, 10*time.Second)

			res, err := g.Ingest(context.Background(), fwBatch(20))
			if err == nil {
				t.Fatalf("Ingest succeeded (%+v) while every put failed", res)
			}
			if kind := gateway.KindOf(err); kind != tc.want || !kind.Retryable() {
				t.Errorf("error kind %v (retryable %v), want %v: %v", kind, kind.Retryable(), tc.want, err)
			}
			if res.Accepted != 0 {
				t.Errorf("%d events acknowledged", res.Accepted)
			}
			for _, want := range []string{streamName, proxy.URL(), "retry budget spent", "after 4 attempts"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if got := kinesistest.ReadAll(t, admin, streamName); len(got) != 0 {
				t.Errorf("stream holds %d records, want none", len(got))
			}
		})
	}
}

// closedEndpoint returns the URL of a loopback port nothing listens on.
func closedEndpoint(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestUnreachable points the producer at a closed port: Put fails with a clear error
// naming the stream and the endpoint, not as backpressure; the gateway answers
// unavailable with nothing acknowledged, whether the retry budget or the gateway's
// wait runs out first.
func TestUnreachable(t *testing.T) {
	endpoint := closedEndpoint(t)
	t.Run("retry budget", func(t *testing.T) {
		cfg := testConfig(endpoint)
		cfg.Retry.MaxAttempts = 3
		cfg.Retry.BaseDelay, cfg.Retry.MaxDelay = time.Millisecond, 5*time.Millisecond
		p := newProducer(t, cfg)
		err := p.Put(context.Background(), "fw-stream", []stream.Record{{PartitionKey: "k", Data: []byte(`{}`)}})
		if err == nil {
			t.Fatal("Put to a closed port succeeded")
		}
		for _, want := range []string{"fw-stream", endpoint, "unreachable", "connection refused"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if errors.Is(err, stream.ErrFull) || errors.Is(err, stream.ErrTooLarge) {
			t.Errorf("unreachable reads as backpressure or a size problem: %v", err)
		}
		// Once the budget is spent, further Puts fail at once.
		start := time.Now()
		g := gatewayFor(t, p, "fw-stream", 5*time.Second)
		res, err := g.Ingest(context.Background(), fwBatch(5))
		if kind := gateway.KindOf(err); kind != gateway.KindUnavailable || res.Accepted != 0 {
			t.Errorf("Ingest: kind %v, %d accepted, want unavailable and none: %v", kind, res.Accepted, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("Ingest took %v to fail on a stream known unreachable", took)
		}
	})
	t.Run("gateway wait", func(t *testing.T) {
		cfg := testConfig(endpoint)
		cfg.Retry.MaxAttempts = 1000
		cfg.Retry.Timeout = time.Minute
		p := newProducer(t, cfg)
		g := gatewayFor(t, p, "fw-stream", 300*time.Millisecond)
		res, err := g.Ingest(context.Background(), fwBatch(5))
		if kind := gateway.KindOf(err); kind != gateway.KindUnavailable || res.Accepted != 0 {
			t.Fatalf("Ingest: kind %v, %d accepted, want unavailable and none: %v", kind, res.Accepted, err)
		}
		// The answer says where the records stand (none written, or some on the wire
		// when the gateway gave up during a connection attempt).
		for _, want := range []string{"fw-stream", endpoint, "connection refused", "of the 5 records"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
}

// TestBackpressure fills a stream's in-flight budget while the server holds the
// request: the next Put waits, then fails with stream.ErrFull and the context's error
// when its deadline passes; once the server answers, both batches get in, once.
func TestBackpressure(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	streamName := kinesistest.CreateStream(t, admin, 2)
	proxy := newFaultProxy(t, endpoint)
	hold := make(chan struct{})
	proxy.mu.Lock()
	proxy.hold = hold
	proxy.mu.Unlock()
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	defer release()

	cfg := testConfig(proxy.URL())
	cfg.MaxInflightBytes = 64 << 10
	cfg.MaxRecordBytes = 16 << 10
	cfg.MaxRequestBytes = 64 << 10
	p := newProducer(t, cfg)
	r := rand.New(rand.NewPCG(1, 2))
	first, second := events(r, "first", 40, 10, 1000), events(r, "second", 40, 10, 1000)

	done := make(chan error, 1)
	go func() { done <- p.Put(context.Background(), streamName, first) }()
	proxy.waitHeld(t, 1) // the first batch holds its room in flight

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Put(ctx, streamName, second)
	if err == nil {
		t.Fatal("Put succeeded while the in-flight budget was full and the server held the request")
	}
	if !errors.Is(err, stream.ErrFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want it to wrap stream.ErrFull and context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("Put gave up after %v, before its deadline", took)
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("first Put: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("first Put did not return after the server answered")
	}
	if err := p.Put(context.Background(), streamName, second); err != nil {
		t.Fatalf("second Put, again: %v", err)
	}
	verify(t, endpoint, streamName, append(first, second...), true, true)
}

// TestCloseFlushes lets events linger (a minute), then closes the producer: Close
// sends them at once, every Put returns nil, the stream holds them all, and a Put after
// Close fails.
func TestCloseFlushes(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	streamName := kinesistest.CreateStream(t, admin, 3)
	cfg := testConfig(endpoint)
	cfg.Linger = time.Minute
	p, err := kinesis.New(context.Background(), cfg, kinesis.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	var sent []stream.Record
	results := make(chan error, 3)
	for i := range 3 {
		recs := events(r, "c"+string(rune('a'+i)), 30, 7, 200)
		sent = append(sent, recs...)
		go func() { results <- p.Put(context.Background(), streamName, recs) }()
	}
	select {
	case err := <-results:
		t.Fatalf("a Put returned (%v) before the linger or Close", err)
	case <-time.After(200 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	start := time.Now()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close flushed in %v", time.Since(start))
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("Put: %v", err)
		}
	}
	if err := p.Put(context.Background(), streamName, sent[:1]); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Put after Close: %v, want a closed error", err)
	}
	verify(t, endpoint, streamName, sent, true, true)
}

// TestCloseGivesUp closes a producer whose server holds every request: when Close's
// context ends, the waiting Puts fail, Close says how many events were not flushed,
// and every goroutine ends (goleak checks at exit).
func TestCloseGivesUp(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	streamName := kinesistest.CreateStream(t, admin, 1)
	proxy := newFaultProxy(t, endpoint)
	hold := make(chan struct{})
	defer close(hold)
	proxy.mu.Lock()
	proxy.hold = hold
	proxy.mu.Unlock()
	cfg := testConfig(proxy.URL())
	p, err := kinesis.New(context.Background(), cfg, kinesis.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		result <- p.Put(context.Background(), streamName, events(rand.New(rand.NewPCG(1, 1)), "held", 10, 3, 100))
	}()
	proxy.waitHeld(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = p.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "not flushed") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want an error saying events were not flushed", err)
	}
	select {
	case err := <-result:
		if err == nil {
			t.Error("Put returned nil for events that were never stored")
		}
	case <-time.After(patience):
		t.Fatal("Put did not return after Close gave up")
	}
}

// TestRecordLimits: a record of exactly max_record_bytes goes in (alone), one byte more
// is refused with stream.ErrTooLarge before anything is sent, and data that starts
// like an aggregated record travels wrapped and comes back unchanged.
func TestRecordLimits(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	streamName := kinesistest.CreateStream(t, admin, 2)
	cfg := testConfig(endpoint)
	p := newProducer(t, cfg)
	limit := int(cfg.MaxRecordBytes)
	key := "big"
	exact := stream.Record{PartitionKey: key, Data: []byte(strings.Repeat("x", limit-len(key)))}
	over := stream.Record{PartitionKey: key, Data: []byte(strings.Repeat("y", limit-len(key)+1))}
	magic := stream.Record{PartitionKey: "m", Data: []byte("\xf3\x89\x9a\xc2 not really aggregated")}

	err := p.Put(context.Background(), streamName, []stream.Record{{PartitionKey: "a", Data: []byte("{}")}, over})
	if !errors.Is(err, stream.ErrTooLarge) {
		t.Fatalf("Put of an oversized record: %v, want stream.ErrTooLarge", err)
	}
	for _, want := range []string{"record 1", "over max_record_bytes", streamName} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := p.Put(context.Background(), streamName, []stream.Record{exact, magic}); err != nil {
		t.Fatalf("Put of a record at the limit: %v", err)
	}
	recs := verify(t, endpoint, streamName, []stream.Record{exact, magic}, true, true)
	for _, r := range recs {
		if len(r.Data)+len(r.PartitionKey) > limit {
			t.Errorf("record of %d bytes over the limit", len(r.Data)+len(r.PartitionKey))
		}
	}
}
