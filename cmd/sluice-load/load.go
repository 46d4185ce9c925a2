package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-siem/sluice/internal/retry"
)

// hardCap bounds every run: no --duration above it, and with only an event count the
// run still ends when it has passed.
const hardCap = time.Hour

// The transports.
const (
	transportLumberjack = "lumberjack"
	transportHTTP       = "http"
	transportGRPC       = "grpc"
	transportOTLP       = "otlp"
	transportBulk       = "bulk"
	transportSyslogTCP  = "syslog-tcp"
	transportRELP       = "relp"
)

// How an HTTP answer acknowledges events (--http-ack).
const (
	httpAckCount  = "count"  // the answer's "accepted" counts them, as sluice's /v1/events says
	httpAckStatus = "status" // a 2xx answer acknowledges the whole request
)

// maxDialFailures in a row, 200ms apart, end a worker.
const maxDialFailures = 25

// runConfig is everything one load run needs; flags fill it.
type runConfig struct {
	label, role string

	transport   string
	addr        string
	connections int
	batch       int     // events per batch (window, request)
	inflight    int     // batches in flight per connection (lumberjack, grpc, relp)
	window      int     // relp: transactions unanswered per connection
	level       int     // lumberjack zlib level
	gzip        bool    // http, bulk
	httpAck     string  // http: how an answer acknowledges (httpAckCount, httpAckStatus)
	rate        float64 // events per second over all connections; 0: as fast as acknowledged
	duration    time.Duration
	events      int64 // stop after this many events; 0: no count limit
	drain       time.Duration
	timeout     time.Duration // one batch's acknowledgement
	apiKey      string
	index       string // bulk index, %s is the log type

	shape string
	size  int
	seed  uint64

	syslogFormat  string // syslog-tcp, relp: bsd or rfc5424
	syslogFraming string // syslog-tcp: octet-counted or lf

	progress time.Duration // 0: no progress line

	pid          int
	subjectCmd   string
	subjectLog   string
	subjectReady time.Duration

	sinkDir     string
	sinkTimeout time.Duration

	searchURL   string
	searchIndex string
	searchPoll  time.Duration
	alsoPIDs    []int    // more processes of the subject, their CPU added to its own
	hopMetrics  []string // Prometheus URLs of the subject's processes, for the hop histograms

	// Kinesis streams the subject writes: counted before and after the run, the
	// difference must carry every acknowledged event.
	kinesisEndpoint string
	kinesisStreams  []string
	kinesisFormat   string

	// What the subject says it received: a metric on its /metrics, or the lines of a
	// file it writes (syslog acknowledges nothing).
	receivedMetrics string // URL
	receivedMetric  string // selector
	receivedFile    string
	receivedPoll    time.Duration

	maxErrorRatio float64
	allowRemote   bool
}

// defaultBatch is each transport's batch unless --batch says otherwise: Filebeat's
// window for lumberjack, and the batches of the receivers' own benchmarks
// (BENCHMARKS.md) for HTTP, gRPC and _bulk. For syslog-tcp a batch is one write, for
// relp the load generator's unit of bookkeeping (a window's worth of transactions).
func defaultBatch(transport string) int {
	switch transport {
	case transportLumberjack:
		return 2048
	case transportBulk:
		return 1000
	case transportRELP:
		return 128
	default:
		return 500
	}
}

