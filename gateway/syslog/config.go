package syslog

import (
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/confpath"
	"github.com/sluice-siem/sluice/internal/servertls"
	"github.com/sluice-siem/sluice/stream"
)

// Bounds of the settings, checked by Validate.
const (
	// MinMessageBytes is the smallest max_message_bytes: RFC 5424 (section 6.1) has
	// every receiver accept messages of 480 octets.
	MinMessageBytes = 480
	// MaxMessageBytesLimit is the largest max_message_bytes. A message is read whole
	// into a connection's buffer, so this bounds the buffer of every connection.
	MaxMessageBytesLimit = 1 << 20
	// maxQueueMessages bounds udp.queue_messages (the queue is a channel of that size).
	maxQueueMessages = 1 << 20
	// maxWorkers bounds udp.workers.
	maxWorkers = 64
	// maxRules bounds the rules: every message may be tried against each.
	maxRules = 256
)

// Config configures the syslog receiver; the configuration file holds it under
// syslog:. It has three listeners, each off when its address is empty: plain TCP and
// TLS (RFC 6587 framing, octet counting or LF-delimited, detected per connection) and
// UDP (RFC 5426). Syslog has no header for an API key: senders on TLS are
// authenticated by client certificate (tls.client_auth: required), and every message
// acts as its listener's principal ("syslog/tcp", "syslog/tls", "syslog/udp"), allowed
// the listener's own types, else Types.
//
// Each message becomes one event whose log type comes from Rules (first match), else
// DefaultType.
type Config struct {
	// TCP is the plain TCP listener.
	TCP TCPConfig `yaml:"tcp" doc:"plain TCP listener (RFC 6587: octet counting or LF framing, detected per connection)"`
	// TLS is the TLS listener, on its own address.
	TLS TLSConfig `yaml:"tls" doc:"TLS listener (RFC 5425), separate from tcp; client_auth required authenticates senders by certificate"`
	// UDP is the UDP listener.
	UDP UDPConfig `yaml:"udp" doc:"UDP listener (RFC 5426): one datagram, one message; no acknowledgement, so a full queue drops"`
	// MaxMessageBytes bounds one message (its frame, without the octet count or the
	// LF). A TCP frame whose octet count is larger closes the connection, since the
	// framing cannot be resynchronised; a longer LF-delimited line or datagram is
	// discarded and counted.
	MaxMessageBytes bytesize.Size `yaml:"max_message_bytes" doc:"largest message (480B to 1MiB); a larger octet count closes the connection, a longer line or datagram is discarded and counted"`
	// BatchEvents bounds the messages of one Ingest call; gateway.limits.max_batch_events
	// bounds it too.
	BatchEvents int `yaml:"batch_events" doc:"most messages per batch handed to the gateway (also bounded by gateway.limits.max_batch_events)"`
	// BatchBytes bounds the event bytes of one Ingest call (about twice the messages'
	// bytes); half of gateway.limits.max_inflight_bytes bounds it too. With
	// MaxConnections it bounds memory: every busy connection holds up to one batch.
	BatchBytes bytesize.Size `yaml:"batch_bytes" doc:"most event bytes per batch handed to the gateway; every busy connection holds up to one batch"`
	// BatchLinger is the longest a message waits in a batch for more messages before
	// the batch is ingested. On plain TCP a batch is ingested as soon as a read leaves
	// nothing more at hand, so this bounds TLS connections (whose reads return one
	// record at a time and say nothing of the socket) and busy streams; 0 ingests
	// whenever the bytes read are used up.
	// MessageTimeout bounds how long a message, once its first byte arrived, may take
	// to arrive whole: a sender that trickles a message (a byte now and then, each
	// resetting idle_timeout) is cut off after it, so that it cannot hold a connection
	// slot for ever. 0: no bound.
	MessageTimeout time.Duration `yaml:"message_timeout" doc:"longest a started message may take to arrive whole on TCP or TLS; a sender trickling it is disconnected; 0: no bound"`
	BatchLinger    time.Duration `yaml:"batch_linger" doc:"longest a message waits in a batch for more before the batch is ingested (plain TCP ingests as soon as a read leaves nothing at hand); 0: whenever the bytes read are used up"`
	// Rules give messages their log type, first match wins.
	Rules []Rule `yaml:"rules" doc:"log type rules, first match wins: {type, app_name, hostname, facility, match}"`
	// DefaultType is the log type of messages no rule matches; empty leaves it to the
	// gateway's routing (routing.default_type).
	DefaultType string `yaml:"default_type" doc:"log type of messages no rule matches; empty leaves it to gateway.routing.default_type"`
	// Types are the log types syslog messages may be sent as, on every listener whose
	// own types are empty; "*" allows all.
	Types []string `yaml:"types" doc:"log types syslog messages may be sent as on the listeners without types of their own; [\"*\"] allows all"`
}

