// Package servertls is the TLS setup every listener shares (HTTP, gRPC, lumberjack):
// the settings as they stand in the configuration, and the server tls.Config they
// make. It sits below the receivers, so that a receiver needs no import of config.
package servertls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Config is a listener's TLS setup, plain data in the configuration file.
type Config struct {
	CertFile     string `yaml:"cert_file" doc:"PEM certificate chain"`
	KeyFile      string `yaml:"key_file" doc:"PEM private key"`
	ClientCAFile string `yaml:"client_ca_file" doc:"PEM CAs for client certificates (mutual TLS)"`
	// ClientAuth is none, optional or required (client certificates).
	ClientAuth string `yaml:"client_auth" doc:"none | optional | required: client certificates"`
}

// Validate reports every problem of the settings at once, each with its field's name:
// a certificate without its key, a client_auth that is not none, optional or required
// or that has no CAs to check against, and files that cannot be read.
func (t Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		bad("key_file", "required with cert_file")
	case t.CertFile == "" && t.KeyFile != "":
		bad("cert_file", "required with key_file")
	}
	switch t.ClientAuth {
	case "", "none":
	case "optional", "required":
		if t.ClientCAFile == "" {
			bad("client_ca_file", "required when client_auth is %s", t.ClientAuth)
		}
		if !t.Enabled() {
			bad("client_auth", "%s needs cert_file and key_file", t.ClientAuth)
		}
	default:
		bad("client_auth", "must be none, optional or required, not %q", t.ClientAuth)
	}
	for _, f := range []struct{ name, file string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"client_ca_file", t.ClientCAFile}} {
		if f.file != "" {
			if _, err := os.Stat(f.file); err != nil {
				bad(f.name, "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// Enabled reports whether TLS is configured.
func (t Config) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Load builds the server TLS configuration: TLS 1.2 or later, the certificate and key,
// and client certificate checking as ClientAuth says. It returns nil when TLS is off.
func (t Config) Load() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read client CA %s: no PEM certificates in it", t.ClientCAFile)
		}
		c.ClientCAs = pool
	}
	switch t.ClientAuth {
	case "optional":
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		c.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		c.ClientAuth = tls.NoClientCert
	}
	return c, nil
}
