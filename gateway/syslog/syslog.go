// Package syslog is the syslog receiver of the gateway (step receive of the data
// path): RFC 5424 and RFC 3164 (BSD) messages over plain TCP and TLS (RFC 6587
// framing, RFC 5425) and over UDP (RFC 5426), as firewalls, IDS sensors, network
// devices and rsyslog or syslog-ng relays send them. Each message becomes one event
// (Parser: the raw line as message, the header as ECS log.syslog.* fields, a log type
// by rules) handed to gateway.Ingest in batches.
//
// Contracts:
//
//   - Framing: each TCP connection's first byte chooses octet counting (a digit 1-9)
//     or LF-delimited lines (anything else). Every message is bounded by
//     max_message_bytes before it is parsed: an octet count above it closes the
//     connection (the framing cannot resynchronise) with a log line and a count; a
//     longer line is discarded up to its LF, without being buffered, and counted.
//   - Backpressure: a connection reads messages into a batch (up to batch_events,
//     batch_bytes and the gateway's limits; ingested as soon as a read leaves nothing
//     more at hand, or after batch_linger) and calls Ingest synchronously, so a slow
//     stream stops the reading and TCP pushes back on the sender. While Ingest runs
//     the socket fills, so batches grow with the load by themselves.
//   - Delivery: plain syslog has no acknowledgement, so a batch the gateway refuses as
//     a whole with a retryable kind (overloaded, unavailable) is retried with a capped
//     backoff, never dropped while the receiver runs. Events the gateway rejects one
//     by one (too large, invalid or forbidden type) are counted by reason, logged
//     (rate-limited) and dropped. Messages that are not valid syslog are still sent,
//     whole, tagged _syslogparsefailure.
//   - UDP has no backpressure: a bounded queue (udp.queue_messages, udp.queue_bytes)
//     sits between the socket reader and the gateway; datagrams that find it full are
//     dropped and counted (sluice_syslog_udp_dropped), and the reader never blocks.
//   - Shutdown: when Run's context ends the listeners close, each connection ingests
//     what it has read (without reading more), and the UDP queue is drained, for at
//     most Options.DrainTimeout; what is left then is counted as lost. Syslog cannot
//     hand a message back: stop this receiver before the gateway refuses batches
//     (gateway.Drain), or what it holds then is lost.
//   - Authentication: syslog has no header for an API key; senders on the TLS
//     listener are authenticated by client certificate (tls.client_auth: required).
//     Every message acts as the principal of its listener, "syslog/tcp", "syslog/tls"
//     or "syslog/udp", allowed the listener's own types (tcp.types, ...), else the
//     section's types; the gateway rejects messages of other types one by one, and
//     its reasons name the listener.
package syslog

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
	"github.com/sluice-siem/sluice/gateway/internal/connserve"
	"github.com/sluice-siem/sluice/internal/background"
)

// Ingester is what the receiver needs from the gateway core (*gateway.Gateway).
type Ingester interface {
	// Ingest checks, routes and produces a batch; it returns once every accepted event
	// is durable.
	Ingest(ctx context.Context, b gateway.Batch) (gateway.Result, error)
	// Limits bounds the batches: events per batch, bytes per event and in flight.
	Limits() gateway.Limits
	// Ready is false while the gateway drains: batches are then not retried once the
	// receiver stops.
	Ready() bool
}

// Options are the receiver's collaborators; nil fields get no-op defaults.
type Options struct {
	// Logger receives the receiver's log lines.
	Logger *slog.Logger
	// Meter makes the receiver's instruments (sluice_syslog_*).
	Meter metric.Meter
	// DrainTimeout bounds how long Run lets read messages reach the gateway after its
	// context ends; 30s when zero.
	DrainTimeout time.Duration
	// WrapListener, when set, wraps each TCP listener Listen binds, named "tcp" or
	// "tls"; cmd/sluice counts the connections against the process's connection
	// budget with it (internal/netlimit). The wrapper owns the listener it is given.
	WrapListener func(name string, ln net.Listener) net.Listener
	// Now is the clock that stamps messages as received (the year of RFC 3164
	// timestamps); time.Now when nil.
	Now func() time.Time
	// Fatal, if set, receives the error of a listener that fails after Start (the
	// process should stop then). Nil: Shutdown returns it.
	Fatal func(error)
}

