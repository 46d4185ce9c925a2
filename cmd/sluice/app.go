package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/gateway/lumberjack"
	"github.com/sluice-siem/sluice/gateway/relp"
	"github.com/sluice-siem/sluice/gateway/syslog"
	"github.com/sluice-siem/sluice/internal/apidocs"
	"github.com/sluice-siem/sluice/internal/netlimit"
	"github.com/sluice-siem/sluice/internal/ops"
	"github.com/sluice-siem/sluice/internal/secret"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/stream/discard"
	"github.com/sluice-siem/sluice/stream/embedded"
	"github.com/sluice-siem/sluice/stream/embedded/durable"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/leases"
	"github.com/sluice-siem/sluice/transform"
	"github.com/sluice-siem/sluice/transform/consume"
)

// app is one sluice process: the components of its role, built and listed in the order
// of the data path, downstream first (sinks, transformer and consumer, stream,
// gateway, receivers, readiness), started in that order and shut down in the reverse
// one, so that nothing sends to a part not yet running and each part drains into
// parts still running.
type app struct {
	cfg  config.Config
	role config.Role
	log  *slog.Logger

	meterProvider *sdkmetric.MeterProvider
	registry      *promclient.Registry
	meter         metric.Meter

	// parts are the components, downstream first.
	parts lifecycle
	// stopping is set when shutdown begins: readiness fails from then on.
	stopping atomic.Bool

	// failed is closed by the first fatal error of a running component; runErr
	// collects them.
	failed   chan struct{}
	failOnce sync.Once
	errMu    sync.Mutex
	runErr   error

	// conns bounds the connections of every listener: each listener's cap, and one
	// budget of file descriptors they all share.
	conns *netlimit.Group

	// The parts tests and the start-up log look at; nil where the role has none.
	httpLn, grpcLn net.Listener
	ljSrv          *lumberjack.Server
	syslogSrv      *syslog.Server
	relpSrv        *relp.Server
	search         *search.Sink
	sink           *file.Sink
	// used reports the bytes the embedded stream holds (nil on Kinesis).
	used func() int64
}

// embeddedUsed returns the bytes the embedded stream holds, 0 without one.
func (a *app) embeddedUsed() int64 {
	if a.used == nil {
		return 0
	}
	return a.used()
}

// consumer delivers the stream's records to the transformer: the embedded stream, or
// the Kinesis consumer with shard leases (transform/consume) of `sluice transform`.
type consumer interface {
	Consume(context.Context, consume.Handler) error
}

