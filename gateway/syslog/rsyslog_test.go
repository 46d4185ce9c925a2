package syslog

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/rsyslogtest"
	"github.com/sluice-siem/sluice/internal/testcerts"
)

// TestRsyslogClient runs a real rsyslogd (Debian's package; scripts/rsyslog.sh
// installs it and exports SLUICE_TEST_RSYSLOGD) as a separate instance with its own
// configuration, pid file and work directory, never the system's. It takes lines on a
// Unix socket in the test's directory and forwards each to the receiver five ways:
// TCP with octet counting and RFC 5424 (RSYSLOG_SyslogProtocol23Format), TCP with LF
// framing and BSD headers with RFC 3339 times (RSYSLOG_ForwardFormat), UDP with
// classic BSD headers (RSYSLOG_TraditionalForwardFormat), and TLS (the gtls driver)
// with a client certificate, RFC 5424 with octet counting. Every line must arrive
// every way, with its header fields.
func TestRsyslogClient(t *testing.T) {
	bin := rsyslogtest.Rsyslogd(t) // skips without scripts/rsyslog.sh install, fails under CI
	dir := t.TempDir()
	certs := testcerts.New(t)
	clientCert, clientKey := writeClientCert(t, dir, certs)

	rec := newRecorder()
	cfg := tlsConfig(certs, "required")
	h := start(t, rec, cfg)
	_, tcpPort, _ := net.SplitHostPort(h.tcp)
	_, tlsPort, _ := net.SplitHostPort(h.tls)
	_, udpPort, _ := net.SplitHostPort(h.udp)

	sock := filepath.Join(dir, "in.sock")
	conf := fmt.Sprintf(`
global(workDirectory=%[1]q
       DefaultNetstreamDriverCAFile=%[2]q
       DefaultNetstreamDriverCertFile=%[3]q
       DefaultNetstreamDriverKeyFile=%[4]q)
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%[5]q CreatePath="on")
action(type="omfwd" target="127.0.0.1" port=%[6]q protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port=%[6]q protocol="tcp" template="RSYSLOG_ForwardFormat")
action(type="omfwd" target="127.0.0.1" port=%[7]q protocol="udp" template="RSYSLOG_TraditionalForwardFormat")
action(type="omfwd" target="127.0.0.1" port=%[8]q protocol="tcp" TCP_Framing="octet-counted"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
       template="RSYSLOG_SyslogProtocol23Format")
`, dir, certs.CAFile, clientCert, clientKey, sock, tcpPort, udpPort, tlsPort)
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out.String())
		}
	})
	eventually(t, "rsyslogd's socket", func() bool { _, err := os.Stat(sock); return err == nil })

	c, err := net.Dial("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 50
	for i := range n {
		if _, err := fmt.Fprintf(c, "<134>Dec  6 10:00:00 myapp[%d]: line %d from rsyslog with \"quotes\" and a tab\there", 1000+i, i); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every line every way", func() bool { return rec.count() >= 4*n })
	time.Sleep(100 * time.Millisecond)
	if got := rec.count(); got != 4*n {
		t.Fatalf("%d events, want %d", got, 4*n)
	}
	for _, l := range []struct {
		name string
		want int64
	}{{"tcp", 2 * n}, {"udp", n}, {"tls", n}} {
		if got := h.counter(t, "sluice_syslog_messages", "listener", l.name, "result", "accepted"); got != l.want {
			t.Errorf("%s: %d accepted, want %d", l.name, got, l.want)
		}
	}
	if n := h.counter(t, "sluice_syslog_parse_failures"); n != 0 {
		t.Errorf("%d parse failures", n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	formats := map[string]int{}
	for _, d := range rec.docs {
		var ev map[string]any
		if err := json.Unmarshal(d.doc, &ev); err != nil {
			t.Fatal(err)
		}
		msg := ev["message"].(string)
		if get(ev, "log.syslog.appname") != "myapp" || get(ev, "log.syslog.procid") == nil || get(ev, "@timestamp") == nil ||
			get(ev, "log.syslog.facility.name") != "local0" || get(ev, "log.syslog.severity.name") != "informational" || get(ev, "host.name") == nil {
			t.Fatalf("fields of %q: %v", msg, ev)
		}
		switch {
		case get(ev, "log.syslog.version") == "1":
			formats["rfc5424"]++
		case strings.HasPrefix(msg, "<134>Dec"):
			formats["bsd"]++
		default:
			formats["bsd-rfc3339"]++
		}
	}
	if formats["rfc5424"] != 2*n || formats["bsd"] != n || formats["bsd-rfc3339"] != n {
		t.Errorf("formats %v", formats)
	}
}

// writeClientCert writes the client certificate of certs and its key as PEM files, for
// rsyslog's TLS driver.
func writeClientCert(t *testing.T, dir string, certs *testcerts.Set) (string, string) {
	t.Helper()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	der, err := x509.MarshalPKCS8PrivateKey(certs.Client.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs.Client.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
