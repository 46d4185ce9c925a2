package relp

import (
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/sluice-siem/sluice/internal/servertls"
	"github.com/sluice-siem/sluice/internal/testcerts"
)

func TestTLS(t *testing.T) {
	certs := testcerts.New(t)
	ts := startServer(t, func(cfg *Config, o *Options) {
		cfg.TLS = servertls.Config{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientAuth: "none"}
	})
	if !ts.srv.TLS() {
		t.Fatal("TLS() is false")
	}
	c := dial(t, ts.addr, certs.ClientConfig(nil))
	c.open()
	c.expectOK(c.send("syslog", msg(1)))
	c.expectOK(c.send("close", ""))
	if got := ts.rec.got(); !slices.Equal(got, []string{msg(1)}) {
		t.Errorf("handler got %q", got)
	}
}

// TestMutualTLS: with client_auth required, a client certificate from the configured CA
// is served (its name reaches the handler); a stranger's certificate, or none, is
// refused in the handshake and never reaches the handler.
func TestMutualTLS(t *testing.T) {
	certs := testcerts.New(t)
	ts := startServer(t, func(cfg *Config, o *Options) {
		cfg.TLS = servertls.Config{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CAFile, ClientAuth: "required"}
	})
	c := dial(t, ts.addr, certs.ClientConfig(&certs.Client))
	c.open()
	c.expectOK(c.send("syslog", msg(1)))
	ts.rec.mu.Lock()
	clients := slices.Clone(ts.rec.clients)
	ts.rec.mu.Unlock()
	if !slices.Equal(clients, []string{"shipper"}) {
		t.Errorf("handler saw clients %q, want the certificate's name", clients)
	}

	for name, cert := range map[string]*tls.Certificate{"stranger": &certs.Stranger, "no certificate": nil} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, ts.addr, certs.ClientConfig(cert))
			// TLS 1.3 clients finish their handshake before the server checks the
			// certificate: the refusal shows on the first read or write.
			_, werr := c.nc.Write(frame(1, "open", openOffers))
			if werr == nil {
				if f, err := c.readErr(5 * time.Second); err == nil {
					t.Fatalf("a %s was answered: %v", name, f)
				}
			}
		})
	}
	eventually(t, "the refused handshakes", func() bool {
		return ts.counter(t, "sluice_relp_connections_opened", attribute.String("result", "handshake_failed")) == 2
	})
	if n := ts.rec.callCount(); n != 1 {
		t.Errorf("%d handler calls, want 1 (strangers never reach it)", n)
	}
}