// newApp builds the components of the role and binds its listeners, so that a bad
// address or configuration fails before anything runs and tests can read the bound
// addresses. On error, what was built is shut down.
func newApp(ctx context.Context, cfg config.Config, role config.Role, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, role: role, log: log, failed: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = a.shutdown(ctx)
		}
	}()
	if err := a.buildMetrics(); err != nil {
		return nil, err
	}
	// Connection limits: every listener's own cap, and a budget of connections all
	// listeners share, from the file-descriptor limit, so that a flood on one port
	// cannot take the descriptors the other listeners and the outbound connections need.
	budget, nofile, err := netlimit.FDBudget()
	if err != nil {
		log.Warn("no connection budget, only each listener's max_connections", "err", err)
	}
	a.conns, err = netlimit.NewGroup(netlimit.GroupOptions{Budget: budget, Logger: log.With("component", "listener"), Meter: a.meter})
	if err != nil {
		return nil, err
	}
	if budget > 0 {
		log.Info("connection budget of all listeners", "connections", budget, "nofile", nofile)
	}

	// Downstream first: the sinks and the transformer, whose pipelines compile before
	// anything else is opened, so that a mistake in one fails the start early.
	var transformer *transform.Transformer
	if role != config.RoleGateway {
		if transformer, err = a.buildTransform(ctx); err != nil {
			return nil, err
		}
	}
	// The stream between the tiers, with the consumer that feeds the transformer.
	var producer gateway.Producer
	switch cfg.Stream.Kind {
	case "embedded":
		if cfg.Stream.Embedded.Durable {
			if producer, err = a.buildDurable(ctx, transformer); err != nil {
				return nil, err
			}
			break
		}
		s, err := a.buildEmbedded()
		if err != nil {
			return nil, err
		}
		if transformer != nil {
			a.addConsumer("consumer", s, transformer, nil)
			// Shut down before the consumer: the stream is drained through it.
			a.parts.add("embedded stream", &part{stop: func(ctx context.Context) error {
				if err := s.WaitEmpty(ctx); err != nil {
					return fmt.Errorf("drain stream (events not yet written are lost with the embedded stream): %w", err)
				}
				return nil
			}})
		}
		a.used = s.Used
		producer = s
	case "kinesis":
		if role == config.RoleTransform {
			if err := a.buildKinesisConsumer(ctx, transformer); err != nil {
				return nil, err
			}
			break
		}
		p, err := kinesis.New(ctx, cfg.Stream.Kinesis, kinesis.Options{Logger: log.With("component", "kinesis"), Meter: a.meter})
		if err != nil {
			return nil, fmt.Errorf("create kinesis producer: %w", err)
		}
		a.parts.add("kinesis producer", &part{stop: func(ctx context.Context) error {
			if err := p.Close(ctx); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
			return nil
		}})
		producer = p
	case "discard":
		// A benchmark tool (gateway role only): the receivers alone, every record dropped.
		log.Warn("stream.kind is discard: every event is acknowledged and dropped (a benchmark tool, never for real traffic)")
		producer = discard.New()
	default:
		return nil, fmt.Errorf("unknown stream.kind %q", cfg.Stream.Kind)
	}

	// Upstream: the gateway and its receivers, or the operations endpoints of the
	// transform role; readiness, which drops first on shutdown, last.
	var gw *gateway.Gateway
	var hs *health.Server
	if role != config.RoleTransform {
		if gw, hs, err = a.buildGateway(ctx, producer); err != nil {
			return nil, err
		}
	} else if cfg.HTTP.Addr != "" {
		if err := a.buildOps(); err != nil {
			return nil, err
		}
	}
	a.parts.add("readiness", &part{stop: func(ctx context.Context) error {
		a.stopping.Store(true)
		if gw == nil {
			return nil
		}
		gw.Drain()
		if hs != nil {
			hs.Shutdown() // every service NOT_SERVING
		}
		// The load balancer sees /readyz fail and stops sending before the listeners close.
		select {
		case <-time.After(cfg.Shutdown.DrainDelay):
		case <-ctx.Done():
		}
		return nil
	}})
	// Above readiness: syslog stops before the gateway refuses what it has read.
	if gw != nil && cfg.Syslog.Enabled() {
		if err := a.addSyslog(gw); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// fail records a fatal error of a running component and starts the shutdown.
func (a *app) fail(err error) {
	a.errMu.Lock()
	a.runErr = errors.Join(a.runErr, err)
	a.errMu.Unlock()
	a.failOnce.Do(func() { close(a.failed) })
}

// buildMetrics sets up the OpenTelemetry SDK, exported in the Prometheus format on
// /metrics.
func (a *app) buildMetrics() error {
	a.registry = promclient.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(a.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return fmt.Errorf("create metrics exporter: %w", err)
	}
	a.meterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	a.meter = a.meterProvider.Meter("github.com/sluice-siem/sluice")
	return nil
}

// buildTransform builds the back tier's sinks and transformer, each listed as it is
// made: the file sink (where it is written to: the file sink itself, or dead letters
// in files), the dead-letter destination and the search sink (sink.kind search), and
// the lookups, reloaded while running.
func (a *app) buildTransform(ctx context.Context) (*transform.Transformer, error) {
	cfg, log := a.cfg, a.log
	if cfg.Sink.UsesFiles() {
		s, err := buildFileSink(cfg, log)
		if err != nil {
			return nil, err
		}
		a.sink = s
		a.parts.add("file sink", &part{stop: func(context.Context) error { return s.Close() }})
	}
	var out transform.Sink = a.sink
	if cfg.Sink.EffectiveKind() == "search" {
		dead, err := buildDeadLetters(ctx, cfg, a.sink, log, a.meter)
		if err != nil {
			return nil, err
		}
		a.parts.add("dead letters", &part{stop: dead.close})
		s, err := buildSearchSink(ctx, cfg, dead.dest, log, a.meter)
		if err != nil {
			return nil, err
		}
		a.search = s
		// Rollover and retention by sluice's sweeper, where the engine has no ILM or
		// ISM (RunLifecycle returns at once otherwise).
		a.parts.add("search sink", a.background("search lifecycle", s.RunLifecycle, func(context.Context) error { return s.Close() }))
		addrs := make([]string, len(cfg.Sink.Search.Addresses))
		for i, u := range cfg.Sink.Search.Addresses {
			addrs[i] = secret.RedactURL(u) // a URL may carry user:password
		}
		log.Info("search sink", "engine", cfg.Sink.Search.Engine, "addresses", addrs,
			"layout", cfg.Sink.Search.Layout, "dead_letters", dead.where, "lifecycle", s.Lifecycle())
		out = s
	}
	t, res, err := buildTransformer(ctx, cfg, out, log, a.meter)
	if err != nil {
		return nil, err
	}
	a.parts.add("lookups", a.background("reload lookups", res.Run, func(context.Context) error { res.Close(); return nil }))
	return t, nil
}

// addConsumer lists the component that feeds the transformer from c while running;
// closeAfter, if set, releases what c reads through once it stopped.
func (a *app) addConsumer(name string, c consumer, t *transform.Transformer, closeAfter func()) {
	a.parts.add(name, a.background("consume", func(ctx context.Context) error { return c.Consume(ctx, t.Handle) },
		func(context.Context) error {
			if closeAfter != nil {
				closeAfter()
			}
			return nil
		}))
}

// embeddedWorker is the consumer's worker id on the durable embedded stream. One
// process at a time opens the stream's directory, so the id can stay the same across
// restarts: a process started after a crash adopts the leases its predecessor held at
// once, instead of waiting for them to expire.
const embeddedWorker = "embedded"

// buildDurable opens the durable embedded stream of `sluice dev` and, for the
// transformer, the consumer that reads it with leases and checkpoints kept beside the
// records, as the Kinesis path does. The stream is listed below the consumer: it
// closes once the consumer and the gateway stopped.
func (a *app) buildDurable(ctx context.Context, t *transform.Transformer) (*durable.Stream, error) {
	dcfg := a.cfg.DurableStream()
	dcfg.Logger, dcfg.Meter = a.log.With("component", "embedded"), a.meter
	s, err := durable.Open(ctx, dcfg)
	if err != nil {
		return nil, fmt.Errorf("open embedded stream (stream.embedded.dir %s): %w", dcfg.Dir, err)
	}
	a.parts.add("embedded stream", &part{stop: func(context.Context) error { return s.Close() }})
	a.used = s.Used
	if t == nil {
		return s, nil
	}
	ccfg := consume.DefaultConfig()
	ccfg.WorkerID = embeddedWorker
	ccfg.Streams = dcfg.Streams
	// Read waits for new records itself: no pause after an empty read.
	ccfg.IdleWait = 0
	// Checkpoints are local fsyncs: frequent ones free the disk sooner and let a
	// graceful stop drain in about a second.
	ccfg.CheckpointPeriod = time.Second
	ccfg.HandoffTimeout = min(ccfg.HandoffTimeout, a.cfg.Shutdown.Timeout/2)
	c, err := consume.New(ccfg, s.Leases(), s, consume.Options{Logger: a.log.With("component", "consume"), Meter: a.meter})
	if err != nil {
		return nil, fmt.Errorf("create embedded stream consumer: %w", err)
	}
	a.addConsumer("consumer", c, t, nil)
	// A graceful stop delivers what the stream holds first, for a while: what is left
	// stays on disk and is delivered at the next start.
	drain := a.cfg.Shutdown.Timeout / 3
	a.parts.add("embedded stream drain", &part{stop: func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, drain)
		defer cancel()
		if err := s.WaitEmpty(ctx); err != nil {
			a.log.Info("embedded stream not drained at shutdown: the rest is delivered at the next start", "bytes", s.Used(), "waited", drain)
		}
		return nil
	}})
	return s, nil
}

