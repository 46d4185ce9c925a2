// Package lumberjack is the Beats/lumberjack v2 receiver of the gateway (step receive of
// the data path): Filebeat and the other Beats point output.logstash at it, and it feeds
// their events to gateway.Ingest.
//
// Each connection is served by one goroutine that reads a window, decodes its frames
// (compressed or not) into raw JSON documents in a per-connection buffer, without
// decoding them into maps, checks each document and drops its top-level @metadata, and
// calls Ingest. Contracts:
//
//   - Acknowledgement: a window is ACKed only after Ingest returned success for its
//     events, that is after every accepted event is durable in the stream. A window is
//     ingested in parts of at most 1 MiB or 2048 events, in order, and each durable part
//     is ACKed at once (a partial ACK), so memory per connection does not grow with the
//     window. Events Ingest rejects (invalid JSON, too large, a forbidden type) are
//     logged, counted and dropped: they are ACKed with their window, never resent.
//   - Backpressure: while Ingest waits for the stream, or is retried after an overloaded
//     or unavailable answer, the connection is not read, so TCP pushes back on the
//     client; a keepalive ACK (one that does not advance) is sent every
//     keepalive_interval so that the client does not time out and resend. A connection
//     that drops before its ACK loses nothing: the client resends what was not ACKed.
//   - Errors: the error kinds of Ingest map to an action in one table (actionOf):
//     retry the same events, or close the connection with a log line. Input that
//     breaks the protocol or a limit (window size, frame size, decompressed size,
//     timeouts) closes the connection with a log line and a count by kind.
//   - Authentication: lumberjack has no header for an API key; clients are
//     authenticated by mutual TLS (tls.client_auth: required), and every connection
//     acts as the principal "lumberjack", allowed the configured log types.
package lumberjack

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/internal/connserve"
)

// Ingester is what the receiver needs from the gateway core (*gateway.Gateway).
type Ingester interface {
	// Ingest checks, routes and produces a batch; it returns once every accepted event
	// is durable.
	Ingest(ctx context.Context, b gateway.Batch) (gateway.Result, error)
	// Limits bounds the batches: events per batch, bytes per event and in flight.
	Limits() gateway.Limits
	// Ready is false while the gateway drains: windows are then not retried.
	Ready() bool
}

// Options are the receiver's collaborators; nil fields get no-op defaults.
type Options struct {
	Logger *slog.Logger
	Meter  metric.Meter
	// DrainTimeout bounds how long Run lets windows in progress finish after its
	// context ends; 30s when zero.
	DrainTimeout time.Duration
	// WrapListener, when set, wraps the listener Listen binds; cmd/sluice counts the
	// connections against the process's connection budget with it (internal/netlimit).
	// The wrapper owns the listener it is given.
	WrapListener func(net.Listener) net.Listener
	// Fatal, if set, receives the error of a listener that fails after Start (the
	// process should stop then). Nil: Shutdown returns it.
	Fatal func(error)
}

// Sizes of a part of a window: one Ingest call. They bound a busy connection's memory.
const (
	partBytes  = 1 << 20
	partEvents = 2048
)

// principalName is the caller every lumberjack connection acts as.
const principalName = "lumberjack"

// Server is the lumberjack v2 listener. Create it with New, bind it with Listen (or let
// Run or Start do it), serve with Run, or from Start to Shutdown; Close stops it at
// once.
type Server struct {
	cfg       Config
	ing       Ingester
	log       *slog.Logger
	fatal     func(error)
	tls       *tls.Config
	metrics   *metrics
	drain     time.Duration
	lim       decodeLimits
	maxDepth  int // of an event's JSON (limits.max_depth)
	maxEvent  int
	partBytes int
	partEvts  int

	inflaters *sync.Pool
	parts     sync.Pool // *part

	// base is the context of every Ingest call, carrying the principal; it is
	// canceled when connections are closed by force.
	base   context.Context
	cancel context.CancelFunc

	// cs serves the listener and tracks the connections.
	cs   *connserve.Server
	open atomic.Int64 // live connections
}

