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
	"github.com/sluice-siem/sluice/internal/netlimit"
	"github.com/sluice-siem/sluice/internal/ops"
	"github.com/sluice-siem/sluice/internal/secret"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/stream/discard"
	"github.com/sluice-siem/sluice/stream/embedded"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/leases"
	"github.com/sluice-siem/sluice/transform"
	"github.com/sluice-siem/sluice/transform/consume"
	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// app is one sluice process, wired in the order of the data path:
// receive (HTTP, gRPC, lumberjack) -> route and produce (gateway) -> stream -> consume and
// transform -> sink.
type app struct {
	cfg  config.Config
	role config.Role
	log  *slog.Logger

	meterProvider *sdkmetric.MeterProvider
	registry      *promclient.Registry

	// producer is where the gateway puts records: the embedded stream, or Kinesis.
	producer gateway.Producer
	// stream is the embedded stream (dev), which the transform tier also consumes.
	stream *embedded.Stream
	// kinesis is the Kinesis producer of the gateway role, flushed on shutdown.
	kinesis *kinesis.Producer
	gateway *gateway.Gateway
	health  *health.Server

	// conns bounds the connections of every listener: each listener's cap, and one
	// budget of file descriptors they all share.
	conns          *netlimit.Group
	httpLn, grpcLn net.Listener
	httpSrv        *http.Server
	grpcSrv        *grpc.Server

	// ljSrv is the Beats/lumberjack receiver; ljStop ends its Run, which closes ljDone.
	ljSrv  *lumberjack.Server
	ljStop context.CancelFunc
	ljDone chan struct{}

	// consumer delivers the stream's records to the transformer: the embedded stream,
	// or the Kinesis consumer with shard leases (transform/consume) of `sluice
	// transform`, whose reader and lease table are closed after it stops.
	consumer interface {
		Consume(context.Context, consume.Handler) error
	}
	reader *kinesis.Reader
	leases *leases.Store

	transformer *transform.Transformer
	// stopping is set when shutdown begins (readiness of the transform role).
	stopping atomic.Bool
	// resources are the lookups of the enrichment processors, reloaded while running.
	resources *enrich.Resources
	// sink is the file sink: the destination of `sluice dev` and, with sink.kind
	// search, of dead letters.
	sink *file.Sink
	// search is the Elasticsearch/OpenSearch sink, with sink.kind search.
	search *search.Sink
	// deadProducer puts the search sink's dead letters into the Kinesis dead-letter
	// stream (sink.dead_letters.kind kinesis); it is flushed after the search sink.
	deadProducer *kinesis.Producer

	// parts are the parts above that hold resources, downstream first (see addParts):
	// a failed newApp and the end of shutdown close them through this one list.
	parts lifecycle
}

