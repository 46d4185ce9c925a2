package servertls_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/internal/servertls"
	"github.com/sluice-siem/sluice/internal/testcerts"
)

// selfSigned returns a server certificate and key, and the CA that signed them, from a
// throwaway PKI.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	pki := testcerts.New(t)
	return pki.ServerCert, pki.ServerKey
}

func TestTLSLoadOff(t *testing.T) {
	c, err := servertls.Config{ClientAuth: "required", ClientCAFile: "/nonexistent"}.Load()
	if c != nil || err != nil {
		t.Fatalf("TLS without cert and key: %v, %v; want nil, nil", c, err)
	}
}

func TestTLSLoadClientAuth(t *testing.T) {
	cert, key := selfSigned(t)
	for _, tc := range []struct {
		clientAuth string
		ca         string
		want       tls.ClientAuthType
	}{
		{"", "", tls.NoClientCert},
		{"none", "", tls.NoClientCert},
		{"optional", cert, tls.VerifyClientCertIfGiven},
		{"required", cert, tls.RequireAndVerifyClientCert},
	} {
		t.Run("client_auth="+tc.clientAuth, func(t *testing.T) {
			c, err := servertls.Config{CertFile: cert, KeyFile: key, ClientCAFile: tc.ca, ClientAuth: tc.clientAuth}.Load()
			if err != nil {
				t.Fatal(err)
			}
			if c.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %#x, want TLS 1.2", c.MinVersion)
			}
			if len(c.Certificates) != 1 || len(c.Certificates[0].Certificate) != 1 {
				t.Errorf("Certificates = %d, want the one loaded", len(c.Certificates))
			}
			if c.ClientAuth != tc.want {
				t.Errorf("ClientAuth = %v, want %v", c.ClientAuth, tc.want)
			}
			if (c.ClientCAs != nil) != (tc.ca != "") {
				t.Errorf("ClientCAs set = %v, want %v", c.ClientCAs != nil, tc.ca != "")
			}
		})
	}
}

// The loaded configuration really serves TLS, and with client_auth required it
// accepts a client holding a certificate from the CA.
func TestTLSLoadHandshake(t *testing.T) {
	pki := testcerts.New(t)
	server, err := servertls.Config{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ClientCAFile: pki.CAFile, ClientAuth: "required"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		done <- conn.(*tls.Conn).Handshake()
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), pki.ClientConfig(&pki.Client))
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

func TestTLSLoadErrorsNameTheFile(t *testing.T) {
	cert, key := selfSigned(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  servertls.Config
		file string
	}{
		{"missing cert", servertls.Config{CertFile: missing, KeyFile: key}, missing},
		{"missing key", servertls.Config{CertFile: cert, KeyFile: missing}, missing},
		{"key is not a key", servertls.Config{CertFile: cert, KeyFile: notPEM}, notPEM},
		{"missing CA", servertls.Config{CertFile: cert, KeyFile: key, ClientCAFile: missing, ClientAuth: "required"}, missing},
		{"CA not PEM", servertls.Config{CertFile: cert, KeyFile: key, ClientCAFile: notPEM, ClientAuth: "required"}, notPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.tls.Load()
			if err == nil {
				t.Fatalf("Load succeeded: %v", c)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name %s", err, tc.file)
			}
		})
	}
}
