package grpcrecv_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/internal/syncbuf"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// newServer returns a gRPC server of a real gateway on a loopback listener.
func newServer(t *testing.T, opts grpcrecv.ServerOptions) (*grpcrecv.Server, string) {
	t.Helper()
	cfg := gateway.DefaultConfig()
	ms, err := embedded.New(embedded.Config{Streams: cfg.StreamNames()})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, ms, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return grpcrecv.NewServer(grpcrecv.New(g, grpcrecv.Config{}, grpcrecv.Options{}), ln, opts), ln.Addr().String()
}

// rebind fails the test if addr is still held.
func rebind(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listener still open: %v", err)
	}
	ln.Close()
}

// Shutdown without Start closes the listener; twice, it does nothing more.
func TestServerShutdownWithoutStart(t *testing.T) {
	s, addr := newServer(t, grpcrecv.ServerOptions{})
	for range 2 {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}
	rebind(t, addr)
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

// lockedBuffer is syncbuf.Buffer: output written by one goroutine, read by another.
type lockedBuffer = syncbuf.Buffer

// Start serves, logging its address, until Shutdown (not until the context of Start
// ends), with the health service SERVING until Drain; Shutdown, twice, ends a call
// that would never finish once its deadline passes, and frees the port.
func TestServerStartDrainShutdown(t *testing.T) {
	logs := &lockedBuffer{}
	s, addr := newServer(t, grpcrecv.ServerOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if !strings.Contains(logs.String(), `msg="grpc listening" addr=`+addr) {
		t.Errorf("no listening line in %s", logs)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "sluice.v1.IngestService"})
		if err != nil {
			t.Fatalf("health check: %v", err)
		}
		return resp.GetStatus()
	}
	if got := status(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v before Drain", got)
	}
	s.Drain()
	if got := status(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health %v after Drain", got)
	}

	// A Watch stream stays open until the server ends it: GracefulStop waits for it.
	watch, err := health.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer scancel()
	for range 2 {
		if err := s.Shutdown(sctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if _, err := watch.Recv(); err == nil {
		t.Error("the Watch stream is still served after Shutdown")
	}
	rebind(t, addr)
}