// buildEmbedded makes the in-memory embedded stream (stream.embedded.durable false).
func (a *app) buildEmbedded() (*embedded.Stream, error) {
	cfg := a.cfg
	s, err := embedded.New(embedded.Config{
		Streams:        cfg.Gateway.StreamNames(),
		Shards:         cfg.Stream.Embedded.Shards,
		MaxBytes:       int64(cfg.Stream.Embedded.MaxBytes),
		MaxRecordBytes: int(cfg.Gateway.Limits.MaxEventBytes) + 4096,
		Logger:         a.log.With("component", "embedded"),
	})
	if err != nil {
		return nil, fmt.Errorf("create embedded stream: %w", err)
	}
	_, err = a.meter.Int64ObservableGauge("sluice_stream_used_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes held in the embedded stream, not yet acknowledged by the transform tier."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(s.Used())
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("create stream metrics: %w", err)
	}
	return s, nil
}

// buildKinesisConsumer wires step 4 for `sluice transform` on Kinesis: the reader of
// the streams, the lease table and the consumer that shares the shards with the other
// transform tasks. The reader and the table are closed once the consumer stopped.
func (a *app) buildKinesisConsumer(ctx context.Context, t *transform.Transformer) error {
	cfg := a.cfg
	ccfg := cfg.Stream.Consumer
	if len(ccfg.Streams) == 0 {
		ccfg.Streams = cfg.Gateway.StreamNames()
	}
	var (
		store consume.LeaseStore
		table *leases.Store
		err   error
	)
	switch cfg.Stream.Leases.Store {
	case "memory":
		a.log.Warn("stream.leases.store is memory: this worker shares no shards with others and forgets its checkpoints when it stops")
		store = consume.NewMemoryStore()
	default:
		if table, err = leases.New(ctx, cfg.Stream.Leases.DynamoDB); err != nil {
			return fmt.Errorf("open lease table: %w", err)
		}
		store = table
	}
	release := func() {
		if table != nil {
			table.Close()
		}
	}
	reader, err := kinesis.NewReader(ctx, cfg.Stream.Kinesis, kinesis.Options{Logger: a.log.With("component", "kinesis")})
	if err != nil {
		release()
		return fmt.Errorf("create kinesis reader: %w", err)
	}
	release = func() {
		reader.Close()
		if table != nil {
			table.Close()
		}
	}
	c, err := consume.New(ccfg, store, reader, consume.Options{Logger: a.log.With("component", "consume"), Meter: a.meter})
	if err != nil {
		release()
		return fmt.Errorf("create kinesis consumer: %w", err)
	}
	a.log.Info("kinesis consumer", "worker", c.WorkerID(), "streams", ccfg.Streams, "lease_store", cfg.Stream.Leases.Store)
	a.addConsumer("kinesis consumer", c, t, release)
	return nil
}

