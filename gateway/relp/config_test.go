package relp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/servertls"
)

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig("0.0.0.0")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:2514" || cfg.Window != 128 || cfg.MaxMessageBytes != 64*bytesize.KiB {
		t.Errorf("defaults %+v", cfg)
	}
	if got := DefaultConfig("::1").Addr; got != "[::1]:2514" {
		t.Errorf("IPv6 address %q", got)
	}
	empty := DefaultConfig("127.0.0.1")
	empty.Addr = ""
	if err := empty.Validate(); err != nil {
		t.Errorf("an empty addr (disabled) is invalid: %v", err)
	}
}

// TestValidateReportsEveryProblem: every bad setting is reported at once, with its
// path in the section.
func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{
		Addr:             "nohost",
		TLS:              servertls.Config{ClientAuth: "required"},
		MaxConnections:   0,
		IdleTimeout:      -time.Second,
		HandshakeTimeout: 0,
		ReadTimeout:      0,
		MaxMessageBytes:  2 * bytesize.MiB,
		MaxBatchBytes:    128 * bytesize.MiB,
		Window:           MaxWindow + 1,
		RetryTimeout:     0,
		Types:            []string{"ok", "Not A Type"},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, path := range []string{"addr:", "max_connections:", "idle_timeout:", "handshake_timeout:", "read_timeout:",
		"max_message_bytes:", "max_batch_bytes:", "window:", "retry_timeout:", "types[1]:", "tls.client_ca_file:", "tls.client_auth:"} {
		if !strings.Contains(err.Error(), "\n"+path) && !strings.HasPrefix(err.Error(), path) {
			t.Errorf("no problem reported for %s in:\n%v", path, err)
		}
	}
	cfg = DefaultConfig("127.0.0.1")
	cfg.MaxBatchBytes = cfg.MaxMessageBytes - 1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "max_batch_bytes:") {
		t.Errorf("max_batch_bytes below max_message_bytes: %v", err)
	}
	cfg = DefaultConfig("127.0.0.1")
	cfg.Types = nil
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "types:") {
		t.Errorf("no types: %v", err)
	}
}

func TestNewChecks(t *testing.T) {
	handle := func(ctx context.Context, b Batch) (gateway.Result, error) { return gateway.Result{}, nil }
	if _, err := New(nil, DefaultConfig("127.0.0.1"), Options{}); err == nil {
		t.Error("New accepts a nil handler")
	}
	bad := DefaultConfig("127.0.0.1")
	bad.Window = 0
	if _, err := New(handle, bad, Options{}); err == nil || !strings.Contains(err.Error(), "relp config: window:") {
		t.Errorf("New with a bad config: %v", err)
	}
	disabled := DefaultConfig("127.0.0.1")
	disabled.Addr = ""
	s, err := New(handle, disabled, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil {
		t.Error("Listen with an empty addr")
	}
	if s.Addr() != nil || s.TLS() {
		t.Error("Addr or TLS before Listen")
	}
	_ = s.Close()
}