// newApp builds the process and binds its listeners, so that a bad address fails
// before anything runs and tests can read the bound addresses.
func newApp(ctx context.Context, cfg config.Config, role config.Role, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, role: role, log: log}
	a.addParts()
	defer func() {
		if err != nil {
			a.closeListeners()
			_ = a.parts.Shutdown(ctx) // what was built
		}
	}()

	// Metrics: the OpenTelemetry SDK, exported in the Prometheus format on /metrics.
	a.registry = promclient.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(a.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("create metrics exporter: %w", err)
	}
	a.meterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	meter := a.meterProvider.Meter("github.com/sluice-siem/sluice")

	// Connection limits: every listener's own cap, and a budget of connections all
	// listeners share, from the file-descriptor limit, so that a flood on one port
	// cannot take the descriptors the other listeners and the outbound connections need.
	budget, nofile, err := netlimit.FDBudget()
	if err != nil {
		log.Warn("no connection budget, only each listener's max_connections", "err", err)
	}
	a.conns, err = netlimit.NewGroup(netlimit.GroupOptions{Budget: budget, Logger: log.With("component", "listener"), Meter: meter})
	if err != nil {
		return nil, err
	}
	if budget > 0 {
		log.Info("connection budget of all listeners", "connections", budget, "nofile", nofile)
	}

	// The stream between the tiers.
	switch cfg.Stream.Kind {
	case "embedded":
		a.stream, err = embedded.New(embedded.Config{
			Streams:        cfg.Gateway.StreamNames(),
			Shards:         cfg.Stream.Embedded.Shards,
			MaxBytes:       int64(cfg.Stream.Embedded.MaxBytes),
			MaxRecordBytes: int(cfg.Gateway.Limits.MaxEventBytes) + 4096,
			Logger:         log.With("component", "embedded"),
		})
		if err != nil {
			return nil, fmt.Errorf("create embedded stream: %w", err)
		}
		if err := a.streamMetrics(meter); err != nil {
			return nil, err
		}
		a.producer = a.stream
		a.consumer = a.stream
	case "kinesis":
		if role == config.RoleTransform {
			if err := a.buildConsumer(ctx, meter); err != nil {
				return nil, err
			}
			break
		}
		a.kinesis, err = kinesis.New(ctx, cfg.Stream.Kinesis, kinesis.Options{Logger: log.With("component", "kinesis"), Meter: meter})
		if err != nil {
			return nil, fmt.Errorf("create kinesis producer: %w", err)
		}
		a.producer = a.kinesis
	case "discard":
		// A benchmark tool (gateway role only): the receivers alone, every record dropped.
		log.Warn("stream.kind is discard: every event is acknowledged and dropped (a benchmark tool, never for real traffic)")
		a.producer = discard.New()
	default:
		return nil, fmt.Errorf("unknown stream.kind %q", cfg.Stream.Kind)
	}

	if role != config.RoleTransform {
		if err := a.buildGateway(ctx, meter); err != nil {
			return nil, err
		}
	} else if cfg.HTTP.Addr != "" {
		if err := a.buildOps(); err != nil {
			return nil, err
		}
	}
	if role != config.RoleGateway {
		// The pipelines compile first, so that a mistake in one fails the start before
		// anything is opened. The sample pipelines bring the sample lookups they enrich
		// with (lookupsConfig).
		a.resources, err = enrich.NewResources(ctx, lookupsConfig(cfg), log.With("component", "enrich"), meter)
		if err != nil {
			return nil, fmt.Errorf("open lookups: %w", err)
		}
		var pipes *pipeline.Set
		pipes, err = buildPipelines(cfg, pipeline.Deps{Logger: log.With("component", "pipeline"), Meter: meter, Enrich: a.resources.Processor})
		if err != nil {
			return nil, fmt.Errorf("build pipelines: %w", err)
		}
		// The file sink (and its directory) exists only where it is written to: the
		// file sink itself, or dead letters in files.
		if cfg.Sink.UsesFiles() {
			fcfg := cfg.Sink.File
			fcfg.Logger = log.With("component", "file")
			a.sink, err = file.New(fcfg)
			if err != nil {
				return nil, fmt.Errorf("create file sink: %w", err)
			}
		}
		var out transform.Sink
		if cfg.Sink.EffectiveKind() != "search" {
			out = a.sink
		} else {
			var dead search.DeadLetters
			var deadWhere string
			dead, deadWhere, err = a.buildDeadLetters(ctx, meter)
			if err == nil {
				a.search, err = search.New(ctx, cfg.Sink.Search, search.Options{
					DeadLetters: dead, Logger: log.With("component", "search"), Meter: meter,
				})
				if err != nil {
					err = fmt.Errorf("create search sink: %w", err)
				}
			}
			if err != nil {
				return nil, err
			}
			addrs := make([]string, len(cfg.Sink.Search.Addresses))
			for i, u := range cfg.Sink.Search.Addresses {
				addrs[i] = secret.RedactURL(u) // a URL may carry user:password
			}
			a.log.Info("search sink", "engine", cfg.Sink.Search.Engine, "addresses", addrs,
				"layout", cfg.Sink.Search.Layout, "dead_letters", deadWhere, "lifecycle", a.search.Lifecycle())
			out = a.search
		}
		a.transformer, err = transform.New(out, transform.Options{Logger: log.With("component", "transform"), Meter: meter, Pipelines: pipes,
			MaxDepth: cfg.Limits.MaxDepth})
		if err != nil {
			return nil, fmt.Errorf("create transformer: %w", err)
		}
	}
	return a, nil
}