// buildGateway wires the front tier: the core and its receivers (lumberjack, gRPC,
// HTTP), each listening already.
func (a *app) buildGateway(ctx context.Context, producer gateway.Producer) (*gateway.Gateway, *health.Server, error) {
	cfg := a.cfg
	gcfg := cfg.Gateway
	gcfg.Limits.MaxDepth = cfg.Limits.MaxDepth // limits.max_depth, which the transform tier shares
	gw, err := gateway.New(gcfg, producer, gateway.Options{Logger: a.log.With("component", "gateway"), Meter: a.meter})
	if err != nil {
		return nil, nil, err
	}
	if !gw.AuthEnabled() {
		a.log.Warn("api key authentication is off: anyone who reaches the listeners can send events", "role", a.role)
	}
	svc := grpcrecv.New(gw, cfg.GRPC, grpcrecv.Options{Logger: a.log.With("component", "grpc")})
	if cfg.HTTP.Addr != "" {
		push, err := svc.RESTHandler(ctx)
		if err != nil {
			return nil, nil, err
		}
		var bulk *httprecv.Bulk
		if cfg.Bulk.Enabled {
			bulk = &cfg.Bulk
		}
		handler, err := httprecv.New(gw, httprecv.Options{
			Push:    push,
			Metrics: promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
			OpenAPI: sluicev1.OpenAPIDocument,
			Docs:    apidocs.Handler("/openapi.json"),
			Logger:  a.log.With("component", "http"),
			Bulk:    bulk,
			Meter:   a.meter,
		})
		if err != nil {
			return nil, nil, err
		}
		if err := a.addHTTP(handler, cfg.HTTP.ReadTimeout); err != nil {
			return nil, nil, err
		}
	}
	var hs *health.Server
	if cfg.GRPC.Addr != "" {
		if hs, err = a.addGRPC(svc); err != nil {
			return nil, nil, err
		}
	}
	if cfg.Lumberjack.Addr != "" {
		if err := a.addLumberjack(gw); err != nil {
			return nil, nil, err
		}
	}
	if cfg.RELP.Addr != "" {
		if err := a.addRELP(gw); err != nil {
			return nil, nil, err
		}
	}
	return gw, hs, nil
}

