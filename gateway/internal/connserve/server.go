package connserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/sluice-siem/sluice/internal/background"
)

// Config is what a Server needs from its receiver.
type Config struct {
	// Name names the receiver in errors and log lines ("lumberjack", "relp").
	Name string
	// Addr is the TCP address Listen binds.
	Addr string
	// Wrap, when set, wraps the listener Listen binds; it owns the listener it gets.
	Wrap func(net.Listener) net.Listener
	Log  *slog.Logger
	// DrainTimeout bounds how long Run lets connections finish after its context ends.
	DrainTimeout time.Duration
	// DrainMessage is logged (with the deadline) when connections are still busy at
	// the drain deadline.
	DrainMessage string
	// MaxConns bounds the live connections; more are closed at once.
	MaxConns int
	// Open counts the live connections (the receiver's gauge reads it).
	Open *atomic.Int64
	// NewConn makes the connection that serves nc; id is unique in the server.
	NewConn func(nc net.Conn, id uint64) Conn
	// Refused, if set, is called for a connection refused at MaxConns, before it is
	// closed (to count it).
	Refused func()
	// Cancel cancels the work of every connection. It is called when Run ends, at the
	// drain deadline and by Close.
	Cancel context.CancelFunc
}

// Server serves one TCP listener. Create it with NewServer, bind it with Listen (or
// let Run do it), serve with Run; Close stops it at once.
type Server struct {
	g   *Group
	cfg Config
	ln  net.Listener // guarded by g.mu

	lastOverLimitLog atomic.Int64 // unix nanoseconds
	overLimit        atomic.Int64 // connections refused since the last log line

	// work runs Run between Start and Shutdown.
	work background.Work
}

// NewServer returns a server; it does not listen yet.
func NewServer(cfg Config) *Server {
	return &Server{g: NewGroup(), cfg: cfg}
}

// Listen binds the configured address, if Listen or Run has not yet.
func (s *Server) Listen() error {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	if s.g.stopping.Load() {
		return fmt.Errorf("%s server is closed", s.cfg.Name)
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s on %s: %w", s.cfg.Name, s.cfg.Addr, err)
	}
	if s.cfg.Wrap != nil {
		ln = s.cfg.Wrap(ln)
	}
	s.ln = ln
	return nil
}

// Stopping reports whether the server stopped accepting: Run's context ended or Close
// was called. Connections then end after their current unit of work.
func (s *Server) Stopping() bool { return s.g.Stopping() }

// Quit is closed when the server starts stopping.
func (s *Server) Quit() <-chan struct{} { return s.g.Quit() }

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Run serves connections until ctx ends. Then it stops accepting, interrupts every
// connection (Conn.Interrupt), lets them finish for at most Config.DrainTimeout, closes
// what is left and cancels their work, and returns. It returns an error only if the
// listener fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.g.mu.Lock()
	ln := s.ln
	s.g.mu.Unlock()
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

	s.g.Wait(s.cfg.DrainTimeout, func() {
		s.cfg.Log.Warn(s.cfg.DrainMessage, "deadline", s.cfg.DrainTimeout)
		s.g.CloseConns()
		s.cfg.Cancel()
	})
	s.cfg.Cancel()
	return err
}

// Start binds the configured address, if Listen has not, and serves in the background
// (Run) until Shutdown, not until ctx ends. fatal, if set, receives the error of a
// listener that fails; nil: Shutdown returns it.
func (s *Server) Start(ctx context.Context, fatal func(error)) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.work.Start(ctx, s.Run, fatal)
}

// Shutdown stops the server gracefully, as Run does when its context ends, and waits
// for it until ctx ends; then it stops it at once (Close): what is in progress is not
// answered, and clients resend it. Without Start it closes the listener. It is safe to
// call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.work.Stop(ctx)
	if errors.Is(err, background.ErrRunning) {
		err = nil
	}
	s.Close()
	s.work.Wait()
	return err
}

// Close stops the server at once: the listener and every connection are closed, and
// their work is canceled. Run returns soon after.
func (s *Server) Close() {
	s.stop()
	s.g.CloseConns()
	s.cfg.Cancel()
}

// stop closes the listener and interrupts every connection.
func (s *Server) stop() {
	s.g.Stop(func() {
		if s.ln != nil {
			_ = s.ln.Close()
		}
	})
}

// accept runs the accept loop until the listener is closed.
func (s *Server) accept(ln net.Listener) error {
	err := s.g.Accept(ln, s.serve, func(err error, retryIn time.Duration) {
		s.cfg.Log.Warn("accept "+s.cfg.Name+" connection", "err", err, "retry_in", retryIn)
	})
	if err != nil {
		return fmt.Errorf("accept %s connection: %w", s.cfg.Name, err)
	}
	return nil
}

// serve starts a connection, or closes it at once when the server is full or stopping.
func (s *Server) serve(nc net.Conn) {
	started, full := s.g.Start(s.cfg.Open, s.cfg.MaxConns, func(id uint64) Conn { return s.cfg.NewConn(nc, id) })
	if started {
		return
	}
	if full { // counted before the close, so the count is there when the client sees it
		if s.cfg.Refused != nil {
			s.cfg.Refused()
		}
		s.logOverLimit(nc.RemoteAddr())
	}
	_ = nc.Close()
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
	s.cfg.Log.Warn(s.cfg.Name+" connection refused: "+s.cfg.Name+".max_connections reached",
		"max_connections", s.cfg.MaxConns, "remote", remote.String(), "refused", n)
}
