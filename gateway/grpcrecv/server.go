package grpcrecv

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/sluice-siem/sluice/internal/background"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// ServerOptions are a Server's settings and collaborators.
type ServerOptions struct {
	// TLS, if set, serves TLS with it.
	TLS *tls.Config
	// Logger receives the listening line; nil discards it.
	Logger *slog.Logger
	// Fatal, if set, receives the error that ends serving on its own after Start (the
	// listener failed; the process should stop then). Nil: Shutdown returns it.
	Fatal func(error)
	// Services are more services served beside IngestService, behind the same
	// interceptors (API keys) and limits, each with its name for the health service:
	// the OTLP logs service (gateway/otlprecv).
	Services []ExtraService
}

// ExtraService is one more gRPC service of a Server: its name and how it registers.
type ExtraService struct {
	Name     string
	Register func(grpc.ServiceRegistrar)
}

// Server is the gRPC receiver's server: the Service with the server options it relies
// on (ServerOptions), the standard health service (every service SERVING until Drain)
// and reflection, on a listener, from Start to Shutdown.
type Server struct {
	srv    *grpc.Server
	health *health.Server
	ln     net.Listener
	tls    bool
	log    *slog.Logger
	fatal  func(error)
	work   background.Work
}

// NewServer returns the server of svc on ln, which it owns from then on (Shutdown
// closes it, with or without Start). It serves nothing before Start.
func NewServer(svc *Service, ln net.Listener, opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	gopts := svc.ServerOptions()
	if opts.TLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	srv := grpc.NewServer(gopts...)
	svc.Register(srv)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(sluicev1.IngestService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	for _, x := range opts.Services {
		x.Register(srv)
		hs.SetServingStatus(x.Name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return &Server{srv: srv, health: hs, ln: ln, tls: opts.TLS != nil, log: opts.Logger, fatal: opts.Fatal}
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Drain marks every service NOT_SERVING in the health service, so that clients and
// load balancers stop sending before Shutdown; calls are still served.
func (s *Server) Drain() { s.health.Shutdown() }

// Start serves in the background until Shutdown, not until ctx ends, and logs the
// address.
func (s *Server) Start(ctx context.Context) error {
	serve := func(context.Context) error {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	}
	if err := s.work.Start(ctx, serve, s.fatal); err != nil {
		return err
	}
	s.log.Info("grpc listening", "addr", s.ln.Addr().String(), "tls", s.tls)
	return nil
}

// Shutdown stops accepting and lets the calls in progress finish (GracefulStop); when
// ctx ends first it stops them (Stop). It returns once serving stopped. Without Start
// it closes the listener. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	stopped := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.srv.Stop()
		<-stopped
	}
	_ = s.ln.Close() // if it never served
	// Serving has returned, or returns now that the server stopped.
	return s.work.Stop(context.WithoutCancel(ctx))
}
