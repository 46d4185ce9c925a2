package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/config"
)

// recorder builds parts that write what they do to one log.
type recorder struct{ log []string }

func (r *recorder) part(name string, startErr error) *part {
	return &part{
		start: func(context.Context) error { r.log = append(r.log, "start "+name); return startErr },
		stop:  func(context.Context) error { r.log = append(r.log, "stop "+name); return nil },
	}
}

func TestLifecycleOrder(t *testing.T) {
	var r recorder
	var l lifecycle
	for _, name := range []string{"sink", "transformer", "consumer", "receiver"} {
		l.add(name, r.part(name, nil))
	}
	ctx := context.Background()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Shutdown(ctx); err != nil { // safe twice: no part stops again
		t.Fatal(err)
	}
	want := []string{"start sink", "start transformer", "start consumer", "start receiver",
		"stop receiver", "stop consumer", "stop transformer", "stop sink"}
	if !slices.Equal(r.log, want) {
		t.Errorf("lifecycle\n%q, want\n%q", r.log, want)
	}
}

func TestLifecycleFailedStart(t *testing.T) {
	var r recorder
	var l lifecycle
	boom := errors.New("address in use")
	l.add("sink", r.part("sink", nil))
	l.add("transformer", r.part("transformer", nil))
	l.add("receiver", r.part("receiver", boom))
	l.add("never", r.part("never", nil))
	err := l.Start(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "start receiver") {
		t.Fatalf("Start: %v, want the receiver's failure", err)
	}
	// Every part is shut down, the one never started too (it may hold what its
	// constructor opened), upstream first.
	want := []string{"start sink", "start transformer", "start receiver",
		"stop never", "stop receiver", "stop transformer", "stop sink"}
	if !slices.Equal(r.log, want) {
		t.Errorf("failed start\n%q, want\n%q", r.log, want)
	}
	// The caller's Shutdown after a failed start stops nothing again.
	if err := l.Shutdown(context.Background()); err != nil || !slices.Equal(r.log, want) {
		t.Errorf("Shutdown after a failed start: %v, log %q", err, r.log)
	}
}

func TestLifecycleShutdownErrors(t *testing.T) {
	var l lifecycle
	var stopped []string
	sinkErr := errors.New("flush failed")
	l.add("sink", &part{stop: func(context.Context) error { stopped = append(stopped, "sink"); return sinkErr }})
	l.add("receiver", &part{stop: func(context.Context) error { stopped = append(stopped, "receiver"); return errors.New("close failed") }})
	// Without Start: each part still releases what it holds, and each error is kept.
	err := l.Shutdown(context.Background())
	if !errors.Is(err, sinkErr) || !strings.Contains(err.Error(), "shut down receiver: close failed") {
		t.Errorf("Shutdown: %v", err)
	}
	if !slices.Equal(stopped, []string{"receiver", "sink"}) {
		t.Errorf("stopped %q", stopped)
	}
	if again := l.Shutdown(context.Background()); again == nil || again.Error() != err.Error() || len(stopped) != 2 {
		t.Errorf("second Shutdown: %v (first: %v), stopped %q", again, err, stopped)
	}
}

// Each role's components are listed downstream first, so that the app starts the
// sinks before what feeds them and shuts the receivers down first; built and never
// started, they shut down cleanly (listeners closed, twice is a no-op).
func TestAppComponentsDownstreamFirst(t *testing.T) {
	cfg := devConfig(t)
	cfg.Lumberjack.Addr = "127.0.0.1:0"
	ctx := context.Background()
	a, err := newApp(ctx, cfg, config.RoleDev, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range a.parts.parts {
		names = append(names, p.name)
	}
	// The console's sampler first: it watches the others, so it runs before they start
	// and until they stopped.
	want := []string{"console", "file sink", "lookups", "embedded stream", "consumer", "embedded stream drain", "http", "grpc", "lumberjack", "readiness"}
	if !slices.Equal(names, want) {
		t.Errorf("components %q, want %q", names, want)
	}
	addr := a.httpLn.Addr().String()
	for range 2 {
		if err := a.shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The listener is closed: the port can be bound again.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("http listener still open after shutdown without start: %v", err)
	}
	ln.Close()
}
