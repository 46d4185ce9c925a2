package relp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// Shutdown without Start closes the listener; twice, it does nothing more.
func TestShutdownWithoutStart(t *testing.T) {
	rec := &recorder{}
	srv, err := New(rec.handle, testConfig(), Options{})
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
// ends); Shutdown, twice, closes the session and the listener.
func TestStartShutdown(t *testing.T) {
	rec := &recorder{}
	logs := &logBuffer{}
	srv, err := New(rec.handle, testConfig(), Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	addr := srv.Addr().String()
	if !strings.Contains(logs.String(), `msg="relp listening" addr=`+addr) {
		t.Errorf("no listening line with the address in %s", logs)
	}
	c := dial(t, addr, nil)
	c.open()
	c.expectOK(c.send("syslog", msg(0)))
	for range 2 {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	// The idle session ends (after the serverclose hint).
	for {
		_, err := c.readErr(5 * time.Second)
		if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("session still open after Shutdown")
		}
		if err != nil {
			break
		}
	}
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		nc.Close()
		t.Error("listener still open after Shutdown")
	}
	if got := rec.got(); !slices.Equal(got, []string{msg(0)}) {
		t.Errorf("handler got %q", got)
	}
}
