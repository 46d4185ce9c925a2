package rsyslogtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Receive configures a receiver: rsyslog's own server, for baselines and self-tests.
type Receive struct {
	// Protocol is what it listens for: TCP (imtcp), UDP (imudp), TLS (imtcp with gtls)
	// or RELP (imrelp). imtcp accepts octet-counted and LF-delimited framing.
	Protocol Protocol
	// Port is the port on 127.0.0.1; 0 means a free one. Give a stopped receiver's
	// port to start its successor where the clients reconnect to.
	Port int
	// TLS is required for Protocol TLS and turns TLS on for RELP: the server's
	// certificate and key, and the CA that signs client certificates. With
	// RequireClientCert, and always over RELP, clients without one are refused.
	TLS *TLSFiles
	// Template formats the line written for each message; empty means
	// SyslogProtocol23. It must end with LF.
	Template Template
	// Buffered gives the receiver an in-memory main queue, as rsyslog has by default:
	// faster, but what it acknowledged and had not yet written is lost if it is
	// killed. Otherwise each message is in the file before the next is read (and, over
	// RELP, before it is acknowledged).
	Buffered bool
	// MaxMessageSize is rsyslog's maxMessageSize in bytes; 0 keeps its default (8 KiB).
	MaxMessageSize int
}

// Receiver is a running rsyslog receiver.
type Receiver struct {
	*Process
	port int

	mu     sync.Mutex
	offset int64 // of the file, up to the last complete line counted
	count  int
}

// portAttempts bounds how often StartReceiver picks another free port for imudp and
// imrelp (which cannot be told to take one of the kernel's choosing) when something
// else took the one it picked before rsyslogd bound it.
const portAttempts = 3

// StartReceiver starts an rsyslog receiver with its own configuration in t.TempDir()
// and returns once it listens on 127.0.0.1. It is stopped when the test ends. It skips
// or fails the test as Rsyslogd does when rsyslogd is not there, and fails it if
// rsyslogd does not start.
//
// The configuration per protocol, every input bound to a ruleset that writes each
// message with omfile (template Template) to the file File returns, behind
// main_queue(queue.type="Direct") unless Buffered:
//
//	tcp:  input(type="imtcp" address="127.0.0.1" port=...)
//	udp:  input(type="imudp" address="127.0.0.1" port=... rcvbufSize="32m")
//	tls:  input(type="imtcp" ... streamDriver.name="gtls" streamDriver.mode="1"
//	        streamDriver.authMode="anon" (RequireClientCert: "x509/certvalid")
//	        streamDriver.CAFile=... streamDriver.CertFile=... streamDriver.KeyFile=...)
//	relp: input(type="imrelp" address="127.0.0.1" port=... [tls="on" tls.authMode="certvalid"
//	        tls.cacert=... tls.myCert=... tls.myPrivKey=...])
func StartReceiver(t testing.TB, r Receive) *Receiver {
	t.Helper()
	bin := Rsyslogd(t)
	network := "tcp"
	if r.Protocol == UDP {
		network = "udp"
	}
	pick := r.Port == 0 && (r.Protocol == UDP || r.Protocol == RELP)
	for attempt := 1; ; attempt++ {
		port := r.Port
		if pick {
			port = freePort(t, network)
		}
		dir := t.TempDir()
		conf, err := receiveConfig(dir, r, port)
		if err != nil {
			t.Fatal(err)
		}
		p, err := startProcess(t, bin, dir, conf)
		if err != nil {
			t.Fatalf("rsyslogtest: receiver: %v", err)
		}
		if port == 0 {
			port, err = p.waitPortFile()
		}
		if err == nil {
			err = p.waitListening(network, port)
		}
		if err == nil {
			return &Receiver{Process: p, port: port}
		}
		p.Stop()
		if !pick || attempt == portAttempts {
			t.Fatalf("rsyslogtest: %s receiver on port %d: %v\n%s", r.Protocol, port, err, p.Log())
		}
		t.Logf("rsyslogtest: %s receiver on port %d: %v; trying another port", r.Protocol, port, err)
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB, network string) int {
	t.Helper()
	var addr net.Addr
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr()
		c.Close()
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr()
		l.Close()
	}
	_, p, _ := net.SplitHostPort(addr.String())
	port, _ := strconv.Atoi(p)
	return port
}

// Addr returns the address the receiver listens on, 127.0.0.1:PORT.
func (r *Receiver) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Port returns the port the receiver listens on.
func (r *Receiver) Port() int { return r.port }

// File returns the path of the file the receiver writes each message to, one a line.
func (r *Receiver) File() string { return filepath.Join(r.dir, outName) }

// Count returns how many messages the receiver has written to its file so far.
func (r *Receiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.Open(r.File())
	if err != nil {
		return r.count // not written yet
	}
	defer f.Close()
	if _, err := f.Seek(r.offset, io.SeekStart); err != nil {
		return r.count
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return r.count
	}
	if last := bytes.LastIndexByte(data, '\n'); last >= 0 {
		r.count += bytes.Count(data[:last+1], []byte{'\n'})
		r.offset += int64(last + 1)
	}
	return r.count
}

// Lines returns every complete line of the receiver's file.
func (r *Receiver) Lines() []string {
	data, err := os.ReadFile(r.File())
	if err != nil {
		return nil
	}
	if last := bytes.LastIndexByte(data, '\n'); last >= 0 {
		return strings.Split(string(data[:last]), "\n")
	}
	return nil
}

// WaitCount waits until the receiver has written at least n messages or timeout has
// passed, and returns how many it has written: the test decides what is enough.
func (r *Receiver) WaitCount(n int, timeout time.Duration) int {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		c := r.Count()
		if c >= n {
			return c
		}
		select {
		case <-deadline.C:
			return r.Count()
		case <-r.done:
			return r.Count()
		case <-tick.C:
		}
	}
}

// String describes the receiver for failure messages.
func (r *Receiver) String() string {
	return fmt.Sprintf("rsyslog receiver at %s (PID %d, %s)", r.Addr(), r.PID(), r.dir)
}