// check reports every problem of the configuration at once.
func (c *runConfig) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.transport {
	case transportLumberjack, transportHTTP, transportGRPC, transportOTLP, transportBulk, transportSyslogTCP, transportRELP:
	default:
		bad("--transport must be lumberjack, http, grpc, otlp, bulk, syslog-tcp or relp, not %q", c.transport)
	}
	if c.addr == "" {
		bad("--addr is required (host:port of the subject)")
	}
	if c.connections < 1 || c.connections > 1024 {
		bad("--connections must be 1 to 1024, not %d", c.connections)
	}
	if c.batch < 1 || c.batch > 100000 {
		bad("--batch must be 1 to 100000, not %d", c.batch)
	}
	if c.inflight < 1 || c.inflight > 64 {
		bad("--inflight must be 1 to 64, not %d", c.inflight)
	}
	if c.window < 1 || c.window > 4096 {
		bad("--window must be 1 to 4096, not %d", c.window)
	}
	if c.httpAck != httpAckCount && c.httpAck != httpAckStatus {
		bad("--http-ack must be %s or %s, not %q", httpAckCount, httpAckStatus, c.httpAck)
	} else if c.httpAck == httpAckStatus && c.transport != transportHTTP {
		bad("--http-ack %s is for --transport http, not %s", httpAckStatus, c.transport)
	}
	if !slices.Contains(syslogFormats, c.syslogFormat) {
		bad("--syslog-format must be bsd or rfc5424, not %q", c.syslogFormat)
	}
	if !slices.Contains(syslogFramings, c.syslogFraming) {
		bad("--syslog-framing must be octet-counted or lf, not %q", c.syslogFraming)
	}
	if c.level < 0 || c.level > 9 {
		bad("--compression must be 0 (none) to 9, not %d", c.level)
	}
	if c.rate < 0 || math.IsNaN(c.rate) || math.IsInf(c.rate, 0) {
		bad("--rate must be 0 (unlimited) or a positive number of events per second")
	}
	if c.duration <= 0 || c.duration > hardCap {
		bad("--duration must be more than 0 and at most %s, not %s", hardCap, c.duration)
	}
	if c.events < 0 {
		bad("--events must not be negative")
	}
	if c.drain <= 0 || c.drain > 10*time.Minute {
		bad("--drain must be more than 0 and at most 10m, not %s", c.drain)
	}
	if c.timeout <= 0 {
		bad("--timeout must be positive")
	}
	if c.size < 0 || c.size > 1<<20 {
		bad("--size must be 0 (natural) to 1MiB, not %d", c.size)
	}
	if c.pid != 0 && c.subjectCmd != "" {
		bad("--pid and --subject-cmd exclude each other")
	}
	if c.pid < 0 {
		bad("--pid must be positive")
	}
	if c.sinkTimeout <= 0 || c.sinkTimeout > 10*time.Minute {
		bad("--sink-timeout must be more than 0 and at most 10m")
	}
	if len(c.alsoPIDs) > 0 && c.pid == 0 && c.subjectCmd == "" {
		bad("--also-pid needs --pid or --subject-cmd")
	}
	if len(c.hopMetrics) > 0 && c.searchURL == "" {
		bad("--hop-metrics needs --search-url: the hops are those of the whole chain")
	}
	if c.searchURL != "" && c.searchIndex == "" {
		bad("--search-url needs --search-index")
	}
	if c.searchURL != "" && c.sinkDir != "" {
		bad("--search-url and --sink-dir exclude each other")
	}
	if (c.kinesisEndpoint == "") != (len(c.kinesisStreams) == 0) {
		bad("--kinesis-endpoint and --kinesis-streams go together")
	}
	if c.kinesisFormat != kinesisSluice && c.kinesisFormat != kinesisOTLP {
		bad("--kinesis-format must be %s or %s, not %q", kinesisSluice, kinesisOTLP, c.kinesisFormat)
	}
	switch received := c.receivedMetrics != "" || c.receivedFile != ""; {
	case c.receivedMetrics != "" && c.receivedFile != "":
		bad("--received-metrics and --received-file exclude each other")
	case received && (c.sinkDir != "" || c.searchURL != ""):
		bad("--received-metrics and --received-file exclude --sink-dir and --search-url")
	case !received && c.transport == transportSyslogTCP:
		bad("--transport syslog-tcp needs --received-metrics or --received-file: syslog acknowledges nothing, so only the subject can say what arrived")
	}
	if c.receivedMetrics != "" && c.receivedMetric == "" && defaultReceivedMetric(c.transport) == "" {
		bad("--received-metrics needs --received-metric with transport %s", c.transport)
	}
	if c.receivedMetric != "" {
		if _, _, err := parseSelector(c.receivedMetric); err != nil {
			bad("--received-metric: %v", err)
		}
	}
	if c.receivedPoll < time.Millisecond || c.receivedPoll > 10*time.Second {
		bad("--received-poll must be 1ms to 10s, not %s", c.receivedPoll)
	}
	if c.searchPoll < 10*time.Millisecond || c.searchPoll > time.Minute {
		bad("--search-poll must be 10ms to 1m, not %s", c.searchPoll)
	}
	for _, p := range c.alsoPIDs {
		if p <= 0 {
			bad("--also-pid must be positive, not %d", p)
		}
	}
	if c.maxErrorRatio < 0 || c.maxErrorRatio > 1 {
		bad("--max-error-ratio must be 0 to 1")
	}
	if c.role != "subject" && c.role != "baseline" {
		bad("--role must be subject or baseline, not %q", c.role)
	}
	return errors.Join(errs...)
}

