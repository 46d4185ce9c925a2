package grpcrecv

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-siem/sluice/internal/confpath"
	"github.com/sluice-siem/sluice/internal/netlimit"
	"github.com/sluice-siem/sluice/internal/servertls"
)

// Config configures the gRPC listener (sluice.v1.IngestService, health, reflection): its
// address and TLS, and the bounds that make a hostile client's connections, calls and
// pings cost a known amount.
type Config struct {
	// Addr is host:port; empty disables the listener.
	Addr string           `yaml:"addr" doc:"host:port to listen on; empty disables"`
	TLS  servertls.Config `yaml:"tls" doc:"TLS; off unless cert_file and key_file are set"`
	// ReadTimeout bounds the start of a connection: the TLS handshake and the HTTP/2
	// preface. A connection that stays silent is closed after it.
	ReadTimeout time.Duration `yaml:"read_timeout" doc:"longest TLS handshake and HTTP/2 preface of a new connection; a silent connection is closed after it"`
	// IdleTimeout closes a connection without calls this long (with a GOAWAY, so the
	// client reconnects when it needs to).
	IdleTimeout time.Duration `yaml:"idle_timeout" doc:"close a connection without calls this long (GOAWAY); 0 never"`
	// MaxConnections bounds the open connections; more are closed at once.
	MaxConnections int `yaml:"max_connections" doc:"most open connections; more are closed at once"`
	// MaxConcurrentStreams bounds the calls open at once on one connection; the server
	// announces it, and refuses streams past it (REFUSED_STREAM).
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams" doc:"most calls open at once on one connection; more are refused"`
	// KeepaliveTime is how long a connection may be silent before the server pings it,
	// to find peers that are gone.
	KeepaliveTime time.Duration `yaml:"keepalive_time" doc:"ping a connection silent this long, to find clients that are gone"`
	// KeepaliveTimeout closes a connection whose ping is not answered in this time.
	KeepaliveTimeout time.Duration `yaml:"keepalive_timeout" doc:"close a connection whose ping is not answered this long"`
	// KeepaliveMinTime is the shortest interval between a client's pings: a client
	// that pings more often, or pings without a call open, is disconnected (GOAWAY
	// too_many_pings). Clients' keepalive time must not be shorter.
	KeepaliveMinTime time.Duration `yaml:"keepalive_min_time" doc:"shortest interval between a client's keepalive pings; pinging more often or without a call open closes the connection (GOAWAY too_many_pings)"`
}

// DefaultConfig returns the receiver's defaults, listening on host:9090.
func DefaultConfig(host string) Config {
	return Config{
		Addr:                 host + ":9090",
		TLS:                  servertls.Config{ClientAuth: "none"},
		ReadTimeout:          10 * time.Second,
		IdleTimeout:          2 * time.Minute,
		MaxConnections:       1024,
		MaxConcurrentStreams: 64,
		KeepaliveTime:        time.Minute,
		KeepaliveTimeout:     20 * time.Second,
		KeepaliveMinTime:     10 * time.Second,
	}
}

// Validate reports every problem of the listener's settings, its address and TLS
// included, each with its path in the section; the configuration adds the section's
// path.
func (g Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if g.Addr != "" {
		if err := netlimit.CheckAddr(g.Addr); err != nil {
			bad("addr", "%v", err)
		}
	}
	if g.ReadTimeout <= 0 {
		bad("read_timeout", "must be positive")
	}
	if g.IdleTimeout < 0 {
		bad("idle_timeout", "must not be negative")
	}
	if g.MaxConnections <= 0 {
		bad("max_connections", "must be positive, not %d", g.MaxConnections)
	}
	if g.MaxConcurrentStreams == 0 {
		bad("max_concurrent_streams", "must be positive")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"keepalive_time", g.KeepaliveTime}, {"keepalive_timeout", g.KeepaliveTimeout}, {"keepalive_min_time", g.KeepaliveMinTime}} {
		if d.v <= 0 {
			bad(d.name, "must be positive")
		}
	}
	if g.KeepaliveTime > 0 && g.KeepaliveTime < time.Second {
		bad("keepalive_time", "must be at least 1s (gRPC's shortest), not %s", g.KeepaliveTime)
	}
	errs = append(errs, confpath.Prefix("tls.", g.TLS.Validate()))
	return errors.Join(errs...)
}