// addParts lists the parts newApp may build, downstream first: the file sink, the
// dead-letter producer, the search sink, the lookups, the Kinesis consumer's reader and
// lease table, the gateway's Kinesis producer. Shutting the list down closes (and
// flushes) each part that was built, upstream first; a part not built is skipped.
func (a *app) addParts() {
	a.parts.add("file sink", &part{stop: func(context.Context) error {
		if a.sink == nil {
			return nil
		}
		return a.sink.Close()
	}})
	a.parts.add("dead letters", &part{stop: a.closeDeadLetters})
	a.parts.add("search sink", &part{stop: func(context.Context) error {
		if a.search == nil {
			return nil
		}
		return a.search.Close()
	}})
	a.parts.add("lookups", &part{stop: func(context.Context) error {
		if a.resources != nil {
			a.resources.Close()
		}
		return nil
	}})
	a.parts.add("kinesis consumer", &part{stop: func(context.Context) error {
		a.closeConsumer()
		return nil
	}})
	a.parts.add("kinesis producer", &part{stop: func(ctx context.Context) error {
		if a.kinesis == nil {
			return nil
		}
		if err := a.kinesis.Close(ctx); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		return nil
	}})
}

// buildDeadLetters makes the search sink's dead-letter destination
// (sink.dead_letters): the Kinesis dead-letter stream, which must exist, or the file
// sink. where names it for the log.
func (a *app) buildDeadLetters(ctx context.Context, meter metric.Meter) (_ search.DeadLetters, where string, err error) {
	cfg := a.cfg
	if cfg.Sink.DeadLetters.Kind == "file" {
		return a.sink, deadletter.Dir(cfg.Sink.File.Dir), nil
	}
	name := cfg.Sink.DeadLetters.Stream
	kopts := kinesis.Options{Logger: a.log.With("component", "kinesis", "stream", name), Meter: meter}
	// A missing stream fails the start rather than the first refused document. The
	// consumer's reader (sluice transform) can list its shards; otherwise one is made
	// for the check.
	r := a.reader
	if r == nil {
		if r, err = kinesis.NewReader(ctx, cfg.Stream.Kinesis, kopts); err != nil {
			return nil, "", fmt.Errorf("create dead-letter stream reader: %w", err)
		}
		defer r.Close()
	}
	if _, err = r.Shards(ctx, name); err != nil {
		return nil, "", fmt.Errorf("check dead-letter stream (sink.dead_letters.stream): %w", err)
	}
	a.deadProducer, err = kinesis.New(ctx, cfg.Stream.Kinesis, kopts)
	if err != nil {
		return nil, "", fmt.Errorf("create dead-letter producer: %w", err)
	}
	k, err := deadletter.NewKinesis(a.deadProducer, name, deadletter.KinesisOptions{
		MaxRecordBytes: int(cfg.Stream.Kinesis.MaxRecordBytes), Logger: a.log.With("component", "deadletter"), Meter: meter,
	})
	if err != nil {
		return nil, "", err
	}
	return k, "kinesis:" + name, nil
}

// closeDeadLetters flushes and closes the dead-letter producer, if there is one.
func (a *app) closeDeadLetters(ctx context.Context) error {
	if a.deadProducer == nil {
		return nil
	}
	p := a.deadProducer
	a.deadProducer = nil
	if err := p.Close(ctx); err != nil {
		return fmt.Errorf("flush dead-letter producer: %w", err)
	}
	return nil
}

