package lumberjack

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
)

// Shutdown without Start closes the listener; twice, it does nothing more.
func TestShutdownWithoutStart(t *testing.T) {
	srv, err := New(newRecorder(), testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	for range 2 {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listener still open after Shutdown without Start: %v", err)
	}
	ln.Close()
}

// Start serves, logging its address, until Shutdown (not until the context of Start
// ends); after Shutdown, twice, the connection is no longer served.
func TestStartShutdown(t *testing.T) {
	rec := newRecorder()
	logs := &syncBuffer{}
	srv, err := New(rec, testConfig(), Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if !strings.Contains(logs.String(), `"msg":"lumberjack listening","addr":"`+srv.Addr().String()) {
		t.Errorf("no listening line with the address in %s", logs)
	}
	c, err := lj.SyncDial(srv.Addr().String(), lj.Timeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.Send(events(0, 3)); err != nil || n != 3 {
		t.Fatalf("Send: %d ACKed, %v", n, err)
	}
	for range 2 {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if _, err := c.Send(events(3, 1)); err == nil {
		t.Error("connection still served after Shutdown")
	}
	if rec.count() != 3 {
		t.Errorf("%d events ingested, want 3", rec.count())
	}
}