// addRELP listens on relp.addr and lists the RELP receiver: each message is parsed
// as syslog (syslog.rules give its log type) and answered once durable. Like
// lumberjack, it drains after readiness drops: its clients resend what it leaves
// unanswered.
func (a *app) addRELP(gw *gateway.Gateway) error {
	cfg := a.cfg
	parser, err := syslog.NewParser(cfg.Syslog.Rules, cfg.Syslog.DefaultType)
	if err != nil {
		return fmt.Errorf("relp: syslog rules: %w", err)
	}
	handle := func(ctx context.Context, b relp.Batch) (gateway.Result, error) {
		source := ""
		if b.Remote != nil {
			source = b.Remote.String()
		}
		now := time.Now()
		events := make([]gateway.Event, len(b.Messages))
		var buf []byte
		for i, m := range b.Messages {
			start := len(buf)
			var typ string
			buf, typ, _ = parser.AppendEvent(buf, m, source, now)
			events[i] = gateway.Event{Type: typ, Doc: buf[start:len(buf):len(buf)]}
		}
		return gw.Ingest(ctx, gateway.Batch{Receiver: "relp", Events: events})
	}
	srv, err := relp.New(handle, cfg.RELP, relp.Options{
		Logger:       a.log.With("component", "relp"),
		Meter:        a.meter,
		DrainTimeout: cfg.Shutdown.Timeout,
		WrapListener: func(ln net.Listener) net.Listener { return a.conns.Wrap("relp", ln, 0) },
		Ready:        gw.Ready,
		Software:     "sluice," + versionString() + ",https://github.com/sluice-siem/sluice",
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	a.relpSrv = srv
	a.parts.add("relp", a.runner("relp", srv.Run, srv.Close, func() {
		a.log.Info("relp listening", "addr", srv.Addr().String(), "tls", srv.TLS())
	}))
	return nil
}

// addSyslog listens on the syslog addresses and lists the receiver. Plain syslog
// cannot hand a message back, so the receiver is listed above readiness: it stops,
// ingesting what it has read, before the gateway begins to refuse batches.
func (a *app) addSyslog(gw *gateway.Gateway) error {
	cfg := a.cfg
	srv, err := syslog.New(gw, cfg.Syslog, syslog.Options{
		Logger:       a.log.With("component", "syslog"),
		Meter:        a.meter,
		DrainTimeout: cfg.Shutdown.Timeout / 2,
		WrapListener: func(name string, ln net.Listener) net.Listener { return a.conns.Wrap("syslog-"+name, ln, 0) },
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	a.syslogSrv = srv
	a.parts.add("syslog", a.runner("syslog", srv.Run, srv.Close, func() {
		for _, l := range []struct {
			name string
			addr net.Addr
		}{{"tcp", srv.TCPAddr()}, {"tls", srv.TLSAddr()}, {"udp", srv.UDPAddr()}} {
			if l.addr != nil {
				a.log.Info("syslog listening", "listener", l.name, "addr", l.addr.String())
			}
		}
	}))
	return nil
}

// buildOps serves what operators and orchestrators need from the transform role on
// the HTTP address: /healthz, /readyz (503 once shutdown begins) and /metrics.
func (a *app) buildOps() error {
	return a.addHTTP(ops.New(func() bool { return !a.stopping.Load() }, promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})), 0)
}

// addHTTP listens on http.addr and lists the server serving handler: it serves from
// Start; Shutdown lets requests in progress finish (closing the rest when its context
// ends). readTimeout bounds reading a request, body included (0: none).
func (a *app) addHTTP(handler http.Handler, readTimeout time.Duration) error {
	cfg := a.cfg.HTTP
	tlsConf, err := cfg.TLS.Load()
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	ln, err := a.conns.Listen("http", cfg.Addr, cfg.MaxConnections)
	if err != nil {
		return fmt.Errorf("listen http on %s: %w", cfg.Addr, err)
	}
	a.httpLn = ln
	announce := func() { a.log.Info("http listening", "addr", ln.Addr().String(), "tls", tlsConf != nil) }
	serve := func() error {
		var err error
		if tlsConf != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
	a.parts.add("http", a.server("serve http", announce, serve, func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if err != nil {
			_ = srv.Close()
		}
		_ = ln.Close() // if it never served
		return err
	}))
	return nil
}

// addGRPC listens on grpc.addr and lists the gRPC server of svc, with the standard
// health service (returned, for readiness) and reflection: it serves from Start;
// Shutdown lets calls in progress finish (stopping the rest when its context ends).
func (a *app) addGRPC(svc *grpcrecv.Service) (*health.Server, error) {
	cfg := a.cfg.GRPC
	opts := svc.ServerOptions()
	tlsConf, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("grpc: %w", err)
	}
	if tlsConf != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf)))
	}
	srv := grpc.NewServer(opts...)
	svc.Register(srv)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(sluicev1.IngestService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	ln, err := a.conns.Listen("grpc", cfg.Addr, cfg.MaxConnections)
	if err != nil {
		return nil, fmt.Errorf("listen grpc on %s: %w", cfg.Addr, err)
	}
	a.grpcLn = ln
	announce := func() { a.log.Info("grpc listening", "addr", ln.Addr().String()) }
	a.parts.add("grpc", a.server("serve grpc", announce, func() error { return srv.Serve(ln) }, func(ctx context.Context) error {
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			srv.Stop()
			<-stopped
		}
		_ = ln.Close() // if it never served
		return nil
	}))
	return hs, nil
}