// Listener names, as metrics and logs show them.
const (
	listenerTCP = "tcp"
	listenerTLS = "tls"
	listenerUDP = "udp"
)

// principalPrefix starts the name of a listener's principal, the caller its messages
// act as: "syslog/tcp", "syslog/tls", "syslog/udp".
const principalPrefix = "syslog/"

// receiverName names the receiver in the gateway's metrics.
const receiverName = "syslog"

// Retry waits after an overloaded or unavailable Ingest, doubling up to retryMax. The
// gateway itself already waited limits.backpressure_wait before answering.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// logEvery is the shortest interval between two log lines of one kind of repeated
// trouble (refused connections, rejected messages, dropped datagrams).
const logEvery = 10 * time.Second

// errStopping ends a connection when the server stops.
var errStopping = errors.New("server stopping")

// Server is the syslog receiver: its TCP, TLS and UDP listeners. Create it with New,
// bind it with Listen (or let Run do it), serve with Run; Close stops it at once.
type Server struct {
	cfg     Config
	ing     Ingester
	log     *slog.Logger
	parser  *Parser
	metrics *metrics
	now     func() time.Time
	drain   time.Duration
	wrap    func(string, net.Listener) net.Listener
	fatal   func(error)
	// work runs Run between Start and Shutdown.
	work background.Work

	maxEvent    int // gateway.limits.max_event_bytes
	batchEvents int
	batchBytes  int
	batches     sync.Pool // *batch

	// base is the parent of every Ingest call's context (each listener adds its
	// principal); it is canceled when the server stops by force (Close, or the drain
	// deadline).
	base   context.Context
	cancel context.CancelFunc

	tcp, tls *listener // nil when disabled
	udp      *udpListener

	mu    sync.Mutex // guards the listeners
	bound bool
	// conns tracks the connections and the UDP goroutines, and whether the server
	// stops.
	conns *connserve.Group

	limiter logLimiter
}

// listener is a TCP or TLS listener and its connections' settings.
type listener struct {
	name      string
	addr      string
	tls       *tls.Config
	maxConns  int
	idle      time.Duration
	handshake time.Duration
	ln        net.Listener
	open      atomic.Int64
	attrs     listenerAttrs
	// base is the server's base context with the listener's principal.
	base context.Context
}

// listenerAttrs are the measurement options of one listener, made once.
type listenerAttrs struct {
	listener, accepted, tooLong, lost metric.MeasurementOption
}