// TCPConfig is the plain TCP listener.
type TCPConfig struct {
	// Addr is host:port; empty disables the listener.
	Addr string `yaml:"addr" doc:"host:port to listen on; empty disables"`
	// MaxConnections bounds the open connections; more are closed at once. Each
	// holds a read buffer of up to 64 KiB (max_message_bytes when larger) and, while
	// it has messages on their way to the gateway, a batch of up to batch_bytes.
	MaxConnections int `yaml:"max_connections" doc:"most open connections; more are closed at once"`
	// IdleTimeout closes a connection that sends nothing this long; 0 never does.
	IdleTimeout time.Duration `yaml:"idle_timeout" doc:"close a connection that sends nothing this long; 0 never"`
	// Types are the log types this listener's senders may send ("*" all); empty
	// leaves it to syslog.types. Plain TCP authenticates nobody: narrow it to what
	// the devices that need it send.
	Types []string `yaml:"types" doc:"log types this listener's senders may send ([\"*\"] all); empty: syslog.types. Plain TCP authenticates nobody"`
}

// TLSConfig is the TLS listener: a TCP listener with a server certificate, and for
// mutual TLS the CAs of the client certificates.
type TLSConfig struct {
	// Addr is host:port; empty disables the listener. It needs CertFile and KeyFile.
	Addr string `yaml:"addr" doc:"host:port to listen on (RFC 5425 uses 6514); empty disables; needs cert_file and key_file"`
	// MaxConnections bounds the open connections; more are closed at once.
	MaxConnections int `yaml:"max_connections" doc:"most open connections; more are closed at once"`
	// IdleTimeout closes a connection that sends nothing this long; 0 never does.
	IdleTimeout time.Duration `yaml:"idle_timeout" doc:"close a connection that sends nothing this long; 0 never"`
	// HandshakeTimeout bounds the TLS handshake.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout" doc:"longest TLS handshake"`
	// CertFile and KeyFile are the server's PEM certificate chain and key.
	CertFile string `yaml:"cert_file" doc:"PEM certificate chain"`
	KeyFile  string `yaml:"key_file" doc:"PEM private key"`
	// ClientCAFile holds the CAs that sign client certificates (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file" doc:"PEM CAs for client certificates (mutual TLS)"`
	// ClientAuth is none, optional or required (client certificates).
	ClientAuth string `yaml:"client_auth" doc:"none | optional | required: client certificates; required is how senders authenticate"`
	// Types are the log types this listener's senders may send ("*" all); empty
	// leaves it to syslog.types.
	Types []string `yaml:"types" doc:"log types this listener's senders may send ([\"*\"] all); empty: syslog.types"`
}

// serverTLS returns the certificate settings as the shared TLS setup.
func (t TLSConfig) serverTLS() servertls.Config {
	return servertls.Config{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile, ClientAuth: t.ClientAuth}
}

