package rsyslogtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Forward configures a client: where and how rsyslog forwards the lines a test sends.
type Forward struct {
	// Protocol is how it forwards: TCP, UDP, TLS or RELP.
	Protocol Protocol
	// Addr is the receiver, host:port on loopback (127.0.0.1, ::1 or localhost).
	Addr string
	// Framing is TCP's and TLS's framing; empty means OctetCounted.
	Framing Framing
	// Template formats each message; empty means SyslogProtocol23 (RFC 5424, which
	// ends with LF: octet-counted frames then end with LF too, as rsyslog sends them).
	Template Template
	// TLS is required for Protocol TLS and turns TLS on for RELP: the CA that signed
	// the receiver's certificate, the name it must have (ServerName, default
	// "localhost") and the client's certificate and key, optional for TLS, required
	// for RELP (without one librelp speaks anonymous TLS only).
	TLS *TLSFiles
	// QueueSize is how many messages the forwarding action holds in memory while the
	// receiver is down or slow; empty means DefaultQueueSize. When it is full, rsyslog
	// stops reading what the test sends (Send blocks) rather than discarding.
	QueueSize int
	// MaxMessageSize is rsyslog's maxMessageSize in bytes; 0 keeps its default (8 KiB).
	MaxMessageSize int
}

// Instance is a running rsyslog client.
type Instance struct {
	*Process
	addr string
	sent atomic.Int64
}