// New returns a server that feeds ing. It loads the TLS certificates; it does not
// listen yet.
func New(ing Ingester, cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lumberjack config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Meter == nil {
		opts.Meter = noop.NewMeterProvider().Meter("")
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	tlsConf, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("lumberjack tls: %w", err)
	}
	if tlsConf != nil {
		tlsConf.MinVersion = max(tlsConf.MinVersion, tls.VersionTLS12)
	}
	limits := ing.Limits()
	s := &Server{
		cfg:   cfg,
		ing:   ing,
		log:   opts.Logger,
		fatal: opts.Fatal,
		tls:   tlsConf,
		drain: opts.DrainTimeout,
		lim: decodeLimits{
			maxWindow:  uint32(cfg.MaxWindowEvents),
			maxFrame:   uint32(cfg.MaxFrameBytes),
			maxDecoded: int64(cfg.MaxDecodedFrameBytes),
		},
		maxEvent:  int(limits.MaxEventBytes),
		maxDepth:  limits.Depth(),
		partBytes: int(min(partBytes, limits.MaxInflightBytes/2)),
		partEvts:  min(partEvents, limits.MaxBatchEvents),
		inflaters: newInflaterPool(),
	}
	s.partBytes = max(s.partBytes, 1)
	s.parts.New = func() any { return &part{arena: make([]byte, 0, 64<<10)} }
	s.metrics, err = newMetrics(opts.Meter, s.open.Load)
	if err != nil {
		return nil, err
	}
	principal := gateway.NewPrincipal(principalName, cfg.Types)
	s.base, s.cancel = context.WithCancel(gateway.WithPrincipal(context.Background(), principal))
	s.cs = connserve.NewServer(connserve.Config{
		Name:         "lumberjack",
		Addr:         cfg.Addr,
		Wrap:         opts.WrapListener,
		Log:          s.log,
		DrainTimeout: s.drain,
		DrainMessage: "lumberjack windows still in progress at the drain deadline, closing their connections",
		MaxConns:     cfg.MaxConnections,
		Open:         &s.open,
		NewConn:      func(nc net.Conn, id uint64) connserve.Conn { return newConn(s, nc, id) },
		Refused: func() {
			s.metrics.opened.Add(context.Background(), 1, s.metrics.attrs("result", "over_limit"))
		},
		Cancel: s.cancel,
	})
	return s, nil
}

// Listen binds the configured address, if Listen or Run has not yet.
func (s *Server) Listen() error {
	return s.cs.Listen()
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr { return s.cs.Addr() }

// TLS reports whether connections use TLS.
func (s *Server) TLS() bool { return s.tls != nil }

// Run serves connections until ctx ends. Then it stops accepting, closes idle
// connections, lets windows in progress finish (ingested and ACKed, or refused while
// the gateway drains) for at most Options.DrainTimeout, closes what is left and
// returns. It returns an error only if the listener fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.cs.Run(ctx)
}

// Close stops the server at once: the listener and every connection are closed, and
// Ingest calls in progress are canceled (their windows are not ACKed, so clients
// resend them). Run returns soon after.
func (s *Server) Close() error {
	s.cs.Close()
	return nil
}

// Start binds the configured address, if Listen has not, and serves in the background
// until Shutdown (not until ctx ends), as Run does; it logs the address it listens on.
func (s *Server) Start(ctx context.Context) error {
	if err := s.cs.Start(ctx, s.fatal); err != nil {
		return err
	}
	s.log.Info("lumberjack listening", "addr", s.Addr().String(), "tls", s.TLS())
	return nil
}

// Shutdown stops the server gracefully, as Run does when its context ends: it stops
// accepting, lets windows in progress finish (ingested and ACKed, or refused while the
// gateway drains) for at most Options.DrainTimeout, and waits for that until ctx ends;
// then it closes what is left (Close: those windows are not ACKed, and clients resend
// them). Without Start it closes the listener. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error { return s.cs.Shutdown(ctx) }
