// Package httpserve is the HTTP server of every role of cmd/sluice, as a component of
// its lifecycle: it serves the HTTP receiver (gateway/httprecv, with the REST mapping
// of the gRPC service and the operations endpoints) in the dev and gateway roles, and
// the operations endpoints alone (internal/ops) in the transform role. It is shared
// plumbing, no step of the data path.
package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sluice-siem/sluice/internal/background"
)

// Options are a server's settings and collaborators.
type Options struct {
	// Name names the server in its log lines ("http" logs "http listening").
	Name string
	// TLS, if set, serves TLS with it.
	TLS *tls.Config
	// ReadTimeout bounds reading a request, body included; 0: none.
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long; 0: ReadTimeout's.
	IdleTimeout time.Duration
	// Logger receives the listening line and the server's own errors (at warn). Nil
	// discards them.
	Logger *slog.Logger
	// Fatal, if set, receives the error that ends serving on its own after Start (the
	// listener failed; the process should stop then). Nil: Shutdown returns it.
	Fatal func(error)
}

// Server serves a handler on a listener from Start to Shutdown.
type Server struct {
	srv   *http.Server
	ln    net.Listener
	tls   bool // serving changes srv.TLSConfig: this is read instead
	name  string
	log   *slog.Logger
	fatal func(error)
	work  background.Work
}

// New returns the server of h on ln, which it owns from then on (Shutdown closes it,
// with or without Start). It serves nothing before Start.
func New(ln net.Listener, h http.Handler, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Name == "" {
		opts.Name = "http"
	}
	return &Server{
		srv: &http.Server{
			Handler:           h,
			TLSConfig:         opts.TLS,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       opts.ReadTimeout,
			IdleTimeout:       opts.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		},
		ln:    ln,
		tls:   opts.TLS != nil,
		name:  opts.Name,
		log:   opts.Logger,
		fatal: opts.Fatal,
	}
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// TLS reports whether the server serves TLS.
func (s *Server) TLS() bool { return s.tls }

// Start serves in the background until Shutdown, not until ctx ends, and logs the
// address.
func (s *Server) Start(ctx context.Context) error {
	if err := s.work.Start(ctx, s.serve, s.fatal); err != nil {
		return err
	}
	s.log.Info(s.name+" listening", "addr", s.ln.Addr().String(), "tls", s.TLS())
	return nil
}

// serve serves until Shutdown; it returns nil then.
func (s *Server) serve(context.Context) error {
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and lets the requests in progress finish; when ctx ends
// first it closes their connections and returns ctx's error. It returns once serving
// stopped. Without Start it closes the listener. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	_ = s.ln.Close() // if it never served
	// Serving has returned, or returns now that the server is closed.
	return errors.Join(err, s.work.Stop(context.WithoutCancel(ctx)))
}
