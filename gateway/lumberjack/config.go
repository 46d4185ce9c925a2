package lumberjack

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/confpath"
	"github.com/sluice-siem/sluice/internal/netlimit"
	"github.com/sluice-siem/sluice/internal/servertls"
	"github.com/sluice-siem/sluice/stream"
)

// Config configures the Beats/lumberjack v2 receiver (Filebeat's output.logstash); the
// receiver owns it, and the configuration file holds it under lumberjack:.
// Lumberjack has no header for an API key, so gateway.auth.keys do not apply to it:
// shippers are authenticated by mutual TLS (tls.client_auth: required), and Types
// bounds the log types every lumberjack connection may send.
type Config struct {
	// Addr is host:port; empty disables the receiver.
	Addr string `yaml:"addr" doc:"host:port to listen on; empty disables"`
	// TLS is the server certificate and, for mutual TLS, the client CA. ClientAuth is
	// what Logstash's beats input calls ssl_verify_mode: none, optional or required.
	TLS servertls.Config `yaml:"tls" doc:"TLS; off unless cert_file and key_file are set; client_auth required is mutual TLS, the way to authenticate shippers"`
	// IdleTimeout closes a connection that starts no window this long; 0 never does.
	IdleTimeout time.Duration `yaml:"idle_timeout" doc:"close a connection that starts no window this long; 0 never"`
	// HandshakeTimeout bounds the TLS handshake.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout" doc:"longest TLS handshake"`
	// ReadTimeout bounds the wait for the next bytes of a window once it has started,
	// and the write of an ACK.
	ReadTimeout time.Duration `yaml:"read_timeout" doc:"longest wait for the next bytes of a started window, and for writing an ACK"`
	// MaxConnections bounds the open connections; more are closed at once. Memory is
	// bounded by about MaxConnections x 1.5 MiB while every connection is mid-window.
	MaxConnections int `yaml:"max_connections" doc:"most open connections; more are closed at once"`
	// MaxWindowEvents is the largest window (events sent before waiting for an ACK) a
	// client may announce; Filebeat's bulk_max_size (2048 by default) must not exceed it.
	// Windows are ingested in parts, so it does not bound memory.
	MaxWindowEvents int `yaml:"max_window_events" doc:"largest window a client may announce (Filebeat bulk_max_size); larger closes the connection"`
	// MaxFrameBytes bounds a frame as declared on the wire: one JSON event, or one
	// compressed frame (usually a whole window).
	MaxFrameBytes bytesize.Size `yaml:"max_frame_bytes" doc:"largest frame on the wire: a JSON event or a compressed frame; larger closes the connection"`
	// MaxDecodedFrameBytes bounds the content of one compressed frame after
	// decompression: a zlib bomb stops here.
	MaxDecodedFrameBytes bytesize.Size `yaml:"max_decoded_frame_bytes" doc:"largest content of a compressed frame after decompression; larger closes the connection"`
	// KeepaliveInterval is how often a window that waits for the stream gets an ACK
	// that does not advance (a keepalive), so the shipper does not time out.
	KeepaliveInterval time.Duration `yaml:"keepalive_interval" doc:"while a window waits for the stream, send a keepalive ACK this often (well below Filebeat's 30s timeout)"`
	// KeepMetadata keeps the @metadata object Beats add to every event.
	KeepMetadata bool `yaml:"keep_metadata" doc:"keep the @metadata object Beats add to every event (dropped by default)"`
	// Types are the log types lumberjack clients may send; "*" allows all.
	Types []string `yaml:"types" doc:"log types lumberjack clients may send; [\"*\"] allows all"`
}

// DefaultConfig returns the receiver's defaults, listening on host:5044.
func DefaultConfig(host string) Config {
	return Config{
		Addr:                 host + ":5044",
		TLS:                  servertls.Config{ClientAuth: "none"},
		IdleTimeout:          time.Minute,
		HandshakeTimeout:     10 * time.Second,
		ReadTimeout:          30 * time.Second,
		MaxConnections:       512,
		MaxWindowEvents:      16384,
		MaxFrameBytes:        32 * bytesize.MiB,
		MaxDecodedFrameBytes: 128 * bytesize.MiB,
		KeepaliveInterval:    5 * time.Second,
		Types:                []string{"*"},
	}
}

// Validate reports every problem of the receiver's settings, its address and TLS
// included, each with its path in the section; the configuration adds the section's
// path.
func (l Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if l.Addr != "" {
		if err := netlimit.CheckAddr(l.Addr); err != nil {
			bad("addr", "%v", err)
		}
	}
	if l.IdleTimeout < 0 {
		bad("idle_timeout", "must not be negative")
	}
	if l.HandshakeTimeout <= 0 {
		bad("handshake_timeout", "must be positive")
	}
	if l.ReadTimeout <= 0 {
		bad("read_timeout", "must be positive")
	}
	if l.MaxConnections <= 0 {
		bad("max_connections", "must be positive, not %d", l.MaxConnections)
	}
	if l.MaxWindowEvents <= 0 || l.MaxWindowEvents > 1<<30 {
		bad("max_window_events", "must be 1 to %d, not %d", 1<<30, l.MaxWindowEvents)
	}
	// Frame sizes are uint32 on the wire.
	if l.MaxFrameBytes <= 0 || l.MaxFrameBytes > 1<<32-1 {
		bad("max_frame_bytes", "must be 1 to 4GiB-1, not %d", l.MaxFrameBytes)
	}
	if l.MaxDecodedFrameBytes <= 0 {
		bad("max_decoded_frame_bytes", "must be positive, not %d", l.MaxDecodedFrameBytes)
	} else if l.MaxDecodedFrameBytes < l.MaxFrameBytes {
		bad("max_decoded_frame_bytes", "%s is less than max_frame_bytes %s", l.MaxDecodedFrameBytes, l.MaxFrameBytes)
	}
	if l.KeepaliveInterval <= 0 {
		bad("keepalive_interval", "must be positive")
	}
	if len(l.Types) == 0 {
		bad("types", "required: the log types lumberjack clients may send, or [\"*\"]")
	}
	for i, t := range l.Types {
		if t != "*" && !stream.ValidType(t) {
			bad(fmt.Sprintf("types[%d]", i), "invalid log type name %q", t)
		}
	}
	errs = append(errs, confpath.Prefix("tls.", l.TLS.Validate()))
	return errors.Join(errs...)
}
