package lumberjack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"

	"github.com/sluice-siem/sluice/internal/servertls"
)

// pki is a test CA and what it signed.
type pki struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	pool   *x509.CertPool
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{caCert: cert, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(cert)
	p.caFile = writePEM(t, name+"-ca.pem", "CERTIFICATE", der)
	return p
}

// issue signs a certificate for the server (127.0.0.1) or a client, and returns it with
// the paths of its PEM files.
func (p *pki) issue(t *testing.T, cn string, server bool) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := writePEM(t, cn+".pem", "CERTIFICATE", der)
	keyFile := writePEM(t, cn+"-key.pem", "EC PRIVATE KEY", keyDER)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certFile, keyFile
}

func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLS runs go-lumber clients over TLS against each client_auth mode (Logstash's
// ssl_verify_mode): a client without a valid certificate is refused when verification
// is required, and nothing it sent is ingested.
func TestTLS(t *testing.T) {
	ca := newPKI(t, "test")
	other := newPKI(t, "other")
	_, certFile, keyFile := ca.issue(t, "sluice", true)
	client, _, _ := ca.issue(t, "filebeat-01", false)
	stranger, _, _ := other.issue(t, "mallory", false)

	dial := func(addr string, cert *tls.Certificate, version uint16) func(string, string) (net.Conn, error) {
		return func(network, _ string) (net.Conn, error) {
			conf := &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1", MaxVersion: version}
			if cert != nil {
				// Present the certificate even when the server's CA list does not
				// name its issuer (a client would otherwise send none).
				conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
			}
			return tls.Dial(network, addr, conf)
		}
	}
	for _, tc := range []struct {
		name    string
		verify  string
		cert    *tls.Certificate
		version uint16
		ok      bool
	}{
		{"none without certificate", "none", nil, 0, true},
		{"optional without certificate", "optional", nil, 0, true},
		{"optional with certificate", "optional", &client, 0, true},
		{"optional with untrusted certificate", "optional", &stranger, 0, false},
		{"required with certificate", "required", &client, 0, true},
		{"required with certificate over TLS 1.2", "required", &client, tls.VersionTLS12, true},
		{"required without certificate", "required", nil, 0, false},
		{"required without certificate over TLS 1.2", "required", nil, tls.VersionTLS12, false},
		{"required with untrusted certificate", "required", &stranger, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			cfg := testConfig()
			cfg.TLS = servertls.Config{CertFile: certFile, KeyFile: keyFile, ClientAuth: tc.verify}
			if tc.verify != "none" {
				cfg.TLS.ClientCAFile = ca.caFile
			}
			h := start(t, rec, cfg)
			evs := events(0, 5)
			c, err := lj.SyncDialWith(dial(h.addr, tc.cert, tc.version), h.addr, lj.Timeout(5*time.Second), lj.CompressionLevel(3))
			if err == nil {
				var n int
				n, err = c.Send(evs)
				if err == nil && n != len(evs) {
					t.Fatalf("ACKed %d of %d", n, len(evs))
				}
				c.Close()
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				docsEqual(t, rec.snapshot(), wantDocs(t, evs))
				if tc.cert != nil && !strings.Contains(h.logs.String(), `"client":"filebeat-01"`) {
					t.Error("the client certificate's name is not in the log")
				}
				return
			}
			if err == nil {
				t.Fatal("client without a valid certificate was served")
			}
			if rec.count() != 0 {
				t.Fatalf("%d events ingested from a refused client", rec.count())
			}
			eventually(t, "the failed handshake counted", func() bool {
				return h.counter(t, "sluice_lumberjack_connections_opened", "result", "handshake_failed") == 1
			})
			// The counter and the log line are written one after the other: wait for both.
			eventually(t, "a log line for the refused client", func() bool {
				return strings.Contains(h.logs.String(), "lumberjack tls handshake failed")
			})
		})
	}
}

// TestTLSRefusesOldVersionsAndPlaintext: TLS 1.1 and plaintext clients are refused, and
// a client that never finishes the handshake is closed after handshake_timeout.
func TestTLSRefusesOldVersionsAndPlaintext(t *testing.T) {
	ca := newPKI(t, "test")
	_, certFile, keyFile := ca.issue(t, "sluice", true)
	rec := newRecorder()
	cfg := testConfig()
	cfg.TLS = servertls.Config{CertFile: certFile, KeyFile: keyFile, ClientAuth: "none"}
	cfg.HandshakeTimeout = 300 * time.Millisecond
	h := start(t, rec, cfg)

	if c, err := tls.Dial("tcp", h.addr, &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS11, ServerName: "127.0.0.1"}); err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}
	plain, err := lj.SyncDial(h.addr, lj.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Send(events(0, 1)); err == nil {
		t.Error("plaintext client served by a TLS listener")
	}
	plain.Close()
	silent, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	began := time.Now()
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("silent client got data")
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("silent client closed after %v, want about the handshake timeout", took)
	}
	if rec.count() != 0 {
		t.Fatalf("%d events ingested", rec.count())
	}
}
