package rsyslogtest

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Files of an instance's directory.
const (
	confName   = "rsyslog.conf"
	pidName    = "rsyslogd.pid"
	logName    = "rsyslogd.log"    // rsyslog's own messages
	stderrName = "rsyslogd.stderr" // rsyslogd's stdout and stderr
	statsName  = "stats.json"      // impstats, every second
	workName   = "work"            // global(workDirectory)
	portName   = "input.port"      // imtcp's listenPortFileName
	outName    = "messages.log"    // a receiver's messages
)

// Names in the configuration, which impstats reports under.
const (
	actionName = "forward"
	queueName  = actionName + " queue" // the forwarding action's queue
	mainQueue  = "main Q"
)

// DefaultQueueSize is the size of a client's action queue when Forward.QueueSize is 0.
const DefaultQueueSize = 100_000

// enqueueTimeout is the action queue's queue.timeoutEnqueue (ms): how long the main
// queue's worker waits for room in a full action queue before rsyslog discards the
// message. A day: it waits, the main queue fills, and imtcp stops reading.
const enqueueTimeout = 24 * 60 * 60 * 1000

// q quotes s as a RainerScript string constant.
func q(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// common is the start of every configuration: no default modules, nothing read from
// /etc, rsyslog's own messages to a file, statistics every second.
func common(b *strings.Builder, dir, role string, maxMessageSize int) {
	fmt.Fprintf(b, "# rsyslogtest %s: a test's own rsyslogd (rsyslogd -n -f %s -i %s)\n",
		role, filepath.Join(dir, confName), filepath.Join(dir, pidName))
	fmt.Fprintf(b, "global(\n  workDirectory=%s\n", q(filepath.Join(dir, workName)))
	// Internal messages go through this configuration (to rsyslogd.log below), not to
	// the system's syslog socket.
	b.WriteString("  processInternalMessages=\"on\"\n  net.enableDNS=\"off\"\n")
	b.WriteString("  errorMessagesToStderr.maxNumber=\"50\"\n")
	if maxMessageSize > 0 {
		fmt.Fprintf(b, "  maxMessageSize=\"%d\"\n", maxMessageSize)
	}
	b.WriteString(")\n")
	fmt.Fprintf(b, "module(load=\"impstats\" interval=\"1\" format=\"json\" log.syslog=\"off\" log.file=%s)\n",
		q(filepath.Join(dir, statsName)))
}

// ownLog ends every configuration: the default ruleset, which only rsyslog's own
// messages reach (every input is bound to a ruleset of its own), writes them to a file.
func ownLog(b *strings.Builder, dir string) {
	fmt.Fprintf(b, "\n# rsyslog's own messages\naction(type=\"omfile\" file=%s template=\"RSYSLOG_FileFormat\")\n",
		q(filepath.Join(dir, logName)))
}

// loopback checks that addr is host:port on a loopback address and returns its parts.
func loopback(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	if h == "localhost" {
		return "127.0.0.1", port, nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return "", 0, fmt.Errorf("address %q: tests send only to loopback", addr)
	}
	return ip.String(), port, nil
}

func (f Forward) withDefaults() Forward {
	if f.Framing == "" {
		f.Framing = OctetCounted
	}
	if f.Template == "" {
		f.Template = SyslogProtocol23
	}
	if f.QueueSize == 0 {
		f.QueueSize = DefaultQueueSize
	}
	if f.TLS != nil && f.TLS.ServerName == "" {
		t := *f.TLS
		t.ServerName = "localhost"
		f.TLS = &t
	}
	return f
}

func (f Forward) validate() error {
	var errs []error
	switch f.Protocol {
	case TCP, UDP, RELP:
	case TLS:
		if f.TLS == nil {
			errs = append(errs, errors.New("protocol tls needs TLS files"))
		}
	default:
		errs = append(errs, fmt.Errorf("protocol %q: want tcp, udp, tls or relp", f.Protocol))
	}
	if f.TLS != nil {
		if f.Protocol == TCP || f.Protocol == UDP {
			errs = append(errs, fmt.Errorf("protocol %s takes no TLS files (use tls)", f.Protocol))
		}
		if f.TLS.CAFile == "" {
			errs = append(errs, errors.New("TLS.CAFile is empty"))
		}
		if (f.TLS.CertFile == "") != (f.TLS.KeyFile == "") {
			errs = append(errs, errors.New("TLS.CertFile and TLS.KeyFile go together"))
		}
		if f.Protocol == RELP && f.TLS.CertFile == "" {
			// Without a certificate of its own librelp speaks anonymous TLS (ANON-DH),
			// which verifies nothing and which a server with a certificate refuses.
			errs = append(errs, errors.New("RELP over TLS needs a client certificate (TLS.CertFile, TLS.KeyFile): without one librelp only speaks anonymous TLS"))
		}
	}
	if f.Framing != OctetCounted && f.Framing != Traditional {
		errs = append(errs, fmt.Errorf("framing %q: want octet-counted or traditional", f.Framing))
	}
	if _, _, err := loopback(f.Addr); err != nil {
		errs = append(errs, err)
	}
	if f.QueueSize < 100 {
		errs = append(errs, fmt.Errorf("queue size %d: rsyslog needs 100 or more", f.QueueSize))
	}
	return errors.Join(errs...)
}

// forwardConfig is the configuration of a client in dir.
func forwardConfig(dir string, f Forward) (string, error) {
	f = f.withDefaults()
	if err := f.validate(); err != nil {
		return "", fmt.Errorf("rsyslogtest: forward: %w", err)
	}
	host, port, _ := loopback(f.Addr)
	var b strings.Builder
	common(&b, dir, "client, forwarding over "+string(f.Protocol)+" to "+f.Addr, f.MaxMessageSize)
	b.WriteString("module(load=\"imtcp\")\n")
	if f.Protocol == RELP {
		b.WriteString("module(load=\"omrelp\")\n")
	}
	// The test's lines: LF-delimited only, so that a line that starts with a digit is
	// never taken for an octet count.
	fmt.Fprintf(&b, "\ninput(type=\"imtcp\" name=\"in\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=%s\n"+
		"  supportOctetCountedFraming=\"off\" ruleset=\"forward\")\n",
		q(filepath.Join(dir, portName)))

	b.WriteString("\nruleset(name=\"forward\") {\n")
	if f.Protocol == RELP {
		fmt.Fprintf(&b, "  action(type=\"omrelp\" name=%s target=%s port=\"%d\" template=%s\n",
			q(actionName), q(host), port, q(string(f.Template)))
		if f.TLS != nil {
			fmt.Fprintf(&b, "    tls=\"on\" tls.cacert=%s tls.authMode=\"name\" tls.permittedPeer=[%s]\n",
				q(f.TLS.CAFile), q(f.TLS.ServerName))
			if f.TLS.CertFile != "" {
				fmt.Fprintf(&b, "    tls.myCert=%s tls.myPrivKey=%s\n", q(f.TLS.CertFile), q(f.TLS.KeyFile))
			}
		}
	} else {
		proto := "tcp"
		if f.Protocol == UDP {
			proto = "udp"
		}
		fmt.Fprintf(&b, "  action(type=\"omfwd\" name=%s target=%s port=\"%d\" protocol=%s template=%s\n",
			q(actionName), q(host), port, q(proto), q(string(f.Template)))
		if f.Protocol != UDP {
			fmt.Fprintf(&b, "    TCP_Framing=%s\n", q(string(f.Framing)))
		}
		if f.Protocol == TLS {
			fmt.Fprintf(&b, "    StreamDriver=\"gtls\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\""+
				" StreamDriverPermittedPeers=%s\n    streamDriver.CAFile=%s\n",
				q(f.TLS.ServerName), q(f.TLS.CAFile))
			if f.TLS.CertFile != "" {
				fmt.Fprintf(&b, "    streamDriver.CertFile=%s streamDriver.KeyFile=%s\n",
					q(f.TLS.CertFile), q(f.TLS.KeyFile))
			}
		}
	}
	// Never give up on the receiver, and never discard: retry every second, queue in
	// memory, and when the queue is full block (the main queue fills, then imtcp stops
	// reading) instead of discarding after queue.timeoutEnqueue.
	fmt.Fprintf(&b, "    action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\"\n"+
		"    queue.type=\"LinkedList\" queue.size=\"%d\" queue.timeoutEnqueue=\"%d\")\n}\n",
		f.QueueSize, enqueueTimeout)
	ownLog(&b, dir)
	return b.String(), nil
}

func (r Receive) withDefaults() Receive {
	if r.Template == "" {
		r.Template = SyslogProtocol23
	}
	return r
}

func (r Receive) validate() error {
	var errs []error
	switch r.Protocol {
	case TCP, UDP, RELP:
	case TLS:
		if r.TLS == nil {
			errs = append(errs, errors.New("protocol tls needs TLS files"))
		}
	default:
		errs = append(errs, fmt.Errorf("protocol %q: want tcp, udp, tls or relp", r.Protocol))
	}
	if r.TLS != nil {
		if r.Protocol == TCP || r.Protocol == UDP {
			errs = append(errs, fmt.Errorf("protocol %s takes no TLS files (use tls)", r.Protocol))
		}
		if r.TLS.CertFile == "" || r.TLS.KeyFile == "" {
			errs = append(errs, errors.New("a TLS server needs TLS.CertFile and TLS.KeyFile"))
		}
		if r.TLS.CAFile == "" {
			errs = append(errs, errors.New("TLS.CAFile is empty"))
		}
	}
	switch r.Template {
	case ForwardFormat, TraditionalForwardFormat:
		errs = append(errs, fmt.Errorf("template %s ends a message without LF: a receiver writes one message a line", r.Template))
	}
	if r.Port < 0 || r.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d", r.Port))
	}
	return errors.Join(errs...)
}