// transport makes the connections of one protocol.
type transport interface {
	dial(ctx context.Context) (conn, error)
	close()
}

// conn is one connection of a transport.
type conn interface {
	// send sends b and arranges for done to be called exactly once with its outcome,
	// from any goroutine. An error means the connection is broken: the caller closes
	// it (done is still called for b) and dials again.
	send(ctx context.Context, b batch, done func(outcome)) error
	// close ends the connection; every batch sent without an outcome gets one (failed)
	// before close returns.
	close()
}

// runner runs one load.
type runner struct {
	cfg    runConfig
	tr     transport
	sizes  []int // payload bytes of each pool event
	stats  *stats
	wire   atomic.Int64
	seq    atomic.Uint64
	budget *budget
	lim    *limiter
	// poolBatches is how many distinct full batches the pool holds.
	poolBatches int
}

// budget hands out the events of an --events limit.
type budget struct {
	limited bool
	left    atomic.Int64
}

// take returns how many of n events may still be sent (n when there is no limit).
func (b *budget) take(n int) int {
	if !b.limited {
		return n
	}
	for {
		left := b.left.Load()
		k := min(int64(n), left)
		if k <= 0 {
			return 0
		}
		if b.left.CompareAndSwap(left, left-k) {
			return int(k)
		}
	}
}

// poolSize is the number of distinct events: a whole number of batches, at least four
// and at least 4096 events, so consecutive batches differ; no more than a run of
// events events needs (0: no limit).
func poolSize(batch int, events int64) int {
	batches := max(4, (4096+batch-1)/batch)
	if events > 0 {
		batches = min(batches, int((events+int64(batch)-1)/int64(batch)))
	}
	return batch * batches
}

