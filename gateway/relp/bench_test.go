package relp

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/gateway"
)

// BenchmarkTCP measures transactions per second through a real loopback TCP connection
// into a handler that does nothing, with a client that keeps at most 128 transactions
// unanswered (rsyslog's default window) and writes each ~200-byte message on its own,
// as librelp does. It reports msgs/s and the p50 and p99 time from a message's write to
// its response.
func BenchmarkTCP(b *testing.B) {
	const window = 128
	cfg := testConfig()
	cfg.Window = window
	noop := func(ctx context.Context, bt Batch) (gateway.Result, error) { return gateway.Result{}, nil }
	srv, err := New(noop, cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	c := dial(b, srv.Addr().String(), nil)
	c.open()
	m := msg(123456)
	sent := make([]time.Time, b.N)
	lat := make([]time.Duration, b.N)
	slots := make(chan struct{}, window)
	var wg sync.WaitGroup
	b.SetBytes(int64(len(frame(2, "syslog", m))))
	b.ResetTimer()
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		txnr := uint32(2)
		for i := range b.N {
			slots <- struct{}{}
			f := frame(txnr, "syslog", m)
			sent[i] = time.Now()
			if _, err := c.nc.Write(f); err != nil {
				b.Error(err)
				return
			}
			txnr = nextTxnr(txnr)
		}
	}()
	for i := range b.N {
		f, err := c.readErr(30 * time.Second)
		if err != nil || f.data != "200 OK" {
			b.Fatalf("response %d: %v %v", i, f, err)
		}
		lat[i] = time.Since(sent[i])
		<-slots
	}
	elapsed := time.Since(start)
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