// UDPConfig is the UDP listener. UDP has no acknowledgement and no backpressure: a
// bounded queue sits between the socket and the gateway, and datagrams that find it
// full are dropped and counted (sluice_syslog_udp_dropped).
type UDPConfig struct {
	// Addr is host:port; empty disables the listener.
	Addr string `yaml:"addr" doc:"host:port to listen on; empty disables"`
	// ReadBufferBytes is the socket's receive buffer (SO_RCVBUF), which absorbs
	// bursts; the OS may grant less (Linux: net.core.rmem_max). 0 keeps the OS default.
	ReadBufferBytes bytesize.Size `yaml:"read_buffer_bytes" doc:"socket receive buffer (SO_RCVBUF) for bursts; the OS may cap it (Linux net.core.rmem_max); 0 keeps the OS default"`
	// QueueMessages bounds the messages read and not yet ingested.
	QueueMessages int `yaml:"queue_messages" doc:"most datagrams queued between the socket and the gateway; more are dropped and counted"`
	// QueueBytes bounds the bytes of the queued messages.
	QueueBytes bytesize.Size `yaml:"queue_bytes" doc:"most bytes of queued datagrams; more are dropped and counted"`
	// Workers is the number of goroutines that take batches from the queue to the
	// gateway.
	Workers int `yaml:"workers" doc:"goroutines that parse queued datagrams and hand them to the gateway"`
	// Types are the log types this listener's senders may send ("*" all); empty
	// leaves it to syslog.types. UDP authenticates nobody, and its source addresses
	// are easily forged: narrow it to what the devices that need it send.
	Types []string `yaml:"types" doc:"log types this listener's senders may send ([\"*\"] all); empty: syslog.types. UDP authenticates nobody"`
}

// Rule gives the messages it matches a log type. Every condition that is set must
// hold; a rule without conditions matches every message.
type Rule struct {
	// Type is the log type of the messages the rule matches.
	Type string `yaml:"type" doc:"log type of matching messages"`
	// AppName is a glob (path.Match syntax) on the APP-NAME (RFC 5424) or TAG (RFC
	// 3164); messages without one do not match.
	AppName string `yaml:"app_name" doc:"glob (path.Match) on the APP-NAME or TAG"`
	// Hostname is a glob (path.Match syntax) on the HOSTNAME; messages without one do
	// not match.
	Hostname string `yaml:"hostname" doc:"glob (path.Match) on the HOSTNAME"`
	// Facility is a facility name (kern, user, ..., local7) or code (0-23); messages
	// without a PRI do not match.
	Facility string `yaml:"facility" doc:"facility name (kern, auth, local0, ...) or code 0-23"`
	// Match is a regular expression (Go syntax) searched in the MSG part, the text
	// after the header, or in the whole message when no header was recognised.
	Match string `yaml:"match" doc:"regular expression (Go syntax) searched in the MSG part (the whole line when the header is not syslog)"`
}

// DefaultRules returns the rules the receiver ships with: Linux netfilter/iptables
// lines (messages with an IN= ... OUT= interface pair from the kernel, or from ulogd,
// which logs the NFLOG target's packets in the LOG target's format) are firewall logs,
// the messages of Suricata are IDS logs, PAN-OS CSV lines panos, FortiGate's fortigate,
// Cisco ASA and FTD messages cisco_asa and Zeek's zeek. They
// name the sample pipelines' log types.
func DefaultRules() []Rule {
	return []Rule{
		{Type: "firewall", AppName: "kernel", Match: `IN=\S* OUT=`},
		{Type: "firewall", AppName: "ulogd", Match: `IN=\S* OUT=`},
		{Type: "ids", AppName: "suricata"},
		// Palo Alto Networks PAN-OS: CSV whose fourth column is the log type, after the
		// receive time; FortiGate: key=value pairs from logid, type and subtype on; Zeek
		// logs sent by a syslog forwarder under zeek_<log> tags.
		{Type: "panos", Match: panosMatch},
		{Type: "fortigate", Match: `logid="?[0-9]{10}"? type="?(?:traffic|utm|event|dns)"? subtype=`},
		// Cisco ASA and FTD (and PIX and FWSM before them): %ASA-<level>-<id>: after
		// the header; without a host name in the header the message ID is the tag.
		{Type: "cisco_asa", Match: `^[^%]{0,80}%(?:ASA|FTD|PIX|FWSM)-(?:[A-Za-z_]+-)?[0-7]-[0-9]{6}:`},
		{Type: "cisco_asa", AppName: "%ASA-*"},
		{Type: "cisco_asa", AppName: "%FTD-*"},
		{Type: "cisco_asa", AppName: "%PIX-*"},
		{Type: "cisco_asa", AppName: "%FWSM-*"},
		{Type: "zeek", AppName: "zeek*"},
		{Type: "zeek", AppName: "bro_*"},
	}
}