// buildConsumer wires step 4 for `sluice transform` on Kinesis: the reader of the
// streams, the lease table and the consumer that shares the shards with the other
// transform tasks.
func (a *app) buildConsumer(ctx context.Context, meter metric.Meter) (err error) {
	cfg := a.cfg
	ccfg := cfg.Stream.Consumer
	if len(ccfg.Streams) == 0 {
		ccfg.Streams = cfg.Gateway.StreamNames()
	}
	var store consume.LeaseStore
	switch cfg.Stream.Leases.Store {
	case "memory":
		a.log.Warn("stream.leases.store is memory: this worker shares no shards with others and forgets its checkpoints when it stops")
		store = consume.NewMemoryStore()
	default:
		a.leases, err = leases.New(ctx, cfg.Stream.Leases.DynamoDB)
		if err != nil {
			return fmt.Errorf("open lease table: %w", err)
		}
		store = a.leases
	}
	a.reader, err = kinesis.NewReader(ctx, cfg.Stream.Kinesis, kinesis.Options{Logger: a.log.With("component", "kinesis")})
	if err != nil {
		a.closeConsumer()
		return fmt.Errorf("create kinesis reader: %w", err)
	}
	c, err := consume.New(ccfg, store, a.reader, consume.Options{Logger: a.log.With("component", "consume"), Meter: meter})
	if err != nil {
		a.closeConsumer()
		return fmt.Errorf("create kinesis consumer: %w", err)
	}
	a.log.Info("kinesis consumer", "worker", c.WorkerID(), "streams", ccfg.Streams, "lease_store", cfg.Stream.Leases.Store)
	a.consumer = c
	return nil
}

// closeConsumer closes the Kinesis reader and the lease table, once nothing uses them.
func (a *app) closeConsumer() {
	if a.reader != nil {
		a.reader.Close()
	}
	if a.leases != nil {
		a.leases.Close()
	}
}

func (a *app) streamMetrics(meter metric.Meter) error {
	_, err := meter.Int64ObservableGauge("sluice_stream_used_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes held in the embedded stream, not yet acknowledged by the transform tier."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(a.stream.Used())
			return nil
		}))
	if err != nil {
		return fmt.Errorf("create stream metrics: %w", err)
	}
	return nil
}

