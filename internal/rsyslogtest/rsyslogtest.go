// Package rsyslogtest runs rsyslog, the syslog shipper people run, as a real client of
// syslog and RELP receivers in tests and benchmarks, and as a receiver of its own for
// baselines and self-tests. scripts/rsyslog.sh installs Debian's rsyslog, rsyslog-relp
// and rsyslog-gnutls, and scripts/test.sh exports the path of rsyslogd as
// SLUICE_TEST_RSYSLOGD.
//
// Every instance is a separate rsyslogd with its own configuration, pid file and work
// directory in the test's temporary directory (rsyslogd -n -f CONF -i PIDFILE), stopped
// by PID when the test ends. No instance reads /etc/rsyslog.conf, loads imuxsock or
// imklog, or opens /dev/log: rsyslog's own messages (processInternalMessages="on") go
// to a log file beside the configuration, never to the system's syslog. Every socket
// is on 127.0.0.1.
//
// A client (Start) takes syslog lines on an imtcp listener (Instance.Send) and forwards
// them with omfwd (TCP, UDP, TLS) or omrelp (RELP, RELP over TLS). It is configured not
// to lose a message while the receiver is down or refuses: the action retries forever
// (action.resumeRetryCount="-1", every second), its queue is in memory and large
// (Forward.QueueSize), and when that queue is full rsyslog blocks the input rather
// than discarding. Over RELP, librelp keeps every frame the server has not
// acknowledged and sends it again on the new session after a reconnect, so a receiver
// killed mid-stream loses nothing (duplicates are allowed). Over plain TCP and TLS,
// what was written to a connection the receiver then dropped is lost: that is syslog
// over TCP, not the harness. It includes what omfwd sends to a TLS server that then
// refuses its client certificate (TLS 1.3 checks it after the client's handshake is
// done): rsyslog counts those messages as forwarded. Over UDP, anything may be lost.
//
// The input is imtcp rather than imfile: a test hands lines over with one call and no
// polling delay, rsyslog's flow control pushes back on the test when its queues are
// full, and rsyslog's statistics count what it accepted (Instance.Stats).
//
// A receiver (StartReceiver) runs rsyslog's own imtcp, imudp or imrelp (TLS optional)
// and writes every message as one line to a file (Receiver.Count, Receiver.Lines). Its
// main queue is direct unless Receive.Buffered: a message is in the file before imrelp
// acknowledges it, so killing the receiver loses nothing it acknowledged.
//
// It is for tests only, on Linux: it reads /proc to see that rsyslogd listens.
package rsyslogtest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BinaryEnv names the variable that holds the path of rsyslogd.
const BinaryEnv = "SLUICE_TEST_RSYSLOGD"

// Rsyslogd returns the path of rsyslogd from BinaryEnv. When BinaryEnv is unset it
// skips the test, except under CI=true, where it fails it: CI must never skip these
// tests silently.
func Rsyslogd(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and CI=true: run the tests with scripts/test.sh, which installs rsyslog", BinaryEnv)
	}
	t.Skipf("%s is not set: run scripts/test.sh (or `eval \"$(scripts/rsyslog.sh install)\"`) to run this test with rsyslog",
		BinaryEnv)
	return ""
}

// Protocol is how a client forwards and a receiver listens.
type Protocol string

// The protocols. TLS is syslog over TLS (RFC 5425: octet-counted by default); RELP
// over TLS is RELP with a non-nil TLSFiles.
const (
	TCP  Protocol = "tcp"  // omfwd / imtcp
	UDP  Protocol = "udp"  // omfwd / imudp
	TLS  Protocol = "tls"  // omfwd / imtcp with the gtls stream driver
	RELP Protocol = "relp" // omrelp / imrelp
)

// Framing is how syslog over TCP and TLS delimits messages.
type Framing string

// The framings of omfwd's TCP_Framing. A receiver (imtcp) accepts both.
const (
	OctetCounted Framing = "octet-counted" // "LEN MSG" (RFC 6587 3.4.1, RFC 5425)
	Traditional  Framing = "traditional"   // MSG followed by LF (RFC 6587 3.4.2)
)

// Template names one of rsyslog's built-in templates: how a client formats what it
// forwards, and how a receiver writes a message to its file.
type Template string

// The built-in templates a test is likely to want. A receiver needs one that ends a
// message with LF (SyslogProtocol23, FileFormat, TraditionalFileFormat).
const (
	// SyslogProtocol23 is RFC 5424: "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG\n".
	SyslogProtocol23 Template = "RSYSLOG_SyslogProtocol23Format"
	// ForwardFormat is RFC 3164 with a high-precision timestamp:
	// "<PRI>TIMESTAMP HOST TAG MSG", no LF.
	ForwardFormat Template = "RSYSLOG_ForwardFormat"
	// TraditionalForwardFormat is RFC 3164: "<PRI>Mmm dd hh:mm:ss HOST TAG MSG", no LF.
	TraditionalForwardFormat Template = "RSYSLOG_TraditionalForwardFormat"
	// FileFormat is "TIMESTAMP HOST TAG MSG\n" with a high-precision timestamp.
	FileFormat Template = "RSYSLOG_FileFormat"
	// TraditionalFileFormat is FileFormat with an RFC 3164 timestamp.
	TraditionalFileFormat Template = "RSYSLOG_TraditionalFileFormat"
)

// TLSFiles are the PEM files of one side of a TLS connection (internal/testcerts
// writes them; WriteKeyPair writes a client certificate).
type TLSFiles struct {
	// CAFile holds the CA that signed the peer's certificate. A client always verifies
	// the server with it; a server uses it to verify client certificates.
	CAFile string
	// CertFile and KeyFile are this side's certificate and key: required for a server,
	// optional for a client (mutual TLS).
	CertFile, KeyFile string
	// ServerName is the name a client requires in the server's certificate (rsyslog's
	// permitted peer); empty means "localhost". Servers ignore it.
	ServerName string
	// RequireClientCert makes a TLS server refuse clients without a certificate the CA
	// signed (gtls x509/certvalid). A RELP server always does (librelp has no mode
	// without client certificates). Clients ignore it.
	RequireClientCert bool
}

// WriteKeyPair writes a certificate and its private key (such as testcerts.Set.Client)
// as PEM files in t.TempDir() and returns their paths, for TLSFiles.
func WriteKeyPair(t testing.TB, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		t.Fatal("rsyslogtest: WriteKeyPair needs a certificate and its private key")
	}
	dir := t.TempDir()
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatalf("rsyslogtest: marshal private key: %v", err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Messages returns n RFC 5424 lines numbered from, from+1, ...: facility user, severity
// info, host "rsyslogtest", app-name "sluice-test" and the message "TAG seq=NNNNNNNN".
// Seq finds the number again in whatever a receiver wrote.
func Messages(tag string, from, n int) []string {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("<14>1 %s rsyslogtest sluice-test - - - %s seq=%08d", now, tag, from+i)
	}
	return out
}

// Seq returns the sequence number Messages put in a message, from the last "seq=" in
// line.
func Seq(line string) (int, bool) {
	i := strings.LastIndex(line, "seq=")
	if i < 0 {
		return 0, false
	}
	s := line[i+len("seq="):]
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}