// New returns a receiver that feeds ing. It compiles the rules and loads the TLS
// certificates; it does not listen yet.
func New(ing Ingester, cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("syslog config: %w", err)
	}
	if !cfg.Enabled() {
		return nil, errors.New("syslog config: tcp.addr, tls.addr and udp.addr are all empty: nothing to listen on")
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
	if opts.Now == nil {
		opts.Now = time.Now
	}
	parser, err := NewParser(cfg.Rules, cfg.DefaultType)
	if err != nil {
		return nil, err
	}
	limits := ing.Limits()
	s := &Server{
		cfg:         cfg,
		ing:         ing,
		log:         opts.Logger,
		parser:      parser,
		now:         opts.Now,
		drain:       opts.DrainTimeout,
		wrap:        opts.WrapListener,
		fatal:       opts.Fatal,
		maxEvent:    int(limits.MaxEventBytes),
		batchEvents: max(1, min(cfg.BatchEvents, limits.MaxBatchEvents)),
		batchBytes:  int(max(1, min(int64(cfg.BatchBytes), int64(limits.MaxInflightBytes)/2))),
		conns:       connserve.NewGroup(),
		limiter:     logLimiter{every: logEvery},
	}
	s.batches.New = func() any { return newBatch(s.batchBytes, s.batchEvents) }
	if cfg.TCP.Addr != "" {
		s.tcp = &listener{name: listenerTCP, addr: cfg.TCP.Addr, maxConns: cfg.TCP.MaxConnections, idle: cfg.TCP.IdleTimeout}
	}
	if cfg.TLS.Addr != "" {
		tlsConf, err := cfg.TLS.serverTLS().Load()
		if err != nil {
			return nil, fmt.Errorf("syslog tls: %w", err)
		}
		tlsConf.MinVersion = max(tlsConf.MinVersion, tls.VersionTLS12)
		s.tls = &listener{name: listenerTLS, addr: cfg.TLS.Addr, tls: tlsConf, maxConns: cfg.TLS.MaxConnections,
			idle: cfg.TLS.IdleTimeout, handshake: cfg.TLS.HandshakeTimeout}
	}
	if cfg.UDP.Addr != "" {
		s.udp = newUDPListener(cfg.UDP, int(cfg.MaxMessageBytes))
	}
	var streams []string
	for _, l := range []*listener{s.tcp, s.tls} {
		if l != nil {
			streams = append(streams, l.name)
		}
	}
	s.metrics, err = newMetrics(opts.Meter, gauges{streams: streams, open: s.openConns, queued: s.queued})
	if err != nil {
		return nil, err
	}
	for _, l := range []*listener{s.tcp, s.tls} {
		if l != nil {
			l.attrs = s.listenerAttrs(l.name)
		}
	}
	if s.udp != nil {
		s.udp.attrs = s.listenerAttrs(listenerUDP)
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	if s.tcp != nil {
		s.tcp.base = s.withPrincipal(listenerTCP, cfg.TCP.Types)
	}
	if s.tls != nil {
		s.tls.base = s.withPrincipal(listenerTLS, cfg.TLS.Types)
	}
	if s.udp != nil {
		s.udp.base = s.withPrincipal(listenerUDP, cfg.UDP.Types)
	}
	return s, nil
}

// withPrincipal returns the base context of a listener's Ingest calls: it carries the
// listener's principal, allowed its own types (own), else syslog.types. It warns of
// every log type the rules give that the listener does not allow, since its messages
// of that type will be rejected.
func (s *Server) withPrincipal(name string, own []string) context.Context {
	types, setting := s.cfg.listenerTypes(name, own)
	p := gateway.NewPrincipal(principalPrefix+name, types)
	for _, t := range s.parser.Types() {
		if !p.Allows(t) {
			s.log.Warn("syslog rules give a log type that the listener's types do not allow: its messages will be rejected",
				"listener", name, "type", t, "setting", setting, "types", types)
		}
	}
	return gateway.WithPrincipal(s.base, p)
}

func (s *Server) listenerAttrs(name string) listenerAttrs {
	return listenerAttrs{
		listener: s.metrics.attrs("listener", name),
		accepted: s.metrics.attrs("listener", name, "result", resultAccepted),
		tooLong:  s.metrics.attrs("listener", name, "result", resultTooLong),
		lost:     s.metrics.attrs("listener", name, "result", resultLost),
	}
}

// Parser returns the parser the receiver makes its events with.
func (s *Server) Parser() *Parser { return s.parser }

// Listen binds the configured addresses, if Listen or Run has not yet. If one cannot
// be bound, none stays bound.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bound {
		return nil
	}
	if s.conns.Stopping() {
		return errors.New("syslog server is closed")
	}
	var bound []func()
	undo := func() {
		for _, f := range bound {
			f()
		}
	}
	for _, l := range []*listener{s.tcp, s.tls} {
		if l == nil {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			undo()
			return fmt.Errorf("listen syslog %s on %s: %w", l.name, l.addr, err)
		}
		if s.wrap != nil {
			ln = s.wrap(l.name, ln)
		}
		l.ln = ln
		bound = append(bound, func() { _ = ln.Close(); l.ln = nil })
	}
	if s.udp != nil {
		if err := s.udp.listen(s.log); err != nil {
			undo()
			return err
		}
	}
	s.bound = true
	return nil
}

// TCPAddr returns the bound address of the plain TCP listener, or nil before Listen or
// when it is disabled.
func (s *Server) TCPAddr() net.Addr { return s.streamAddr(s.tcp) }

// TLSAddr returns the bound address of the TLS listener, or nil before Listen or when
// it is disabled.
func (s *Server) TLSAddr() net.Addr { return s.streamAddr(s.tls) }