// addLumberjack listens on lumberjack.addr and lists the Beats receiver: it accepts
// from Start; Shutdown stops accepting and lets windows in progress finish (or be
// refused while draining), closing the connections when its context ends.
func (a *app) addLumberjack(gw *gateway.Gateway) error {
	cfg := a.cfg
	srv, err := lumberjack.New(gw, cfg.Lumberjack, lumberjack.Options{
		Logger:       a.log.With("component", "lumberjack"),
		Meter:        a.meter,
		DrainTimeout: cfg.Shutdown.Timeout,
		// lumberjack.max_connections is the receiver's own (counted and logged as
		// over_limit); the listener shares the process's budget.
		WrapListener: func(ln net.Listener) net.Listener { return a.conns.Wrap("lumberjack", ln, 0) },
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	a.ljSrv = srv
	a.parts.add("lumberjack", a.runner("lumberjack", srv.Run, srv.Close, func() {
		a.log.Info("lumberjack listening", "addr", srv.Addr().String(), "tls", srv.TLS())
	}))
	return nil
}

// runner is a receiver that serves in Run until its context ends, then stops
// accepting and lets what is in progress finish; Close ends it at once. Shutdown
// ends Run's context and waits for it; when Shutdown's own deadline passes first it
// calls Close (what is in progress then is not acknowledged: clients resend it).
// Without Start, Shutdown calls Close, releasing the listener.
func (a *app) runner(name string, run func(context.Context) error, closeNow func() error, announce func()) *part {
	runCtx, stop := context.WithCancel(context.Background())
	var ran chan struct{} // closed when Run returned; nil without Start
	return &part{
		start: func(context.Context) error {
			announce()
			ran = make(chan struct{})
			go func() {
				defer close(ran)
				if err := run(runCtx); err != nil {
					a.fail(fmt.Errorf("serve %s: %w", name, err))
				}
			}()
			return nil
		},
		stop: func(ctx context.Context) error {
			stop()
			if ran == nil {
				return closeNow()
			}
			select {
			case <-ran:
			case <-ctx.Done():
				_ = closeNow()
				<-ran
			}
			return nil
		},
	}
}

// background is a component whose work is run in a goroutine from Start until
// Shutdown cancels its context; Shutdown waits for it (until its own context ends),
// then calls release, if set, which also runs without Start. An error of run is fatal
// for the process.
func (a *app) background(name string, run func(context.Context) error, release func(context.Context) error) *part {
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	return &part{
		start: func(ctx context.Context) error {
			// Not the caller's context: the component stops when Shutdown says so,
			// in its turn.
			runCtx, c := context.WithCancel(context.WithoutCancel(ctx))
			cancel, done = c, make(chan struct{})
			go func() {
				defer close(done)
				if err := run(runCtx); err != nil {
					a.fail(fmt.Errorf("%s: %w", name, err))
				}
			}()
			return nil
		},
		stop: func(ctx context.Context) error {
			if cancel != nil {
				cancel()
				select {
				case <-done:
				case <-ctx.Done():
					// Still running: what it uses is not released under it.
					return fmt.Errorf("%s did not stop in time: %w", name, ctx.Err())
				}
			}
			if release != nil {
				return release(ctx)
			}
			return nil
		},
	}
}

// server is a component serving in a goroutine from Start (announced first, in the
// log) until stop ends the serving (stop also runs without Start, to release the
// listener); Shutdown waits for the goroutine once stop returned. An error of serve is
// fatal for the process.
func (a *app) server(name string, announce func(), serve func() error, stop func(context.Context) error) *part {
	var done chan struct{}
	return &part{
		start: func(context.Context) error {
			announce()
			done = make(chan struct{})
			go func() {
				defer close(done)
				if err := serve(); err != nil {
					a.fail(fmt.Errorf("%s: %w", name, err))
				}
			}()
			return nil
		},
		stop: func(ctx context.Context) error {
			err := stop(ctx)
			if done != nil {
				<-done
			}
			return err
		},
	}
}

// run starts the components, serves until ctx ends or a component fails, then shuts
// down within the shutdown deadline: readiness drops, the listeners stop accepting and
// let requests in progress finish, the stream drains through the transform tier, the
// producers flush, the sinks close.
func (a *app) run(ctx context.Context) error {
	if err := a.parts.Start(ctx); err != nil {
		return errors.Join(err, a.meterProvider.Shutdown(context.WithoutCancel(ctx)))
	}
	a.log.Info("sluice started", "role", a.role, "stream", a.cfg.Stream.Kind, "data_dir", a.dataDir())
	select {
	case <-ctx.Done():
	case <-a.failed:
	}
	a.log.Info("shutting down", "deadline", a.cfg.Shutdown.Timeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.Shutdown.Timeout)
	defer cancel()
	err := a.shutdown(shutdownCtx)
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return errors.Join(a.runErr, err)
}

// shutdown shuts the components down, upstream first, then the metrics. It is safe
// whether or not they started, and safe twice.
func (a *app) shutdown(ctx context.Context) error {
	err := a.parts.Shutdown(ctx)
	if a.meterProvider != nil {
		if merr := a.meterProvider.Shutdown(ctx); merr != nil && !errors.Is(merr, sdkmetric.ErrReaderShutdown) {
			err = errors.Join(err, fmt.Errorf("stop metrics: %w", merr))
		}
	}
	return err
}

func (a *app) dataDir() string {
	if a.sink == nil {
		return ""
	}
	return a.cfg.Sink.File.Dir
}
