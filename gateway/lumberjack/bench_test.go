package lumberjack

import (
	"context"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
	lumberlog "github.com/elastic/go-lumber/log"
	ljserver "github.com/elastic/go-lumber/server/v2"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/cputime"
)

// The benchmark's load, as Filebeat sends it by default: windows of 2048 events of
// about 600 bytes, compression level 3, two windows in flight per connection.
const (
	benchClients  = 4
	benchWindow   = 2048
	benchLevel    = 3
	benchInflight = 2
	// benchHeapConns busy connections are held mid-window to measure heap per
	// connection.
	benchHeapConns = 20
)

// benchServer is a lumberjack server under benchmark, whose acknowledgements the
// benchmark can hold.
type benchServer struct {
	addr string
	// held returns how many windows (or parts) wait for their acknowledgement.
	held func() int64
	// hold makes the server keep windows unacknowledged until release is called.
	hold, release func()
	close         func()
}

// nullIngester accepts every event at once, or holds every batch while hold is set.
type nullIngester struct {
	mu     sync.Mutex
	gate   chan struct{} // non-nil while holding
	waits  atomic.Int64
	limits gateway.Limits
}

func (n *nullIngester) Limits() gateway.Limits { return n.limits }
func (n *nullIngester) Ready() bool            { return true }
func (n *nullIngester) Ingest(ctx context.Context, b gateway.Batch) (gateway.Result, error) {
	n.mu.Lock()
	gate := n.gate
	n.mu.Unlock()
	if gate != nil {
		n.waits.Add(1)
		defer n.waits.Add(-1)
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	return gateway.Result{Accepted: len(b.Events)}, nil
}

func startSluice(b *testing.B) *benchServer {
	ing := &nullIngester{limits: gateway.DefaultConfig().Limits}
	cfg := testConfig()
	cfg.ReadTimeout = 30 * time.Second
	srv, err := New(ing, cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return &benchServer{
		addr: srv.Addr().String(),
		held: ing.waits.Load,
		hold: func() {
			ing.mu.Lock()
			ing.gate = make(chan struct{})
			ing.mu.Unlock()
		},
		release: func() {
			ing.mu.Lock()
			close(ing.gate)
			ing.gate = nil
			ing.mu.Unlock()
		},
		close: func() {
			cancel()
			if err := <-done; err != nil {
				b.Error(err)
			}
		},
	}
}

// discardLog silences go-lumber's package-level logger, which prints a line for every
// connection.
type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}
func (discardLog) Print(...any)          {}

// startGoLumber runs go-lumber's own v2 server, the baseline: it decodes every event
// into a map, and the application ACKs each batch as soon as it receives it.
func startGoLumber(b *testing.B) *benchServer {
	lumberlog.Logger = discardLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := ljserver.NewWithListener(ln, ljserver.Timeout(30*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu      sync.Mutex
		holding bool
		held    []interface{ ACK() }
		count   atomic.Int64
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for batch := range srv.ReceiveChan() {
			mu.Lock()
			if holding {
				held = append(held, batch)
				count.Add(1)
				mu.Unlock()
				continue
			}
			mu.Unlock()
			batch.ACK()
		}
	}()
	return &benchServer{
		addr: ln.Addr().String(),
		held: count.Load,
		hold: func() { mu.Lock(); holding = true; mu.Unlock() },
		release: func() {
			mu.Lock()
			holding = false
			for _, h := range held {
				h.ACK()
			}
			held = nil
			count.Store(0)
			mu.Unlock()
		},
		close: func() {
			_ = srv.Close()
			<-done
		},
	}
}

// benchConn is one client connection: go-lumber's client encodes the window once, and
// the connection sends those bytes again and again, so that the client's JSON encoding
// and compression are not counted against the server; the client reads the ACKs.
type benchConn struct {
	conn   net.Conn
	client *lj.Client
}

func dialBench(b *testing.B, addr string) *benchConn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c, err := lj.NewWithConn(conn, lj.Timeout(60*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	return &benchConn{conn: conn, client: c}
}

// drive sends windows windows on bc, at most benchInflight unacknowledged, and returns
// each window's time from its first byte sent to its full ACK.
func (bc *benchConn) drive(window []byte, windows int) ([]time.Duration, error) {
	sent := make(chan time.Time, benchInflight)
	lat := make([]time.Duration, 0, windows)
	acked := make(chan error, 1)
	go func() {
		for range windows {
			start := <-sent
			if _, err := bc.client.AwaitACK(benchWindow); err != nil {
				acked <- err
				return
			}
			lat = append(lat, time.Since(start))
		}
		acked <- nil
	}()
	for range windows {
		select {
		case sent <- time.Now(): // blocks while benchInflight windows wait for their ACK
		case err := <-acked:
			return nil, err
		}
		if _, err := bc.conn.Write(window); err != nil {
			return nil, err
		}
	}
	if err := <-acked; err != nil {
		return nil, err
	}
	return lat, nil
}

// heapPerConn holds benchHeapConns connections mid-window (their window sent, its ACK
// held back) and returns the heap in use per connection, in MiB.
func heapPerConn(b *testing.B, s *benchServer, window []byte) float64 {
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s.hold()
	conns := make([]*benchConn, benchHeapConns)
	var wg sync.WaitGroup
	for i := range conns {
		conns[i] = dialBench(b, s.addr)
		if _, err := conns[i].conn.Write(window); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.held() < benchHeapConns {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d connections held mid-window", s.held(), benchHeapConns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let the connections read what they will
	runtime.GC()
	runtime.ReadMemStats(&during)
	for _, c := range conns {
		wg.Go(func() {
			if _, err := c.client.AwaitACK(benchWindow); err != nil {
				b.Error(err)
			}
			_ = c.conn.Close()
		})
	}
	s.release()
	wg.Wait()
	return float64(int64(during.HeapInuse)-int64(before.HeapInuse)) / benchHeapConns / (1 << 20)
}

func benchmarkServer(b *testing.B, start func(*testing.B) *benchServer) {
	s := start(b)
	defer s.close()
	window := clientBytes(b, benchLevel, events(0, benchWindow))
	mib := heapPerConn(b, s, window)

	conns := make([]*benchConn, benchClients)
	for i := range conns {
		conns[i] = dialBench(b, s.addr)
		defer conns[i].conn.Close()
	}
	per := max(b.N/benchClients, 1)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		lat []time.Duration
	)
	runtime.GC()
	b.ResetTimer()
	cpu0, t0 := cputime.Self(), time.Now()
	for _, c := range conns {
		wg.Go(func() {
			l, err := c.drive(window, per)
			if err != nil {
				b.Error(err)
			}
			mu.Lock()
			lat = append(lat, l...)
			mu.Unlock()
		})
	}
	wg.Wait()
	cpu, elapsed := cputime.Self()-cpu0, time.Since(t0)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}

	events := float64(per * benchClients * benchWindow)
	slices.Sort(lat)
	b.ReportMetric(events/elapsed.Seconds(), "events/s")
	b.ReportMetric(events/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ack-ms")
	b.ReportMetric(mib, "MiB/conn")
}

// BenchmarkLumberjack drives this receiver with a null Ingester. Per core:
//
//	go test -run x -bench Lumber -cpu 1 ./gateway/lumberjack
//
// events/cpu-s counts the whole process, the clients' writes and ACK reads included.
func BenchmarkLumberjack(b *testing.B) { benchmarkServer(b, startSluice) }

// BenchmarkGoLumberServer drives go-lumber's v2 server with the same load, the
// baseline; the application ACKs every batch as soon as it arrives.
func BenchmarkGoLumberServer(b *testing.B) { benchmarkServer(b, startGoLumber) }