// panosMatch recognises a PAN-OS log line: FUTURE_USE, the receive time, the serial
// number and one of the log types, the first four columns.
const panosMatch = `^[^,]*,\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2},[^,]*,(?:TRAFFIC|THREAT|SYSTEM|CONFIG|GLOBALPROTECT|HIPMATCH|HIP-MATCH|AUTHENTICATION|USERID|DECRYPTION|IPTAG|GTP|SCTP|CORRELATION|TUNNEL),`

// DefaultConfig returns the receiver's defaults: plain TCP and UDP on host:5514 (514,
// the registered port, needs privileges), TLS off until it has a certificate and an
// address (6514 is its registered port).
func DefaultConfig(host string) Config {
	return Config{
		// Listener types empty, not nil, so that the defaults document (types: []) loads
		// back equal: each listener takes syslog.types.
		TCP: TCPConfig{Addr: host + ":5514", MaxConnections: 512, IdleTimeout: 10 * time.Minute, Types: []string{}},
		TLS: TLSConfig{MaxConnections: 512, IdleTimeout: 10 * time.Minute, HandshakeTimeout: 10 * time.Second, ClientAuth: "none", Types: []string{}},
		UDP: UDPConfig{
			Addr:            host + ":5514",
			ReadBufferBytes: 4 * bytesize.MiB,
			QueueMessages:   10000,
			QueueBytes:      32 * bytesize.MiB,
			Workers:         1,
			Types:           []string{},
		},
		MaxMessageBytes: 64 * bytesize.KiB,
		BatchEvents:     2048,
		BatchBytes:      bytesize.MiB,
		BatchLinger:     5 * time.Millisecond,
		MessageTimeout:  30 * time.Second,
		Rules:           DefaultRules(),
		DefaultType:     "syslog",
		Types:           []string{"*"},
	}
}

// Enabled reports whether any listener has an address.
func (c Config) Enabled() bool { return c.TCP.Addr != "" || c.TLS.Addr != "" || c.UDP.Addr != "" }

// Validate reports every problem of the receiver's settings at once, each with its path
// in the section ("udp.queue_messages: ..."); the configuration adds the section's
// path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	addr := func(path, a string) {
		if a == "" {
			return
		}
		if _, port, err := net.SplitHostPort(a); err != nil {
			bad(path, "want host:port, not %q", a)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad(path, "invalid port in %q", a)
		}
	}
	addr("tcp.addr", c.TCP.Addr)
	addr("tls.addr", c.TLS.Addr)
	addr("udp.addr", c.UDP.Addr)
	if _, port, _ := net.SplitHostPort(c.TLS.Addr); c.TLS.Addr != "" && c.TLS.Addr == c.TCP.Addr && port != "0" {
		bad("tls.addr", "same address as tcp.addr: plain TCP and TLS need separate listeners")
	}
	if c.TCP.MaxConnections <= 0 {
		bad("tcp.max_connections", "must be positive, not %d", c.TCP.MaxConnections)
	}
	if c.TCP.IdleTimeout < 0 {
		bad("tcp.idle_timeout", "must not be negative")
	}
	if c.TLS.MaxConnections <= 0 {
		bad("tls.max_connections", "must be positive, not %d", c.TLS.MaxConnections)
	}
	if c.TLS.IdleTimeout < 0 {
		bad("tls.idle_timeout", "must not be negative")
	}
	if c.TLS.HandshakeTimeout <= 0 {
		bad("tls.handshake_timeout", "must be positive")
	}
	st := c.TLS.serverTLS()
	if c.TLS.Addr != "" && !st.Enabled() {
		bad("tls.cert_file", "required when tls.addr is set (with key_file)")
	}
	errs = append(errs, confpath.Prefix("tls.", st.Validate()))

	if c.UDP.ReadBufferBytes < 0 || c.UDP.ReadBufferBytes > bytesize.GiB {
		bad("udp.read_buffer_bytes", "must be 0 to 1GiB, not %s", c.UDP.ReadBufferBytes)
	}
	if c.UDP.QueueMessages <= 0 || c.UDP.QueueMessages > maxQueueMessages {
		bad("udp.queue_messages", "must be 1 to %d, not %d", maxQueueMessages, c.UDP.QueueMessages)
	}
	if c.UDP.QueueBytes <= 0 {
		bad("udp.queue_bytes", "must be positive, not %d", c.UDP.QueueBytes)
	} else if c.UDP.QueueBytes < c.MaxMessageBytes {
		bad("udp.queue_bytes", "%s is less than max_message_bytes %s: a largest message could never be queued", c.UDP.QueueBytes, c.MaxMessageBytes)
	}
	if c.UDP.Workers <= 0 || c.UDP.Workers > maxWorkers {
		bad("udp.workers", "must be 1 to %d, not %d", maxWorkers, c.UDP.Workers)
	}

	if c.MaxMessageBytes < MinMessageBytes || c.MaxMessageBytes > MaxMessageBytesLimit {
		bad("max_message_bytes", "must be %dB to 1MiB, not %s", MinMessageBytes, c.MaxMessageBytes)
	}
	if c.BatchEvents <= 0 || c.BatchEvents > 1<<20 {
		bad("batch_events", "must be 1 to %d, not %d", 1<<20, c.BatchEvents)
	}
	if c.BatchBytes <= 0 || c.BatchBytes > 64*bytesize.MiB {
		bad("batch_bytes", "must be 1B to 64MiB, not %s", c.BatchBytes)
	}
	if c.MessageTimeout < 0 {
		bad("message_timeout", "must not be negative, not %s", c.MessageTimeout)
	}
	if c.BatchLinger < 0 || c.BatchLinger > time.Second {
		bad("batch_linger", "must be 0 to 1s, not %s", c.BatchLinger)
	}
	errs = append(errs, ValidateRules(c.Rules, c.DefaultType))
	if len(c.Types) == 0 {
		bad("types", "required: the log types syslog messages may be sent as, or [\"*\"]")
	}
	for _, l := range []struct {
		path  string
		types []string
	}{{"types", c.Types}, {"tcp.types", c.TCP.Types}, {"tls.types", c.TLS.Types}, {"udp.types", c.UDP.Types}} {
		for i, t := range l.types {
			if t != "*" && !stream.ValidType(t) {
				bad(fmt.Sprintf("%s[%d]", l.path, i), "invalid log type name %q", t)
			}
		}
	}
	return errors.Join(errs...)
}