// receiveConfig is the configuration of a receiver in dir, listening on port (0: a
// port of the kernel's choosing, written to the port file; imtcp only).
func receiveConfig(dir string, r Receive, port int) (string, error) {
	r = r.withDefaults()
	if err := r.validate(); err != nil {
		return "", fmt.Errorf("rsyslogtest: receive: %w", err)
	}
	var b strings.Builder
	common(&b, dir, "receiver on "+string(r.Protocol), r.MaxMessageSize)
	if !r.Buffered {
		// Each message is written to the file in the input's thread before the input
		// takes the next one (and imrelp acknowledges it).
		b.WriteString("main_queue(queue.type=\"Direct\")\n")
	}
	listen := fmt.Sprintf("address=\"127.0.0.1\" port=\"%d\"", port)
	if port == 0 {
		if r.Protocol == UDP || r.Protocol == RELP {
			// Only imtcp writes the port the kernel chose to a file.
			return "", fmt.Errorf("rsyslogtest: receive: protocol %s needs a port", r.Protocol)
		}
		listen += " listenPortFileName=" + q(filepath.Join(dir, portName))
	}
	switch r.Protocol {
	case TCP, TLS:
		b.WriteString("module(load=\"imtcp\")\n")
		fmt.Fprintf(&b, "\ninput(type=\"imtcp\" name=\"in\" %s ruleset=\"receive\"", listen)
		if r.Protocol == TLS {
			mode := "anon"
			if r.TLS.RequireClientCert {
				mode = "x509/certvalid"
			}
			fmt.Fprintf(&b, "\n  streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=%s\n"+
				"  streamDriver.CAFile=%s streamDriver.CertFile=%s streamDriver.KeyFile=%s",
				q(mode), q(r.TLS.CAFile), q(r.TLS.CertFile), q(r.TLS.KeyFile))
		}
		b.WriteString(")\n")
	case UDP:
		b.WriteString("module(load=\"imudp\")\n")
		// A large socket buffer (rsyslog forces it as root) so that a burst is not
		// dropped by the kernel while the file is written.
		fmt.Fprintf(&b, "\ninput(type=\"imudp\" name=\"in\" %s rcvbufSize=\"32m\" ruleset=\"receive\")\n", listen)
	case RELP:
		b.WriteString("module(load=\"imrelp\")\n")
		fmt.Fprintf(&b, "\ninput(type=\"imrelp\" name=\"in\" %s ruleset=\"receive\"", listen)
		if r.TLS != nil {
			// certvalid whether or not RequireClientCert: librelp's servers have no
			// mode that takes clients without a certificate (its default, fingerprint
			// with no fingerprints, refuses every client).
			fmt.Fprintf(&b, "\n  tls=\"on\" tls.authMode=\"certvalid\" tls.cacert=%s tls.myCert=%s tls.myPrivKey=%s",
				q(r.TLS.CAFile), q(r.TLS.CertFile), q(r.TLS.KeyFile))
		}
		b.WriteString(")\n")
	}
	fmt.Fprintf(&b, "\nruleset(name=\"receive\") {\n  action(type=\"omfile\" name=\"store\" file=%s template=%s)\n}\n",
		q(filepath.Join(dir, outName)), q(string(r.Template)))
	ownLog(&b, dir)
	return b.String(), nil
}
