package syslog

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// rebind binds the TCP and UDP addresses again, failing the test if one is still held.
func rebind(t *testing.T, tcp, udp string) {
	t.Helper()
	ln, err := net.Listen("tcp", tcp)
	if err != nil {
		t.Fatalf("tcp listener still open: %v", err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", udp)
	if err != nil {
		t.Fatalf("udp listener still open: %v", err)
	}
	pc.Close()
}

// Shutdown without Start closes the listeners; twice, it does nothing more.
func TestShutdownWithoutStart(t *testing.T) {
	srv, err := New(newRecorder(), testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	tcp, udp := srv.TCPAddr().String(), srv.UDPAddr().String()
	for range 2 {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown without Start: %v", err)
		}
	}
	rebind(t, tcp, udp)
}

// Start serves, logging each address, until Shutdown (not until the context of Start
// ends); Shutdown, twice, ingests what was read and closes the listeners.
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
	tcp, udp := srv.TCPAddr().String(), srv.UDPAddr().String()
	for _, want := range []string{`"listener":"tcp","addr":"` + tcp, `"listener":"udp","addr":"` + udp} {
		if !strings.Contains(logs.String(), `"msg":"syslog listening",`+want) {
			t.Errorf("no listening line with %s in %s", want, logs)
		}
	}
	nc, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("<134>1 2026-12-06T10:00:00Z fw01 app - - - one\n")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); rec.count() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nothing ingested 5s after a message was sent")
		}
	}
	for range 2 {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	rebind(t, tcp, udp)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Shutdown")
	}
}
