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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/sluice-siem/sluice/gateway"
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
}

// Sizes of a part of a window: one Ingest call. They bound a busy connection's memory.
const (
	partBytes  = 1 << 20
	partEvents = 2048
)

// principalName is the caller every lumberjack connection acts as.
const principalName = "lumberjack"

// Server is the lumberjack v2 listener. Create it with New, bind it with Listen (or let
// Run do it), serve with Run; Close stops it at once.
type Server struct {
	cfg       Config
	ing       Ingester
	log       *slog.Logger
	tls       *tls.Config
	metrics   *metrics
	drain     time.Duration
	wrap      func(net.Listener) net.Listener
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

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*conn]struct{}
	wg     sync.WaitGroup
	nextID uint64
	open   atomic.Int64
	// stopping is set once: no new connections; connections end after their window.
	stopping atomic.Bool
	// quit is closed when stopping is set.
	quit chan struct{}

	lastOverLimitLog atomic.Int64 // unix nanoseconds
	overLimit        atomic.Int64 // connections refused since the last log line
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
		tls:   tlsConf,
		drain: opts.DrainTimeout,
		wrap:  opts.WrapListener,
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
		conns:     map[*conn]struct{}{},
		quit:      make(chan struct{}),
	}
	s.partBytes = max(s.partBytes, 1)
	s.parts.New = func() any { return &part{arena: make([]byte, 0, 64<<10)} }
	s.metrics, err = newMetrics(opts.Meter, s.open.Load)
	if err != nil {
		return nil, err
	}
	principal := gateway.NewPrincipal(principalName, cfg.Types)
	s.base, s.cancel = context.WithCancel(gateway.WithPrincipal(context.Background(), principal))
	return s, nil
}

// Listen binds the configured address, if Listen or Run has not yet.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	if s.stopping.Load() {
		return errors.New("lumberjack server is closed")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen lumberjack on %s: %w", s.cfg.Addr, err)
	}
	if s.wrap != nil {
		ln = s.wrap(ln)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

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
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	accepted := make(chan error, 1)
	go func() { accepted <- s.accept(ln) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-accepted:
		accepted <- nil
	}
	s.stop()
	<-accepted // the accept loop ends once the listener is closed

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	timer := time.NewTimer(s.drain)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.log.Warn("lumberjack windows still in progress at the drain deadline, closing their connections", "deadline", s.drain)
		s.closeConns()
		s.cancel()
		<-done
	}
	s.cancel()
	return err
}

// Close stops the server at once: the listener and every connection are closed, and
// Ingest calls in progress are canceled (their windows are not ACKed, so clients
// resend them). Run returns soon after.
func (s *Server) Close() error {
	s.stop()
	s.closeConns()
	s.cancel()
	return nil
}

// stop closes the listener and makes connections end after their current window;
// connections waiting for a window end now.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopping.Load() {
		s.stopping.Store(true)
		close(s.quit)
		if s.ln != nil {
			_ = s.ln.Close()
		}
	}
	for c := range s.conns {
		c.interruptIdle()
	}
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.raw.Close()
	}
}

// accept runs the accept loop until the listener is closed.
func (s *Server) accept(ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.stopping.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				// Out of file descriptors and the like: wait and try again.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept lumberjack connection", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.quit:
				}
				continue
			}
			return fmt.Errorf("accept lumberjack connection: %w", err)
		}
		backoff = 0
		s.serve(nc)
	}
}

// serve starts a connection's goroutine, or closes it at once when the server is full
// or stopping.
func (s *Server) serve(nc net.Conn) {
	s.mu.Lock()
	if s.stopping.Load() || len(s.conns) >= s.cfg.MaxConnections {
		full := !s.stopping.Load()
		s.mu.Unlock()
		if full { // counted before the close, so the count is there when the client sees it
			s.metrics.opened.Add(context.Background(), 1, s.metrics.attrs("result", "over_limit"))
			s.logOverLimit(nc.RemoteAddr())
		}
		_ = nc.Close()
		return
	}
	s.nextID++
	c := newConn(s, nc, s.nextID)
	s.conns[c] = struct{}{}
	s.open.Add(1)
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			s.open.Add(-1)
		}()
		c.serve()
	}()
}

// logOverLimit logs refused connections, at most once every 10 seconds with the count
// since the last line, so that a connection flood does not flood the log.
func (s *Server) logOverLimit(remote net.Addr) {
	n := s.overLimit.Add(1)
	now := time.Now().UnixNano()
	last := s.lastOverLimitLog.Load()
	if now-last < int64(10*time.Second) || !s.lastOverLimitLog.CompareAndSwap(last, now) {
		return
	}
	s.overLimit.Add(-n)
	s.log.Warn("lumberjack connection refused: lumberjack.max_connections reached",
		"max_connections", s.cfg.MaxConnections, "remote", remote.String(), "refused", n)
}
