package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/config"
)

// selfSigned writes a self-signed ECDSA certificate and its key as PEM into a temporary
// directory and returns their paths. The certificate also serves as a client CA.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice-test"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSLoadOff(t *testing.T) {
	c, err := config.TLS{ClientAuth: "required", ClientCAFile: "/nonexistent"}.Load()
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
			c, err := config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: tc.ca, ClientAuth: tc.clientAuth}.Load()
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
	cert, key := selfSigned(t)
	server, err := config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: cert, ClientAuth: "required"}.Load()
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

	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(cert)
	roots.AppendCertsFromPEM(pemBytes)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12,
	})
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
		tls  config.TLS
		file string
	}{
		{"missing cert", config.TLS{CertFile: missing, KeyFile: key}, missing},
		{"missing key", config.TLS{CertFile: cert, KeyFile: missing}, missing},
		{"key is not a key", config.TLS{CertFile: cert, KeyFile: notPEM}, notPEM},
		{"missing CA", config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: missing, ClientAuth: "required"}, missing},
		{"CA not PEM", config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: notPEM, ClientAuth: "required"}, notPEM},
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