// buildGateway wires the front tier: the core and its HTTP and gRPC receivers.
func (a *app) buildGateway(ctx context.Context, meter metric.Meter) error {
	cfg := a.cfg
	var err error
	gcfg := cfg.Gateway
	gcfg.Limits.MaxDepth = cfg.Limits.MaxDepth // limits.max_depth, which the transform tier shares
	a.gateway, err = gateway.New(gcfg, a.producer, gateway.Options{Logger: a.log.With("component", "gateway"), Meter: meter})
	if err != nil {
		return err
	}
	if !a.gateway.AuthEnabled() {
		a.log.Warn("api key authentication is off: anyone who reaches the listeners can send events", "role", a.role)
	}
	if cfg.Lumberjack.Addr != "" {
		a.ljSrv, err = lumberjack.New(a.gateway, cfg.Lumberjack, lumberjack.Options{
			Logger:       a.log.With("component", "lumberjack"),
			Meter:        meter,
			DrainTimeout: cfg.Shutdown.Timeout,
			// lumberjack.max_connections is the receiver's own (counted and logged as
			// over_limit); the listener shares the process's budget.
			WrapListener: func(ln net.Listener) net.Listener { return a.conns.Wrap("lumberjack", ln, 0) },
		})
		if err != nil {
			return err
		}
		if err := a.ljSrv.Listen(); err != nil {
			return err
		}
	}

	svc := grpcrecv.New(a.gateway, cfg.GRPC, grpcrecv.Options{Logger: a.log.With("component", "grpc")})
	if cfg.GRPC.Addr != "" {
		opts := svc.ServerOptions()
		tlsConf, err := cfg.GRPC.TLS.Load()
		if err != nil {
			return fmt.Errorf("grpc: %w", err)
		}
		if tlsConf != nil {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf)))
		}
		a.grpcSrv = grpc.NewServer(opts...)
		svc.Register(a.grpcSrv)
		a.health = health.NewServer()
		a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		a.health.SetServingStatus(sluicev1.IngestService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(a.grpcSrv, a.health)
		reflection.Register(a.grpcSrv)
		if a.grpcLn, err = a.conns.Listen("grpc", cfg.GRPC.Addr, cfg.GRPC.MaxConnections); err != nil {
			return fmt.Errorf("listen grpc on %s: %w", cfg.GRPC.Addr, err)
		}
	}
	if cfg.HTTP.Addr != "" {
		push, err := svc.RESTHandler(ctx)
		if err != nil {
			return err
		}
		var bulk *httprecv.Bulk
		if cfg.Bulk.Enabled {
			bulk = &cfg.Bulk
		}
		handler, err := httprecv.New(a.gateway, httprecv.Options{
			Push:    push,
			Metrics: promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}),
			OpenAPI: sluicev1.OpenAPIDocument,
			Logger:  a.log.With("component", "http"),
			Bulk:    bulk,
			Meter:   meter,
		})
		if err != nil {
			return err
		}
		tlsConf, err := cfg.HTTP.TLS.Load()
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		a.httpSrv = &http.Server{
			Handler:           handler,
			TLSConfig:         tlsConf,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       cfg.HTTP.ReadTimeout,
			IdleTimeout:       cfg.HTTP.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		}
		if a.httpLn, err = a.conns.Listen("http", cfg.HTTP.Addr, cfg.HTTP.MaxConnections); err != nil {
			return fmt.Errorf("listen http on %s: %w", cfg.HTTP.Addr, err)
		}
	}
	return nil
}

// buildOps serves what operators and orchestrators need from the transform role on
// the HTTP address: /healthz, /readyz (503 once shutdown begins) and /metrics.
func (a *app) buildOps() error {
	h := ops.New(func() bool { return !a.stopping.Load() }, promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	tlsConf, err := a.cfg.HTTP.TLS.Load()
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	a.httpSrv = &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       a.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if a.httpLn, err = a.conns.Listen("http", a.cfg.HTTP.Addr, a.cfg.HTTP.MaxConnections); err != nil {
		return fmt.Errorf("listen http on %s: %w", a.cfg.HTTP.Addr, err)
	}
	return nil
}

func (a *app) closeListeners() {
	for _, ln := range []net.Listener{a.httpLn, a.grpcLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	if a.ljSrv != nil {
		_ = a.ljSrv.Close()
	}
}

// run serves until ctx ends, then shuts down in data-path order within the shutdown
// deadline: stop accepting (readiness drops first), let in-flight requests finish,
// drain the stream through the transform tier, flush and close the sink.
func (a *app) run(ctx context.Context) error {
	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		runErr  error
		failed  = make(chan struct{})
		failOne sync.Once
	)
	fail := func(err error) {
		errMu.Lock()
		runErr = errors.Join(runErr, err)
		errMu.Unlock()
		failOne.Do(func() { close(failed) })
	}

	consumeCtx, stopConsume := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsume()
	consumed := make(chan struct{})
	if a.transformer != nil {
		go func() {
			defer close(consumed)
			if err := a.consumer.Consume(consumeCtx, a.transformer.Handle); err != nil {
				fail(fmt.Errorf("consume: %w", err))
			}
		}()
		// Reloads of the lookup files run as long as the consumer does.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.resources.Run(consumeCtx); err != nil {
				fail(fmt.Errorf("reload lookups: %w", err))
			}
		}()
		if a.search != nil {
			// Rollover and retention by sluice's sweeper, where the engine has no ILM
			// or ISM (it returns at once otherwise); it stops with the consumer.
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.search.RunLifecycle(consumeCtx); err != nil {
					fail(fmt.Errorf("search lifecycle: %w", err))
				}
			}()
		}
	} else {
		close(consumed)
	}
	if a.httpSrv != nil {
		a.log.Info("http listening", "addr", a.httpLn.Addr().String(), "tls", a.httpSrv.TLSConfig != nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if a.httpSrv.TLSConfig != nil {
				err = a.httpSrv.ServeTLS(a.httpLn, "", "")
			} else {
				err = a.httpSrv.Serve(a.httpLn)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("serve http: %w", err))
			}
		}()
	}
	if a.grpcSrv != nil {
		a.log.Info("grpc listening", "addr", a.grpcLn.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.grpcSrv.Serve(a.grpcLn); err != nil {
				fail(fmt.Errorf("serve grpc: %w", err))
			}
		}()
	}
	if a.ljSrv != nil {
		ljCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		a.ljStop, a.ljDone = stop, make(chan struct{})
		a.log.Info("lumberjack listening", "addr", a.ljSrv.Addr().String(), "tls", a.ljSrv.TLS())
		go func() {
			defer close(a.ljDone)
			if err := a.ljSrv.Run(ljCtx); err != nil {
				fail(fmt.Errorf("serve lumberjack: %w", err))
			}
		}()
	}
	a.log.Info("sluice started", "role", a.role, "stream", a.cfg.Stream.Kind, "data_dir", a.dataDir())

	select {
	case <-ctx.Done():
	case <-failed:
	}
	a.log.Info("shutting down", "deadline", a.cfg.Shutdown.Timeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.Shutdown.Timeout)
	defer cancel()
	err := a.shutdown(shutdownCtx, func() { stopConsume(); <-consumed })
	wg.Wait()
	errMu.Lock()
	defer errMu.Unlock()
	return errors.Join(runErr, err)
}

