package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/gateway/lumberjack"
	"github.com/sluice-siem/sluice/gateway/otlprecv"
	"github.com/sluice-siem/sluice/gateway/relp"
	"github.com/sluice-siem/sluice/gateway/syslog"
	"github.com/sluice-siem/sluice/internal/apidocs"
	"github.com/sluice-siem/sluice/internal/console"
	"github.com/sluice-siem/sluice/internal/httpserve"
	"github.com/sluice-siem/sluice/internal/netlimit"
	"github.com/sluice-siem/sluice/internal/ops"
	"github.com/sluice-siem/sluice/internal/secret"
	"github.com/sluice-siem/sluice/internal/tracing/provider"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/sink/archive"
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
	// tracer is the process's tracer provider (internal/tracing; no-op when off).
	tracer   *provider.Provider
	registry *promclient.Registry
	meter    metric.Meter

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
	// ui is the console (nil when off: ui.enabled false or no HTTP port).
	ui *uiConsole
}

// embeddedUsed returns the bytes the embedded stream holds, 0 without one.
func (a *app) embeddedUsed() int64 {
	if a.used == nil {
		return 0
	}
	return a.used()
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
	if a.tracer, err = provider.Setup(ctx, cfg.Tracing, "sluice-"+string(role), versionString(), a.meter); err != nil {
		return nil, err
	}
	if err := a.buildConsole(); err != nil {
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
			a.parts.add("consumer", a.consumer(s, transformer))
			// Shut down before the consumer: the stream drains through it.
			a.parts.add("embedded stream", s)
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
		a.parts.add("kinesis producer", p) // Shutdown flushes
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
	var gs *grpcrecv.Server
	if role != config.RoleTransform {
		if gw, gs, err = a.buildGateway(ctx, producer); err != nil {
			return nil, err
		}
	} else if cfg.HTTP.Addr != "" {
		if err := a.buildOps(); err != nil {
			return nil, err
		}
	}
	// Readiness is no component of its own: a step of the shutdown, adapted with part.
	a.parts.add("readiness", &part{stop: func(ctx context.Context) error {
		a.stopping.Store(true)
		a.ui.closeStreams() // the HTTP server drains next: a tap stream never ends by itself
		if gw == nil {
			return nil
		}
		gw.Drain()
		if gs != nil {
			gs.Drain() // every service NOT_SERVING
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
		a.parts.add("file sink", s)
	}
	var out transform.Sink = a.sink
	if cfg.Sink.EffectiveKind() == "search" {
		dead, err := buildDeadLetters(ctx, cfg, a.sink, log, a.meter)
		if err != nil {
			return nil, err
		}
		if dead.producer != nil {
			a.parts.add("dead-letter producer", dead.producer) // Shutdown flushes
		}
		s, err := buildSearchSink(ctx, cfg, dead.dest, log, a.meter)
		if err != nil {
			return nil, err
		}
		a.search = s
		// Its Start runs sluice's retention sweeper, where the engine has no ILM or ISM.
		a.parts.add("search sink", s)
		addrs := make([]string, len(cfg.Sink.Search.Addresses))
		for i, u := range cfg.Sink.Search.Addresses {
			addrs[i] = secret.RedactURL(u) // a URL may carry user:password
		}
		log.Info("search sink", "engine", cfg.Sink.Search.Engine, "addresses", addrs,
			"layout", cfg.Sink.Search.Layout, "dead_letters", dead.where, "lifecycle", s.Lifecycle())
		out = s
	}
	if cfg.Sink.Archive.Enabled() {
		// Beside the sink: a batch is acknowledged once both have it (archive.Tee).
		arch, err := buildArchive(ctx, cfg, log, a.meter)
		if err != nil {
			return nil, err
		}
		a.parts.add("archive", arch) // shut down after the consumer, which ends its objects
		out = archive.NewTee(out, arch)
	}
	var watch transform.Watcher
	if a.ui != nil {
		watch = a.ui
	}
	t, res, err := buildTransformer(ctx, cfg, out, log, a.meter, a.tracer.Tracer("github.com/sluice-siem/sluice/transform"), watch)
	if err != nil {
		return nil, err
	}
	if a.ui != nil {
		a.ui.enrich = res.Processor
	}
	a.parts.add("lookups", res) // Start reloads the files that change
	return t, nil
}

// consumer is the component that feeds the transformer from src while running: the
// embedded stream, or the consumer with shard leases (transform/consume) of the
// durable embedded stream or of Kinesis. An error that ends it fails the process.
func (a *app) consumer(src transform.Source, t *transform.Transformer) *transform.Consumer {
	return transform.NewConsumer(src, t, transform.ConsumerOptions{Fatal: a.fatal("consume")})
}

// fatal returns what a component reports the error that ends its running work with:
// the error, prefixed with what was being done, fails the process.
func (a *app) fatal(doing string) func(error) {
	return func(err error) { a.fail(fmt.Errorf("%s: %w", doing, err)) }
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
	dcfg := a.cfg.Stream.Embedded.DurableConfig(a.cfg.EmbeddedDir(), a.cfg.Gateway.StreamNames(), a.cfg.MaxRecordBytes())
	dcfg.Logger, dcfg.Meter = a.log.With("component", "embedded"), a.meter
	s, err := durable.Open(ctx, dcfg)
	if err != nil {
		return nil, fmt.Errorf("open embedded stream (stream.embedded.dir %s): %w", dcfg.Dir, err)
	}
	a.parts.add("embedded stream", s) // Shutdown closes it
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
	a.parts.add("consumer", a.consumer(c, t))
	// A graceful stop delivers what the stream holds first, for a while: what is left
	// stays on disk and is delivered at the next start. A step of the shutdown, not a
	// component (the stream itself is listed below the consumer): adapted with part.
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
	ecfg := a.cfg.Stream.Embedded.MemoryConfig(a.cfg.Gateway.StreamNames(), a.cfg.MaxRecordBytes())
	ecfg.Logger = a.log.With("component", "embedded")
	s, err := embedded.New(ecfg)
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

// buildKinesisConsumer wires step 4 for `sluice transform` on Kinesis: the lease
// table, the reader of the streams and the consumer that shares the shards with the
// other transform tasks, listed in that order, so that the reader and the table shut
// down once the consumer stopped.
func (a *app) buildKinesisConsumer(ctx context.Context, t *transform.Transformer) error {
	cfg := a.cfg
	ccfg := cfg.Stream.Consumer
	if len(ccfg.Streams) == 0 {
		// The gateway's streams, and those other producers write (CloudWatch Logs
		// subscriptions), which are declared to be read.
		ccfg.Streams = cfg.Gateway.StreamNames()
		for _, name := range slices.Sorted(maps.Keys(cfg.Stream.Kinesis.Sources)) {
			if !slices.Contains(ccfg.Streams, name) {
				ccfg.Streams = append(ccfg.Streams, name)
			}
		}
	}
	var store consume.LeaseStore
	switch cfg.Stream.Leases.Store {
	case "memory":
		a.log.Warn("stream.leases.store is memory: this worker shares no shards with others and forgets its checkpoints when it stops")
		store = consume.NewMemoryStore()
	default:
		table, err := leases.New(ctx, cfg.Stream.Leases.DynamoDB)
		if err != nil {
			return fmt.Errorf("open lease table: %w", err)
		}
		a.parts.add("lease table", table)
		store = table
	}
	reader, err := kinesis.NewReader(ctx, cfg.Stream.Kinesis, kinesis.Options{Logger: a.log.With("component", "kinesis"), Tracer: a.tracer.Tracer("github.com/sluice-siem/sluice/stream/kinesis")})
	if err != nil {
		return fmt.Errorf("create kinesis reader: %w", err)
	}
	a.parts.add("kinesis reader", reader)
	c, err := consume.New(ccfg, store, reader, consume.Options{Logger: a.log.With("component", "consume"), Meter: a.meter})
	if err != nil {
		return fmt.Errorf("create kinesis consumer: %w", err)
	}
	a.log.Info("kinesis consumer", "worker", c.WorkerID(), "streams", ccfg.Streams, "lease_store", cfg.Stream.Leases.Store)
	a.parts.add("kinesis consumer", a.consumer(c, t))
	return nil
}

// buildGateway wires the front tier: the core and its receivers (lumberjack, gRPC,
// HTTP), each listening already. It returns the gRPC server (nil without one), whose
// health service readiness drains.
func (a *app) buildGateway(ctx context.Context, producer gateway.Producer) (*gateway.Gateway, *grpcrecv.Server, error) {
	cfg := a.cfg
	gcfg := cfg.Gateway
	gcfg.Limits.MaxDepth = cfg.Limits.MaxDepth // limits.max_depth, which the transform tier shares
	gopts := gateway.Options{Logger: a.log.With("component", "gateway"), Meter: a.meter,
		Tracer: a.tracer.Tracer("github.com/sluice-siem/sluice/gateway")}
	if a.ui != nil {
		gopts.Watch = a.ui
	}
	gw, err := gateway.New(gcfg, producer, gopts)
	if err != nil {
		return nil, nil, err
	}
	if !gw.AuthEnabled() {
		a.log.Warn("api key authentication is off: anyone who reaches the listeners can send events", "role", a.role)
	}
	svc := grpcrecv.New(gw, cfg.GRPC, grpcrecv.Options{Logger: a.log.With("component", "grpc")})
	otlp := otlprecv.New(gw, cfg.OTLP, a.log.With("component", "otlp"))
	if cfg.HTTP.Addr != "" {
		push, err := svc.RESTHandler(ctx)
		if err != nil {
			return nil, nil, err
		}
		var bulk *httprecv.Bulk
		if cfg.Bulk.Enabled {
			bulk = &cfg.Bulk
		}
		ui, err := a.consoleHandler(gw)
		if err != nil {
			return nil, nil, err
		}
		handler, err := httprecv.New(gw, httprecv.Options{
			Push:     push,
			OTLPLogs: otlp.HTTPHandler(),
			Metrics:  promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
			OpenAPI:  sluicev1.OpenAPIDocument,
			Docs:     apidocs.Handler("/openapi.json"),
			Logger:   a.log.With("component", "http"),
			Bulk:     bulk,
			Meter:    a.meter,
			Console:  ui,
		})
		if err != nil {
			return nil, nil, err
		}
		if err := a.addHTTP(handler, cfg.HTTP.ReadTimeout); err != nil {
			return nil, nil, err
		}
	}
	var gs *grpcrecv.Server
	if cfg.GRPC.Addr != "" {
		if gs, err = a.addGRPC(svc, otlp); err != nil {
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
	return gw, gs, nil
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
		Fatal:        a.fatal("serve relp"),
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	a.relpSrv = srv
	a.parts.add("relp", srv)
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
		Fatal:        a.fatal("serve syslog"),
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	a.syslogSrv = srv
	a.parts.add("syslog", srv)
	return nil
}

// buildOps serves what operators and orchestrators need from the transform role on
// the HTTP address: /healthz, /readyz (503 once shutdown begins) and /metrics.
func (a *app) buildOps() error {
	opsHandler := ops.New(func() bool { return !a.stopping.Load() }, promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	ui, err := a.consoleHandler(nil)
	if err != nil || ui == nil {
		return errors.Join(err, a.addHTTP(opsHandler, 0))
	}
	mux := http.NewServeMux()
	mux.Handle(console.Path, ui)
	mux.Handle(console.Path+"/", ui)
	mux.Handle("/", opsHandler)
	return a.addHTTP(mux, 0)
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
	ln, err := a.conns.Listen("http", cfg.Addr, cfg.MaxConnections)
	if err != nil {
		return fmt.Errorf("listen http on %s: %w", cfg.Addr, err)
	}
	a.httpLn = ln
	a.parts.add("http", httpserve.New(ln, handler, httpserve.Options{
		Name:        "http",
		TLS:         tlsConf,
		ReadTimeout: readTimeout,
		IdleTimeout: cfg.IdleTimeout,
		Logger:      a.log.With("component", "http"),
		Fatal:       a.fatal("serve http"),
	}))
	return nil
}

// addGRPC listens on grpc.addr and lists the gRPC server of svc, with the standard
// health service (drained by readiness) and reflection: it serves from Start;
// Shutdown lets calls in progress finish (stopping the rest when its context ends).
func (a *app) addGRPC(svc *grpcrecv.Service, otlp *otlprecv.Receiver) (*grpcrecv.Server, error) {
	cfg := a.cfg.GRPC
	tlsConf, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("grpc: %w", err)
	}
	ln, err := a.conns.Listen("grpc", cfg.Addr, cfg.MaxConnections)
	if err != nil {
		return nil, fmt.Errorf("listen grpc on %s: %w", cfg.Addr, err)
	}
	a.grpcLn = ln
	srv := grpcrecv.NewServer(svc, ln, grpcrecv.ServerOptions{
		TLS:      tlsConf,
		Logger:   a.log.With("component", "grpc"),
		Fatal:    a.fatal("serve grpc"),
		Services: []grpcrecv.ExtraService{otlp.GRPCService()},
	})
	a.parts.add("grpc", srv)
	return srv, nil
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
		Fatal:        a.fatal("serve lumberjack"),
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	a.ljSrv = srv
	a.parts.add("lumberjack", srv)
	return nil
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
	if terr := a.tracer.Shutdown(ctx); terr != nil { // the last spans
		err = errors.Join(err, fmt.Errorf("stop tracing: %w", terr))
	}
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
