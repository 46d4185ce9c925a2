// Package relp is the RELP receiver of the gateway (step receive of the data path):
// rsyslog's omrelp, and any other client of the Reliable Event Logging Protocol
// (librelp), sends syslog messages to it and gets a response for each one. The server
// speaks the framing and the session (open, syslog, close, the serverclose hint); the
// caller's Handler turns the raw syslog messages into gateway events (with the syslog
// parser) and calls gateway.Ingest.
//
// Each connection is served by one goroutine that reads the frames the client has
// already sent (up to the window and max_batch_bytes), hands their syslog messages to
// the Handler as one batch, and writes the responses in transaction order. Contracts:
//
//   - Acknowledgement: a syslog transaction is answered "200 OK" only once the Handler
//     has returned success for its message, that is once it is durable in the stream.
//   - Busy stream: when the Handler refuses a batch as overloaded or unavailable, the
//     server does not answer 500, since librelp (rsyslog 8, librelp 1.11, checked
//     against both) drops a message answered with anything but 200 and never resends
//     it. It retries the unanswered messages on the connection with backoff, without
//     reading the client, whose window fills (backpressure). When retry_timeout passes,
//     the gateway drains or the server stops, it closes the connection without
//     answering them (serverclose hint first); the client then resends every unanswered
//     transaction on a new connection, as the protocol says it must.
//   - Bad messages: a message the Handler rejects for good (invalid, too large, a log
//     type not allowed) is answered "200 OK" and dropped, with a log line and a count.
//     A 500 would drop it just the same at the client, and in addition break its
//     session (rsyslog suspends the action, reconnects and resends what it had in
//     flight); a client that did resend on 500 would loop forever on it.
//   - Protocol errors close the connection, after answering the transactions before the
//     error: a command before open and a DATALEN above max_message_bytes are answered
//     500 with the reason (so librelp drops that message instead of resending it
//     forever); a malformed frame, a missing trailer or a TXNR other than the next one
//     is not answered. Unknown commands are answered 500 and the session goes on.
//   - Authentication: RELP has no field for an API key; clients are authenticated by
//     mutual TLS (tls.client_auth: required), and every connection acts as the
//     principal "relp", allowed the configured log types.
package relp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/internal/connserve"
)

// Batch is the syslog messages a connection hands to the Handler at once.
type Batch struct {
	// Messages are the data of the batch's syslog transactions, one message each, in
	// transaction order, as the client sent them (no framing, no trailer). They belong
	// to the server and are valid only until the Handler returns.
	Messages [][]byte
	// Remote is the client's address.
	Remote net.Addr
	// Client is the common name of the client's verified TLS certificate, or empty.
	Client string
}

// Handler turns a batch into gateway events and ingests them. It returns once it has
// decided about every message:
//
//   - nil error: every message not in Result.Rejections is durable and is answered 200.
//     A rejection (its Index is a position in Batch.Messages) of a permanent kind is
//     answered 200 and dropped, with a log line; one of a retryable kind (overloaded,
//     unavailable, internal) is handed to the Handler again, alone with the other
//     messages still unanswered.
//   - an error of kind overloaded or unavailable: nothing is durable; the messages are
//     retried (see the package documentation).
//   - any other error: nothing is durable, and the connection is closed without
//     answering (the client resends); its kind is logged as an error, since resending
//     will fail the same way until the configuration changes.
//
// The context carries the principal "relp" (gateway.PrincipalFrom) and ends when the
// server is closed. The Handler must not keep Batch.Messages. It is called from one
// goroutine per connection, so concurrently for several connections.
type Handler func(ctx context.Context, b Batch) (gateway.Result, error)

// Options are the receiver's collaborators; nil fields get defaults.
type Options struct {
	Logger *slog.Logger
	Meter  metric.Meter
	// DrainTimeout bounds how long Run lets batches in progress finish after its
	// context ends; 30s when zero.
	DrainTimeout time.Duration
	// WrapListener, when set, wraps the listener Listen binds; cmd/sluice counts the
	// connections against the process's connection budget with it (internal/netlimit).
	// The wrapper owns the listener it is given.
	WrapListener func(net.Listener) net.Listener
	// Ready reports whether the gateway accepts batches (gateway.Gateway.Ready); while
	// it is false, a batch refused as busy is not retried: its connection is closed
	// unanswered, so the client resends to another instance. Always true when nil.
	Ready func() bool
	// Now is the clock of latencies and retry deadlines; time.Now when nil.
	Now func() time.Time
	// Software is the relp_software offer the server answers open with:
	// "name,version,url". "sluice,<module version>,https://github.com/sluice-siem/sluice"
	// when empty.
	Software string
	// Fatal, if set, receives the error of a listener that fails after Start (the
	// process should stop then). Nil: Shutdown returns it.
	Fatal func(error)
}