// shutdown stops the process's parts in data-path order; stopConsume ends the
// consumer and returns once no handler runs.
func (a *app) shutdown(ctx context.Context, stopConsume func()) error {
	var errs []error
	a.stopping.Store(true)
	if a.gateway != nil {
		a.gateway.Drain()
		if a.health != nil {
			a.health.Shutdown() // every service NOT_SERVING
		}
		select {
		case <-time.After(a.cfg.Shutdown.DrainDelay):
		case <-ctx.Done():
		}
	}
	httpStopped := make(chan error, 1)
	if a.httpSrv != nil {
		go func() {
			err := a.httpSrv.Shutdown(ctx)
			if err != nil {
				_ = a.httpSrv.Close()
				err = fmt.Errorf("stop http: %w", err)
			}
			httpStopped <- err
		}()
	} else {
		httpStopped <- nil
	}
	if a.ljSrv != nil {
		a.ljStop() // stops accepting; windows in progress finish (or are refused while draining)
	}
	if a.grpcSrv != nil {
		stopped := make(chan struct{})
		go func() { a.grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			a.grpcSrv.Stop()
			<-stopped
		}
	}
	if a.ljSrv != nil {
		select {
		case <-a.ljDone:
		case <-ctx.Done():
			_ = a.ljSrv.Close()
			<-a.ljDone
		}
	}
	if err := <-httpStopped; err != nil {
		errs = append(errs, err)
	}

	// The embedded stream is drained through the transform tier (in dev, whose stream
	// has no Kinesis producer to flush), then the consumer stops.
	if a.transformer != nil && a.stream != nil {
		if err := a.stream.WaitEmpty(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drain stream (events not yet written are lost with the embedded stream): %w", err))
		}
	}
	stopConsume()
	// The gateway's Kinesis producer is flushed, then the consumer's reader and leases,
	// the lookups and the sinks are closed, upstream first.
	if err := a.parts.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.meterProvider.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop metrics: %w", err))
	}
	return errors.Join(errs...)
}

func (a *app) dataDir() string {
	if a.sink == nil {
		return ""
	}
	return a.cfg.Sink.File.Dir
}