// newRunner generates the events and builds the transport.
func newRunner(cfg runConfig) (*runner, error) {
	n := poolSize(cfg.batch, cfg.events)
	var evs []event
	var msgs [][]byte
	var err error
	if cfg.transport == transportSyslogTCP || cfg.transport == transportRELP {
		msgs, err = syslogMessages(cfg.syslogFormat, cfg.size, cfg.seed, time.Now(), n)
	} else {
		evs, err = generate(genOptions{shape: cfg.shape, size: cfg.size, seed: cfg.seed, start: time.Now()}, n)
	}
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, stats: newStats(), budget: &budget{limited: cfg.events > 0}, poolBatches: n / cfg.batch}
	r.budget.left.Store(cfg.events)
	if cfg.rate > 0 {
		r.lim = newLimiter(cfg.rate, cfg.batch, time.Now)
	}
	switch cfg.transport {
	case transportLumberjack:
		r.tr, r.sizes = newLJTransport(cfg.addr, cfg.level, cfg.inflight, cfg.timeout, evs, &r.wire)
	case transportHTTP, transportBulk:
		r.tr, r.sizes, err = newHTTPTransport(cfg.transport, cfg.addr, cfg.gzip, cfg.httpAck == httpAckStatus, cfg.apiKey, cfg.index, cfg.connections, cfg.batch, cfg.timeout, evs, &r.wire)
	case transportGRPC:
		r.tr, r.sizes, err = newGRPCTransport(cfg.addr, cfg.apiKey, cfg.size, evs, &r.wire)
	case transportOTLP:
		r.tr, r.sizes = newOTLPTransport(cfg.addr, cfg.apiKey, evs, &r.wire)
	case transportSyslogTCP:
		r.tr, r.sizes = newSyslogTransport(cfg.addr, cfg.syslogFraming, cfg.timeout, msgs, &r.wire)
	case transportRELP:
		r.tr, r.sizes = newRELPTransport(cfg.addr, cfg.window, cfg.timeout, cfg.rate > 0, msgs, &r.wire)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// load sends until sendCtx ends or the event budget is spent, then waits for the
// outstanding acknowledgements up to the drain timeout. It returns when the last
// outcome is in (or the drain gave up).
func (r *runner) load(ctx, sendCtx context.Context) {
	var wg sync.WaitGroup
	for range r.cfg.connections {
		wg.Go(func() { r.worker(ctx, sendCtx) })
	}
	wg.Wait()
	r.tr.close()
}

// worker drives one connection: at most cfg.inflight batches unacknowledged, dialing
// again after the connection breaks.
func (r *runner) worker(ctx, sendCtx context.Context) {
	window := make(chan struct{}, r.cfg.inflight)
	var c conn
	defer func() {
		if c != nil {
			r.drain(ctx, c, window)
		}
	}()
	dialFailures := 0
	for sendCtx.Err() == nil {
		if c == nil {
			var err error
			if c, err = r.tr.dial(ctx); err != nil {
				c = nil
				r.stats.failure(errKind("dial", err), err)
				// A subject that stays unreachable ends this worker, not the hour cap.
				if dialFailures++; dialFailures == maxDialFailures || !retry.Sleep(sendCtx, 200*time.Millisecond) {
					return
				}
				continue
			}
			dialFailures = 0
		}
		n := r.budget.take(r.cfg.batch)
		if n == 0 {
			return
		}
		b := r.nextBatch(n)
		if r.lim != nil {
			// Due at its place in the schedule: waiting for a free slot in the window
			// counts toward its latency (no coordinated omission within the burst).
			b.start = r.lim.reserve(n)
			if !retry.Sleep(sendCtx, time.Until(b.start)) {
				return
			}
		}
		select {
		case window <- struct{}{}:
		case <-sendCtx.Done():
			return
		}
		if r.lim == nil {
			b.start = time.Now() // as fast as acknowledged: latency is the round trip
		}
		r.stats.sendBatch(b)
		err := c.send(ctx, b, func(o outcome) {
			r.stats.done(b, o, time.Now())
			<-window
		})
		if err != nil {
			c.close()
			c = nil
		}
	}
}

// nextBatch returns the next batch of n events from the pool.
func (r *runner) nextBatch(n int) batch {
	seq := r.seq.Add(1) - 1
	first := int(seq%uint64(r.poolBatches)) * r.cfg.batch
	var bytes int64
	for _, s := range r.sizes[first : first+n] {
		bytes += int64(s)
	}
	return batch{seq: seq, first: first, n: n, bytes: bytes}
}

// drain waits until every batch of c has its outcome (the window is empty) or the
// drain timeout passes, then closes c, which fails whatever is left.
func (r *runner) drain(ctx context.Context, c conn, window chan struct{}) {
	dctx, cancel := context.WithTimeout(ctx, r.cfg.drain)
	defer cancel()
	for range cap(window) {
		select {
		case window <- struct{}{}:
		case <-dctx.Done():
			c.close()
			return
		}
	}
	c.close()
}

// progressLoop prints a line every interval until ctx ends.
func (r *runner) progressLoop(ctx context.Context, w io.Writer, start time.Time, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last, lastAt := snapshot{}, start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := r.stats.snapshot()
			dt := now.Sub(lastAt).Seconds()
			fmt.Fprintf(w, "sluice-load: %5.1fs  acked %d of %d  %.0f events/s  %.1f MB/s  p99 %s  errors %d  in flight %d\n",
				now.Sub(start).Seconds(), s.acked, s.sent, float64(s.acked-last.acked)/dt,
				float64(s.ackedBytes-last.ackedBytes)/dt/1e6, s.p99.Round(10*time.Microsecond),
				s.errors, s.sent-s.acked-s.failed-s.rejected)
			last, lastAt = s, now
		}
	}
}

// machine describes where the figures come from.
type machine struct {
	NProc int    `json:"nproc"`
	Model string `json:"model"`
	OS    string `json:"os"`
	Go    string `json:"go"`
}

func thisMachine(cpuinfo []byte) machine {
	return machine{NProc: runtime.NumCPU(), Model: cpuModel(cpuinfo), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
}