// listenerTypes returns the log types a listener's senders may send, and the setting
// they come from: the listener's own types (syslog.<name>.types), else Types.
func (c Config) listenerTypes(name string, own []string) (types []string, setting string) {
	if len(own) > 0 {
		return own, "syslog." + name + ".types"
	}
	return c.Types, "syslog.types"
}

// ValidateRules reports every problem of log type rules and a default type, with
// paths "rules[i].field" and "default_type", as the receivers that share the rules
// (syslog, RELP) hold them in their sections.
func ValidateRules(rules []Rule, defaultType string) error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if len(rules) > maxRules {
		bad("rules", "%d rules, at most %d", len(rules), maxRules)
	}
	for i, r := range rules {
		p := fmt.Sprintf("rules[%d]", i)
		if r.Type == "" {
			bad(p+".type", "required")
		} else if !stream.ValidType(r.Type) {
			bad(p+".type", "invalid log type name %q: use 1-64 of a-z 0-9 _ - . starting with a letter or digit", r.Type)
		}
		for _, g := range []struct{ name, glob string }{{"app_name", r.AppName}, {"hostname", r.Hostname}} {
			if _, err := path.Match(g.glob, ""); err != nil {
				bad(p+"."+g.name, "invalid glob %q: %v", g.glob, err)
			}
		}
		if r.Facility != "" {
			if _, ok := facilityCode(r.Facility); !ok {
				bad(p+".facility", "unknown facility %q: want a name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, cron2, local0-local7) or a code 0-23", r.Facility)
			}
		}
		if r.Match != "" {
			if _, err := regexp.Compile(r.Match); err != nil {
				bad(p+".match", "%v", err)
			}
		}
	}
	if defaultType != "" && !stream.ValidType(defaultType) {
		bad("default_type", "invalid log type name %q", defaultType)
	}
	return errors.Join(errs...)
}

// facilityCode returns the code of a facility given by name or number.
func facilityCode(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 0 && n < len(facilityNames)
	}
	for i, name := range facilityNames {
		if name == s {
			return i, true
		}
	}
	return 0, false
}