// UDPAddr returns the bound address of the UDP listener, or nil before Listen or when
// it is disabled.
func (s *Server) UDPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil || s.udp.pc == nil {
		return nil
	}
	return s.udp.pc.LocalAddr()
}

func (s *Server) streamAddr(l *listener) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l == nil || l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// Run serves until ctx ends. Then it stops accepting and reading, lets every
// connection ingest the messages it has read and the UDP workers drain the queue, for
// at most Options.DrainTimeout, closes what is left (counted as lost) and returns. It
// returns an error only if a listener fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	failed := make(chan error, 3)
	var accepting sync.WaitGroup
	for _, l := range []*listener{s.tcp, s.tls} {
		if l != nil {
			accepting.Go(func() {
				if err := s.accept(l); err != nil {
					failed <- err
				}
			})
		}
	}
	if s.udp != nil {
		s.startUDP()
	}

	var err error
	select {
	case <-ctx.Done():
	case <-s.conns.Quit(): // Close
	case err = <-failed:
	}
	s.stop()
	accepting.Wait() // the accept loops end once their listeners are closed

	s.conns.Wait(s.drain, func() {
		s.log.Warn("syslog messages still on their way to the gateway at the drain deadline, dropping them", "deadline", s.drain)
		s.cancel()
		s.conns.CloseConns()
	})
	s.cancel()
	return err
}

// Close stops the server at once: the listeners and every connection are closed and
// Ingest calls in progress are canceled; messages read and not yet delivered are
// counted as lost. Run returns soon after.
func (s *Server) Close() error {
	s.stop()
	s.cancel()
	s.conns.CloseConns()
	return nil
}

// stop closes the listeners and makes every connection stop reading: each ingests
// what it has read, then ends.
func (s *Server) stop() {
	s.conns.Stop(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range []*listener{s.tcp, s.tls} {
			if l != nil && l.ln != nil {
				_ = l.ln.Close()
			}
		}
		if s.udp != nil {
			s.udp.close()
		}
	})
}

func (s *Server) openConns(name string) int64 {
	for _, l := range []*listener{s.tcp, s.tls} {
		if l != nil && l.name == name {
			return l.open.Load()
		}
	}
	return 0
}

func (s *Server) queued() int64 {
	if s.udp == nil {
		return 0
	}
	return int64(len(s.udp.queue))
}

// accept runs a listener's accept loop until the listener is closed.
func (s *Server) accept(l *listener) error {
	err := s.conns.Accept(l.ln, func(nc net.Conn) { s.serve(l, nc) }, func(err error, retryIn time.Duration) {
		s.log.Warn("accept syslog connection", "listener", l.name, "err", err, "retry_in", retryIn)
	})
	if err != nil {
		return fmt.Errorf("accept syslog %s connection: %w", l.name, err)
	}
	return nil
}

// serve starts a connection's goroutine, or closes it at once when its listener is
// full or the server stops.
func (s *Server) serve(l *listener, nc net.Conn) {
	started, full := s.conns.Start(&l.open, l.maxConns, func(id uint64) connserve.Conn { return newConn(s, l, nc, id) })
	if started {
		return
	}
	if full { // counted before the close, so the count is there when the client sees it
		s.metrics.opened.Add(context.Background(), 1, s.metrics.attrs("listener", l.name, "result", "over_limit"))
		if ok, n := s.limiter.allow("over_limit_" + l.name); ok {
			s.log.Warn("syslog connection refused: max_connections reached", "listener", l.name,
				"max_connections", l.maxConns, "remote", nc.RemoteAddr().String(), "refused", n)
		}
	}
	_ = nc.Close()
}

// logLimiter lets one log line per kind through every interval, and counts the ones it
// holds back, so that a flood of bad input does not flood the log.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	held  map[string]int64
}

// allow reports whether a line of kind may be logged now, and how many occurrences
// (this one included) it stands for.
func (l *logLimiter) allow(kind string) (bool, int64) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.held = map[string]time.Time{}, map[string]int64{}
	}
	l.held[kind]++
	if last, ok := l.last[kind]; ok && now.Sub(last) < l.every {
		return false, 0
	}
	n := l.held[kind]
	l.last[kind], l.held[kind] = now, 0
	return true, n
}
