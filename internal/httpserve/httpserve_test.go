package httpserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/internal/syncbuf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// Shutdown without Start closes the listener; twice, it does nothing more.
func TestShutdownWithoutStart(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	s := New(ln, http.NotFoundHandler(), Options{})
	for range 2 {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listener still open after Shutdown without Start: %v", err)
	}
	again.Close()
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

// syncBuffer is syncbuf.Buffer: output written by one goroutine, read by another.
type syncBuffer = syncbuf.Buffer

// Start serves, logging its address, until Shutdown (not until the context of Start
// ends); Shutdown lets a request in progress finish, then the port is free.
func TestStartShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	logs := &syncBuffer{}
	ln := listen(t)
	addr := ln.Addr().String()
	s := New(ln, h, Options{Name: "ops", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if !strings.Contains(logs.String(), `msg="ops listening" addr=`+addr+" tls=false") {
		t.Errorf("no listening line in %s", logs)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (string, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get("/"); err != nil || body != "ok" {
		t.Fatalf("GET: %q, %v", body, err)
	}
	slow := make(chan error, 1)
	go func() {
		body, err := get("/slow")
		if err == nil && body != "ok" {
			err = errors.New("body " + body)
		}
		slow <- err
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned %v with a request in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-slow; err != nil {
		t.Errorf("request in progress: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listener still open after Shutdown: %v", err)
	}
	again.Close()
}

// When the context of Shutdown ends first, the requests in progress are cut and
// Shutdown says so.
func TestShutdownDeadline(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	ln := listen(t)
	s := New(ln, h, Options{})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	failed := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String())
		if err == nil {
			resp.Body.Close()
		}
		failed <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if err := <-failed; err == nil {
		t.Error("the request in progress was answered after Shutdown's deadline")
	}
}

// brokenListener fails every Accept for good.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) {
	return nil, errors.New("too many open files, for good")
}

// A listener that fails ends serving, and Fatal has the error.
func TestServeFails(t *testing.T) {
	got := make(chan error, 1)
	s := New(brokenListener{listen(t)}, http.NotFoundHandler(), Options{Fatal: func(err error) { got <- err }})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err == nil || !strings.Contains(err.Error(), "for good") {
		t.Errorf("Fatal got %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after Fatal: %v", err)
	}

}