// Start starts an rsyslog client with its own configuration in t.TempDir() and returns
// once it accepts lines. It is stopped when the test ends. It skips or fails the test
// as Rsyslogd does when rsyslogd is not there, and fails it if rsyslogd does not start.
//
// The configuration per protocol (every forwarding action also has
// action.resumeRetryCount="-1" action.resumeInterval="1" queue.type="LinkedList"
// queue.size=QueueSize and a day's queue.timeoutEnqueue):
//
//	input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName=... supportOctetCountedFraming="off")
//	tcp:  action(type="omfwd" protocol="tcp" TCP_Framing=Framing template=Template ...)
//	udp:  action(type="omfwd" protocol="udp" template=Template ...)
//	tls:  action(type="omfwd" protocol="tcp" TCP_Framing=Framing StreamDriver="gtls"
//	        StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers=ServerName
//	        streamDriver.CAFile=... [streamDriver.CertFile=... streamDriver.KeyFile=...] ...)
//	relp: action(type="omrelp" template=Template [tls="on" tls.cacert=... tls.authMode="name"
//	        tls.permittedPeer=[ServerName] tls.myCert=... tls.myPrivKey=...] ...)
//
// omrelp keeps librelp's default window (128 frames) and timeout (90 s).
func Start(t testing.TB, f Forward) *Instance {
	t.Helper()
	bin := Rsyslogd(t)
	dir := t.TempDir()
	conf, err := forwardConfig(dir, f)
	if err != nil {
		t.Fatal(err)
	}
	p, err := startProcess(t, bin, dir, conf)
	if err != nil {
		t.Fatalf("rsyslogtest: client: %v", err)
	}
	port, err := p.waitPortFile()
	if err == nil {
		err = p.waitListening("tcp", port)
	}
	if err != nil {
		t.Fatalf("rsyslogtest: client forwarding over %s to %s: %v\n%s", f.Protocol, f.Addr, err, p.Log())
	}
	return &Instance{Process: p, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// Addr returns the address of the client's imtcp listener, which takes syslog lines
// delimited by LF.
func (i *Instance) Addr() string { return i.addr }

// Send hands lines to rsyslog over one new TCP connection, each followed by LF, and
// returns once all were written and the connection closed. A line should be a syslog
// message (RFC 5424 or RFC 3164, "<PRI>..."; Messages makes them) and must not hold an
// LF. It blocks while rsyslog's queues are full. It may be called from any goroutine.
func (i *Instance) Send(lines ...string) error {
	var buf bytes.Buffer
	for _, l := range lines {
		if strings.ContainsAny(l, "\n") {
			return fmt.Errorf("rsyslogtest: send: line %q holds an LF", l)
		}
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	c, err := net.DialTimeout("tcp", i.addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("rsyslogtest: send to rsyslog at %s: %w", i.addr, err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
	if _, err := c.Write(buf.Bytes()); err != nil {
		c.Close()
		return fmt.Errorf("rsyslogtest: send %d lines to rsyslog at %s: %w", len(lines), i.addr, err)
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("rsyslogtest: send to rsyslog at %s: %w", i.addr, err)
	}
	i.sent.Add(int64(len(lines)))
	return nil
}

// Sent returns how many lines Send has handed over.
func (i *Instance) Sent() int64 { return i.sent.Load() }

// Stats are the counters rsyslog last reported (impstats, every second).
type Stats struct {
	// Submitted is how many messages imtcp took from the test.
	Submitted int64
	// Queued is how many messages the forwarding action's queue holds, including those
	// it is trying to deliver; MainQueued is the main queue's.
	Queued, MainQueued int64
	// Discarded is how many messages either queue discarded. Nothing should be.
	Discarded int64
	// Processed, Failed, Suspended and Resumed are the forwarding action's counters.
	// Processed counts messages handed to the action, delivered or not.
	Processed, Failed, Suspended, Resumed int64
	// BytesSent is what omfwd wrote to the network (TCP, TLS; 0 for UDP and RELP).
	BytesSent int64
}

// impstat is one JSON line of impstats.
type impstat struct {
	Name          string `json:"name"`
	Origin        string `json:"origin"`
	Size          int64  `json:"size"`
	DiscardedFull int64  `json:"discarded.full"`
	DiscardedNF   int64  `json:"discarded.nf"`
	Submitted     int64  `json:"submitted"`
	Processed     int64  `json:"processed"`
	Failed        int64  `json:"failed"`
	Suspended     int64  `json:"suspended"`
	Resumed       int64  `json:"resumed"`
	BytesSent     int64  `json:"bytes.sent"`
}

// Stats returns the counters of rsyslog's last complete report; ok is false before the
// first (about a second after Start).
func (i *Instance) Stats() (s Stats, ok bool) {
	data, err := os.ReadFile(filepath.Join(i.dir, statsName))
	if err != nil {
		return Stats{}, false
	}
	var cur Stats
	var discardedAction, discardedMain int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		// "Sun Dec  6 15:30:41 2026: { ... }"
		j := bytes.IndexByte(line, '{')
		if j < 0 {
			continue
		}
		var st impstat
		if json.Unmarshal(line[j:], &st) != nil {
			continue
		}
		switch {
		case st.Origin == "imtcp":
			cur.Submitted = st.Submitted
		case st.Origin == "core.action" && st.Name == actionName:
			cur.Processed, cur.Failed, cur.Suspended, cur.Resumed = st.Processed, st.Failed, st.Suspended, st.Resumed
		case st.Origin == "omfwd":
			cur.BytesSent = st.BytesSent
		case st.Origin == "core.queue" && st.Name == queueName:
			cur.Queued = st.Size
			discardedAction = st.DiscardedFull + st.DiscardedNF
		case st.Origin == "core.queue" && st.Name == mainQueue:
			// The main queue is reported last: a report is complete.
			cur.MainQueued = st.Size
			discardedMain = st.DiscardedFull + st.DiscardedNF
			cur.Discarded = discardedAction + discardedMain
			s, ok = cur, true
		}
	}
	return s, ok
}

// WaitDrained waits until rsyslog reports that it took every line Send handed over
// and both its queues are empty: each message was handed to the transport (written to
// a socket; for RELP, handed to librelp, which may still wait for the acknowledgement).
// It fails the test if that takes longer than timeout or a queue discarded a message,
// and returns the stats it saw last. Call it from the test's goroutine. It waits
// about a second at least (impstats' interval).
func (i *Instance) WaitDrained(timeout time.Duration) Stats {
	i.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s, ok := i.Stats()
		if ok && s.Discarded > 0 {
			i.t.Fatalf("rsyslogtest: rsyslog discarded %d messages: %+v\n%s", s.Discarded, s, i.Log())
		}
		if ok && s.Submitted >= i.Sent() && s.Queued == 0 && s.MainQueued == 0 {
			return s
		}
		if i.Exited() {
			i.t.Fatalf("rsyslogtest: rsyslogd exited before it drained (%v)\n%s", i.err, i.Log())
		}
		if time.Now().After(deadline) {
			i.t.Fatalf("rsyslogtest: rsyslog did not drain %d messages within %v: %+v\n%s", i.Sent(), timeout, s, i.Log())
		}
		<-tick.C
	}
}
