package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// limitWait bounds every wait of the listener tests for an event.
const limitWait = 10 * time.Second

// httpConn is a kept-alive HTTP/1.1 connection to sluice.
type httpConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialHTTP(t *testing.T, addr string) *httpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, limitWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &httpConn{c: c, r: bufio.NewReader(c)}
}

// healthz reports whether GET /healthz is answered 200 on the connection.
func (h *httpConn) healthz() bool {
	_ = h.c.SetDeadline(time.Now().Add(limitWait))
	if _, err := fmt.Fprint(h.c, "GET /healthz HTTP/1.1\r\nHost: sluice\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// refused reports whether the server closes a new connection to addr without a word
// after the client wrote hello.
func refused(t *testing.T, addr, hello string) bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, limitWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(limitWait))
	_, _ = io.WriteString(c, hello) // may fail once the server has closed
	n, err := c.Read(make([]byte, 1))
	return n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET))
}

// eventually polls cond until it holds, failing the test after limitWait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limitWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limitWait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// http.max_connections and grpc.max_connections reach the listeners: the first N
// connections are served, the next is closed at once, and a connection is served
// again once one has closed. The lumberjack listener shares the process's budget.
func TestListenerMaxConnections(t *testing.T) {
	cfg := devConfig(t)
	cfg.Lumberjack.Addr = "127.0.0.1:0"
	cfg.HTTP.MaxConnections, cfg.GRPC.MaxConnections = 2, 2
	a, _ := startDev(t, cfg)
	httpAddr, grpcAddr := a.httpLn.Addr().String(), a.grpcLn.Addr().String()

	t.Run("http", func(t *testing.T) {
		first, second := dialHTTP(t, httpAddr), dialHTTP(t, httpAddr)
		if !first.healthz() || !second.healthz() {
			t.Fatal("connections within http.max_connections are not served")
		}
		if !refused(t, httpAddr, "GET /healthz HTTP/1.1\r\nHost: sluice\r\n\r\n") {
			t.Fatal("the connection over http.max_connections was served")
		}
		if !second.healthz() {
			t.Fatal("a connection within the cap stopped being served after a refusal")
		}
		_ = first.c.Close()
		eventually(t, "a new HTTP connection to be served after one closed", func() bool {
			return dialHTTP(t, httpAddr).healthz()
		})
	})

	t.Run("grpc", func(t *testing.T) {
		for range 2 {
			conn, err := grpc.NewClient("passthrough:///"+grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			ctx := ctxFor(t)
			if r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health check within grpc.max_connections = %v, %v", r, err)
			}
		}
		if !refused(t, grpcAddr, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") {
			t.Fatal("the connection over grpc.max_connections was served")
		}
	})

	t.Run("lumberjack shares the budget", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", a.ljSrv.Addr().String(), limitWait)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		eventually(t, "the lumberjack connection to count in the budget", func() bool { return a.conns.Open("lumberjack") == 1 })
	})
}

// ctxFor returns a context that ends with the test or after limitWait.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), limitWait)
	t.Cleanup(cancel)
	return ctx
}