// principalName is the caller every RELP connection acts as.
const principalName = "relp"

// Server is the RELP listener. Create it with New, bind it with Listen (or let Run or
// Start do it), serve with Run, or from Start to Shutdown; Close stops it at once.
type Server struct {
	cfg      Config
	handle   Handler
	log      *slog.Logger
	fatal    func(error)
	tls      *tls.Config
	metrics  *metrics
	drain    time.Duration
	ready    func() bool
	now      func() time.Time
	openRsp  []byte // data of the response to open
	arenas   sync.Pool
	maxArena int

	// base is the context of every Handler call, carrying the principal; it is
	// canceled when connections are closed by force.
	base   context.Context
	cancel context.CancelFunc

	// cs serves the listener and tracks the connections.
	cs   *connserve.Server
	open atomic.Int64 // live connections
}

// New returns a server that hands batches to handle. It checks cfg and loads the TLS
// certificates; it does not listen yet.
func New(handle Handler, cfg Config, opts Options) (*Server, error) {
	if handle == nil {
		return nil, errors.New("relp: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relp config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.Ready == nil {
		opts.Ready = func() bool { return true }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Software == "" {
		opts.Software = "sluice," + moduleVersion() + ",https://github.com/sluice-siem/sluice"
	}
	tlsConf, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("relp tls: %w", err)
	}
	if tlsConf != nil {
		tlsConf.MinVersion = max(tlsConf.MinVersion, tls.VersionTLS12)
	}
	s := &Server{
		cfg:    cfg,
		handle: handle,
		log:    opts.Logger,
		fatal:  opts.Fatal,
		tls:    tlsConf,
		drain:  opts.DrainTimeout,
		ready:  opts.Ready,
		now:    opts.Now,
		// Our offers: relp_version 0 is what librelp speaks (the protocol description's
		// version 1 was never used), and syslog is the one command.
		openRsp:  []byte("200 OK\nrelp_version=0\nrelp_software=" + opts.Software + "\ncommands=syslog"),
		maxArena: 2 * int(cfg.MaxBatchBytes+cfg.MaxMessageBytes),
	}
	s.arenas.New = func() any { return &arena{buf: make([]byte, 0, 64<<10)} }
	s.metrics, err = newMetrics(opts.Meter, s.open.Load)
	if err != nil {
		return nil, err
	}
	principal := gateway.NewPrincipal(principalName, cfg.Types)
	s.base, s.cancel = context.WithCancel(gateway.WithPrincipal(context.Background(), principal))
	s.cs = connserve.NewServer(connserve.Config{
		Name:         "relp",
		Addr:         cfg.Addr,
		Wrap:         opts.WrapListener,
		Log:          s.log,
		DrainTimeout: s.drain,
		DrainMessage: "relp batches still in progress at the drain deadline, closing their connections",
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

// moduleVersion is the version of the binary's main module, for relp_software.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Listen binds the configured address, if Listen or Run has not yet.
func (s *Server) Listen() error {
	if s.cfg.Addr == "" && !s.cs.Stopping() {
		return errors.New("listen relp: relp.addr is empty (the receiver is disabled)")
	}
	return s.cs.Listen()
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr { return s.cs.Addr() }

// TLS reports whether connections use TLS.
func (s *Server) TLS() bool { return s.tls != nil }

// Run serves connections until ctx ends. Then it stops accepting, closes idle
// connections (serverclose hint first), lets batches in progress finish (answered, or
// closed unanswered while the gateway drains) for at most Options.DrainTimeout, closes
// what is left and returns. It returns an error only if the listener fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.cs.Run(ctx)
}

// Close stops the server at once: the listener and every connection are closed, and
// Handler calls in progress are canceled (their transactions are not answered, so
// clients resend them). Run returns soon after.
func (s *Server) Close() error {
	s.cs.Close()
	return nil
}
