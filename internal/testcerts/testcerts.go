// Package testcerts makes a throwaway PKI for tests of TLS and mutual TLS: a CA, a
// server certificate for localhost and 127.0.0.1, a client certificate the CA signed,
// and a client certificate from another CA, written as PEM files in a test's temporary
// directory.
package testcerts

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
	"testing"
	"time"
)

// Set is a CA and the certificates it signed, with their PEM files.
type Set struct {
	// CAFile holds the CA certificate: the client CA for servers, the root for clients.
	CAFile string
	// ServerCert and ServerKey are the server's files (localhost, 127.0.0.1, ::1).
	ServerCert, ServerKey string
	// Client is a client certificate the CA signed; Stranger is one it did not.
	Client, Stranger tls.Certificate
	// Roots trusts the CA.
	Roots *x509.CertPool
}

// New makes a Set in t.TempDir().
func New(t testing.TB) *Set {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := issue(t, "sluice test CA", nil, nil, true)
	s := &Set{CAFile: filepath.Join(dir, "ca.pem"), Roots: x509.NewCertPool()}
	s.Roots.AddCert(caCert)
	writePEM(t, s.CAFile, "CERTIFICATE", caCert.Raw)

	srvKey, srvCert := issue(t, "localhost", caCert, caKey, false)
	s.ServerCert, s.ServerKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	writePEM(t, s.ServerCert, "CERTIFICATE", srvCert.Raw)
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, s.ServerKey, "PRIVATE KEY", keyDER)

	cliKey, cliCert := issue(t, "shipper", caCert, caKey, false)
	s.Client = tls.Certificate{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey, Leaf: cliCert}
	otherCAKey, otherCA := issue(t, "other CA", nil, nil, true)
	strKey, strCert := issue(t, "stranger", otherCA, otherCAKey, false)
	s.Stranger = tls.Certificate{Certificate: [][]byte{strCert.Raw}, PrivateKey: strKey, Leaf: strCert}
	return s
}

// ClientConfig returns a client TLS configuration that trusts the CA and presents
// cert, if given.
func (s *Set) ClientConfig(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: s.Roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func issue(t testing.TB, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
