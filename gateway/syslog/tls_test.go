package syslog

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/testcerts"
)

func tlsConfig(certs *testcerts.Set, clientAuth string) Config {
	cfg := testConfig()
	cfg.TLS.Addr = "127.0.0.1:0"
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certs.ServerCert, certs.ServerKey
	cfg.TLS.ClientAuth = clientAuth
	if clientAuth != "none" {
		cfg.TLS.ClientCAFile = certs.CAFile
	}
	return cfg
}

// TestTLSMutual: with client_auth required, a sender with a certificate of the client
// CA is served (RFC 5425 on its own listener, beside plain TCP); one without a
// certificate or with a stranger's is refused at the handshake and counted.
func TestTLSMutual(t *testing.T) {
	certs := testcerts.New(t)
	rec := newRecorder()
	h := start(t, rec, tlsConfig(certs, "required"))
	if h.tls == "" || h.tls == h.tcp {
		t.Fatalf("tls %q, tcp %q: want separate listeners", h.tls, h.tcp)
	}
	c, err := tls.Dial("tcp", h.tls, certs.ClientConfig(&certs.Client))
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, octet(iptablesLine, rfc5424SD))
	_ = c.Close()
	plain := dial(t, h.tcp)
	write(t, plain, "<13>plain\n")
	eventually(t, "three messages", func() bool { return rec.count() == 3 })
	if n := h.counter(t, "sluice_syslog_messages", "listener", "tls", "result", "accepted"); n != 2 {
		t.Errorf("tls accepted %d, want 2", n)
	}
	if !strings.Contains(h.logs.String(), `"client":"shipper"`) {
		t.Error("the client certificate's name is not in the connection's log lines")
	}

	for _, cert := range []*tls.Certificate{nil, &certs.Stranger} {
		c, err := tls.Dial("tcp", h.tls, certs.ClientConfig(cert))
		if err == nil {
			// TLS 1.3: the client learns of the refusal on its first read.
			_, _ = io.WriteString(c, "<13>refused\n")
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err = c.Read(make([]byte, 1))
			_ = c.Close()
		}
		if err == nil {
			t.Fatal("a sender without a valid client certificate was served")
		}
	}
	eventually(t, "refused handshakes counted", func() bool {
		return h.counter(t, "sluice_syslog_connections_opened", "listener", "tls", "result", "handshake_failed") == 2
	})
	if rec.count() != 3 {
		t.Errorf("%d messages, want 3", rec.count())
	}
}

// TestTLSWithoutClientCert: with client_auth none, any TLS sender is served.
func TestTLSWithoutClientCert(t *testing.T) {
	certs := testcerts.New(t)
	rec := newRecorder()
	h := start(t, rec, tlsConfig(certs, "none"))
	c, err := tls.Dial("tcp", h.tls, certs.ClientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, lf(suricataLine))
	_ = c.Close()
	eventually(t, "the message", func() bool { return rec.count() == 1 })
}

// TestTLSHandshakeTimeout: a connection that never starts its handshake is closed
// after tls.handshake_timeout.
func TestTLSHandshakeTimeout(t *testing.T) {
	certs := testcerts.New(t)
	cfg := tlsConfig(certs, "none")
	cfg.TLS.HandshakeTimeout = 200 * time.Millisecond
	h := start(t, newRecorder(), cfg)
	c, err := net.Dial("tcp", h.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closedWithin(t, c, 2*time.Second)
}
