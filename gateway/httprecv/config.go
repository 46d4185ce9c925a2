package httprecv

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-siem/sluice/internal/confpath"
	"github.com/sluice-siem/sluice/internal/netlimit"
	"github.com/sluice-siem/sluice/internal/servertls"
)

// Config configures the HTTP listener: in the gateway roles it serves the receiver's
// endpoints (/v1/events, /v1/push, _bulk, /openapi.json) with the operations endpoints
// (/healthz, /readyz, /metrics); in `sluice transform`, the operations endpoints
// alone. cmd/sluice binds and serves it; the handler New returns does not read it.
type Config struct {
	// Addr is host:port; empty disables the listener.
	Addr string           `yaml:"addr" doc:"host:port to listen on; empty disables"`
	TLS  servertls.Config `yaml:"tls" doc:"TLS; off unless cert_file and key_file are set"`
	// ReadTimeout bounds reading one request, body included.
	ReadTimeout time.Duration `yaml:"read_timeout" doc:"longest time to read one request, body included"`
	// IdleTimeout closes connections idle this long.
	IdleTimeout time.Duration `yaml:"idle_timeout" doc:"close connections idle this long"`
	// MaxConnections bounds the open connections; more are closed at once.
	MaxConnections int `yaml:"max_connections" doc:"most open connections; more are closed at once"`
}

// DefaultConfig returns the listener's defaults, listening on host:8080.
func DefaultConfig(host string) Config {
	return Config{
		Addr:           host + ":8080",
		TLS:            servertls.Config{ClientAuth: "none"},
		ReadTimeout:    time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxConnections: 1024,
	}
}

// Validate reports every problem of the listener's settings, its address and TLS
// included, each with its path in the section; the configuration adds the section's
// path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if c.Addr != "" {
		if err := netlimit.CheckAddr(c.Addr); err != nil {
			bad("addr", "%v", err)
		}
	}
	if c.ReadTimeout < 0 {
		bad("read_timeout", "must not be negative")
	}
	if c.IdleTimeout < 0 {
		bad("idle_timeout", "must not be negative")
	}
	if c.MaxConnections <= 0 {
		bad("max_connections", "must be positive, not %d", c.MaxConnections)
	}
	errs = append(errs, confpath.Prefix("tls.", c.TLS.Validate()))
	return errors.Join(errs...)
}
