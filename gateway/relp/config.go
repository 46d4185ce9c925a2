package relp

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/confpath"
	"github.com/sluice-siem/sluice/internal/servertls"
	"github.com/sluice-siem/sluice/stream"
)

// Bounds of the settings: what Validate accepts.
const (
	// MaxMessageBytesLimit is the largest max_message_bytes: one syslog message.
	MaxMessageBytesLimit = bytesize.MiB
	// MaxBatchBytesLimit is the largest max_batch_bytes: what one connection holds.
	MaxBatchBytesLimit = 64 * bytesize.MiB
	// MaxWindow is the largest window: transactions read ahead of their responses.
	MaxWindow = 4096
)

// Config configures the RELP receiver (rsyslog's omrelp, librelp clients); the receiver
// owns it, and the configuration file holds it under relp:. RELP has no field for an
// API key, so gateway.auth.keys do not apply to it: clients are authenticated by mutual
// TLS (tls.client_auth: required with tls.client_ca_file), and Types bounds the log types
// every RELP connection may send.
type Config struct {
	// Addr is host:port; empty disables the receiver. DefaultConfig listens on port
	// 2514, the port of rsyslog's RELP examples (RELP has no IANA port).
	Addr string `yaml:"addr" doc:"host:port to listen on; empty disables"`
	// TLS is the server certificate and, for mutual TLS, the client CA: client_auth
	// required makes every client present a certificate the CA signed (omrelp's
	// tls.mycert and tls.myprivkey), the way RELP clients are authenticated.
	TLS servertls.Config `yaml:"tls" doc:"TLS; off unless cert_file and key_file are set; client_auth required with client_ca_file is mutual TLS, the way to authenticate RELP clients"`
	// MaxConnections bounds the open connections; more are closed at once. Memory is
	// bounded by about MaxConnections x (MaxBatchBytes + MaxMessageBytes + 64 KiB).
	MaxConnections int `yaml:"max_connections" doc:"most open connections; more are closed at once"`
	// IdleTimeout closes (with a serverclose hint) a connection that sends no command
	// this long; 0 never does. rsyslog reconnects by itself when it next has a message,
	// and resends what was not answered.
	IdleTimeout time.Duration `yaml:"idle_timeout" doc:"close a connection that sends no command this long (serverclose hint first); 0 never"`
	// HandshakeTimeout bounds the start of a connection: the TLS handshake and the
	// arrival of the open command.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout" doc:"longest TLS handshake plus wait for the open command of a new connection"`
	// ReadTimeout bounds the wait for the rest of a frame once it has started, and the
	// write of responses.
	ReadTimeout time.Duration `yaml:"read_timeout" doc:"longest wait for the rest of a started frame, and for writing responses"`
	// MaxMessageBytes bounds a frame's DATALEN: one syslog message (or the offers of
	// open). A larger DATALEN is answered 500 with the reason, and the connection is
	// closed, before any of its data is read. rsyslog sends at most its maxMessageSize
	// (8 KiB by default).
	MaxMessageBytes bytesize.Size `yaml:"max_message_bytes" doc:"largest DATALEN of a frame (one syslog message, at most 1MiB); larger is answered 500 and the connection closed"`
	// MaxBatchBytes bounds the message bytes one connection reads ahead of its
	// responses: a batch handed to the handler holds at most this plus one message.
	MaxBatchBytes bytesize.Size `yaml:"max_batch_bytes" doc:"most message bytes a connection reads ahead of its responses (one batch for the handler); at least max_message_bytes"`
	// Window is the most transactions a connection reads ahead of their responses: the
	// most messages of one batch. rsyslog's default window is 128; a client with a
	// larger window is simply not read beyond this one until it is answered. It must not
	// exceed gateway.limits.max_batch_events.
	Window int `yaml:"window" doc:"most transactions read ahead of their responses per connection (rsyslog's default window is 128); at most gateway.limits.max_batch_events"`
	// RetryTimeout bounds how long a batch the stream refuses as overloaded or
	// unavailable is retried on its connection (the client is not read meanwhile: it
	// waits for its window). Then the connection is closed without answering the
	// refused transactions, and the client resends them on a new connection. Keep it
	// below the client's response timeout (omrelp's timeout, 90s by default).
	RetryTimeout time.Duration `yaml:"retry_timeout" doc:"how long a batch the stream refuses as busy is retried before its connection is closed unanswered (the client resends); below omrelp's timeout (90s)"`
	// Types are the log types RELP clients may send; "*" allows all.
	Types []string `yaml:"types" doc:"log types RELP clients may send; [\"*\"] allows all"`
}

// DefaultConfig returns the receiver's defaults, listening on host:2514. The caller
// picks the host: 127.0.0.1 for a developer's machine, 0.0.0.0 in deployments.
func DefaultConfig(host string) Config {
	return Config{
		Addr:             net.JoinHostPort(host, "2514"),
		TLS:              servertls.Config{ClientAuth: "none"},
		MaxConnections:   512,
		IdleTimeout:      5 * time.Minute,
		HandshakeTimeout: 10 * time.Second,
		ReadTimeout:      30 * time.Second,
		MaxMessageBytes:  64 * bytesize.KiB,
		MaxBatchBytes:    bytesize.MiB,
		Window:           128,
		RetryTimeout:     60 * time.Second,
		Types:            []string{"*"},
	}
}

// Validate reports every problem of the receiver's settings, its address and TLS
// included, each with its path in the section; the configuration adds the section's
// path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if c.Addr != "" && !validAddr(c.Addr) {
		bad("addr", "want host:port with a port from 0 to 65535, not %q", c.Addr)
	}
	if c.MaxConnections <= 0 {
		bad("max_connections", "must be positive, not %d", c.MaxConnections)
	}
	if c.IdleTimeout < 0 {
		bad("idle_timeout", "must not be negative")
	}
	if c.HandshakeTimeout <= 0 {
		bad("handshake_timeout", "must be positive")
	}
	if c.ReadTimeout <= 0 {
		bad("read_timeout", "must be positive")
	}
	if c.MaxMessageBytes <= 0 || c.MaxMessageBytes > MaxMessageBytesLimit {
		bad("max_message_bytes", "must be 1 to %s, not %s", MaxMessageBytesLimit, c.MaxMessageBytes)
	}
	switch {
	case c.MaxBatchBytes <= 0 || c.MaxBatchBytes > MaxBatchBytesLimit:
		bad("max_batch_bytes", "must be 1 to %s, not %s", MaxBatchBytesLimit, c.MaxBatchBytes)
	case c.MaxBatchBytes < c.MaxMessageBytes:
		bad("max_batch_bytes", "%s is less than max_message_bytes %s", c.MaxBatchBytes, c.MaxMessageBytes)
	}
	if c.Window <= 0 || c.Window > MaxWindow {
		bad("window", "must be 1 to %d, not %d", MaxWindow, c.Window)
	}
	if c.RetryTimeout <= 0 {
		bad("retry_timeout", "must be positive")
	}
	if len(c.Types) == 0 {
		bad("types", "required: the log types RELP clients may send, or [\"*\"]")
	}
	for i, t := range c.Types {
		if t != "*" && !stream.ValidType(t) {
			bad(fmt.Sprintf("types[%d]", i), "invalid log type name %q", t)
		}
	}
	errs = append(errs, confpath.Prefix("tls.", c.TLS.Validate()))
	return errors.Join(errs...)
}

// validAddr accepts host:port with a port from 0 to 65535 (0 picks a free port).
func validAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}
