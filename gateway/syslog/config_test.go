package syslog

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/testcerts"
)

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig("0.0.0.0")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxMessageBytes != 64*bytesize.KiB || cfg.UDP.QueueMessages != 10000 || cfg.DefaultType != "syslog" || cfg.TLS.Addr != "" {
		t.Errorf("defaults: %+v", cfg)
	}
	if !cfg.Enabled() {
		t.Error("defaults listen on nothing")
	}
}

// TestValidateReportsEveryProblem: every problem at once, each with its path in the
// section.
func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{
		TCP:             TCPConfig{Addr: "nope", MaxConnections: 0, IdleTimeout: -time.Second},
		TLS:             TLSConfig{Addr: "127.0.0.1:6514", MaxConnections: -1, IdleTimeout: -1, ClientAuth: "sometimes"},
		UDP:             UDPConfig{Addr: "127.0.0.1:99999", ReadBufferBytes: -1, QueueMessages: 0, QueueBytes: 100, Workers: 0},
		MaxMessageBytes: 2 * bytesize.MiB,
		BatchEvents:     0,
		BatchBytes:      0,
		BatchLinger:     2 * time.Second,
		Rules:           []Rule{{Type: "", Match: "["}},
		DefaultType:     "BAD",
		Types:           []string{"ok", "Not OK"},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, path := range []string{
		"tcp.addr:", "tcp.max_connections:", "tcp.idle_timeout:",
		"tls.max_connections:", "tls.idle_timeout:", "tls.handshake_timeout:", "tls.cert_file:", "tls.client_auth:",
		"udp.addr:", "udp.read_buffer_bytes:", "udp.queue_messages:", "udp.queue_bytes:", "udp.workers:",
		"max_message_bytes:", "batch_events:", "batch_bytes:", "batch_linger:",
		"rules[0].type:", "rules[0].match:", "default_type:", "types[1]:",
	} {
		if !strings.Contains(err.Error(), path) {
			t.Errorf("no problem at %s in:\n%v", path, err)
		}
	}
	if strings.Contains(err.Error(), "types[0]") {
		t.Errorf("types[0] is valid:\n%v", err)
	}
	cfg = DefaultConfig("127.0.0.1")
	cfg.Types = nil
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "types: required") {
		t.Errorf("no types: %v", err)
	}
}

func TestValidateTLS(t *testing.T) {
	certs := testcerts.New(t)
	cfg := DefaultConfig("127.0.0.1")
	cfg.TLS.Addr = cfg.TCP.Addr
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certs.ServerCert, certs.ServerKey
	cfg.TLS.ClientAuth = "required"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "tls.addr: same address as tcp.addr") || !strings.Contains(err.Error(), "tls.client_ca_file: required") {
		t.Errorf("Validate: %v", err)
	}
	cfg.TLS.Addr = "127.0.0.1:6514"
	cfg.TLS.ClientCAFile = certs.CAFile
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}
