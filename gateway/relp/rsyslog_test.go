package relp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/rsyslogtest"
	"github.com/sluice-siem/sluice/internal/servertls"
	"github.com/sluice-siem/sluice/internal/testcerts"
)

// These tests run a real client: rsyslogd with omrelp (Debian packages rsyslog and
// rsyslog-relp), as a separate instance with its own configuration, pid file and work
// directory, forwarding what it receives on a loopback TCP input to the server. They
// are skipped where rsyslogd or omrelp is not installed, and with -short.

// omrelpDirs are where distributions install rsyslog's modules.
var omrelpDirs = []string{"/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog", "/usr/lib64/rsyslog"}

// startRsyslog starts rsyslogd forwarding its TCP input to relpAddr over RELP, and
// returns the input's address.
func startRsyslog(t *testing.T, relpAddr string) string {
	return startRsyslogWith(t, relpAddr, "")
}

// startRsyslogWith is startRsyslog with more omrelp action parameters.
func startRsyslogWith(t *testing.T, relpAddr, params string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs rsyslogd")
	}
	bin := rsyslogtest.Rsyslogd(t) // skips without scripts/rsyslog.sh install, fails under CI
	found := false
	for _, d := range omrelpDirs {
		if _, err := os.Stat(filepath.Join(d, "omrelp.so")); err == nil {
			found = true
		}
	}
	if !found {
		t.Fatal("omrelp is not installed (Debian: rsyslog-relp; scripts/rsyslog.sh install)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inAddr := ln.Addr().String()
	_ = ln.Close()
	_, inPort, _ := net.SplitHostPort(inAddr)
	_, relpPort, _ := net.SplitHostPort(relpAddr)
	dir := t.TempDir()
	conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
module(load="omrelp")
input(type="imtcp" address="127.0.0.1" port=%q ruleset="fwd")
ruleset(name="fwd") {
  action(type="omrelp" target="127.0.0.1" port=%q windowSize="128"
         action.resumeRetryCount="-1" action.resumeInterval="1" %s)
}
`, dir, inPort, relpPort, params)
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out.String())
		}
	})
	eventually(t, "rsyslogd's input", func() bool {
		nc, err := net.DialTimeout("tcp", inAddr, time.Second)
		if err == nil {
			_ = nc.Close()
		}
		return err == nil
	})
	return inAddr
}

// sendSyslog writes lines to rsyslogd's TCP input, one message each.
func sendSyslog(t *testing.T, addr string, msgs []string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<13>Dec  6 10:00:00 host app: " + m + "\n")
	}
	if _, err := nc.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
}

// seen counts how often the handler got each marker.
type seen struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *seen) add(b Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range b.Messages {
		if i := bytes.Index(m, []byte("relptest-")); i >= 0 {
			s.n[string(m[i:])]++
		}
	}
}

func (s *seen) count(marker string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[marker]
}

func markers(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("relptest-%s-%d", prefix, i))
	}
	return out
}

func TestRsyslogDelivers(t *testing.T) {
	ts := startServer(t, nil)
	got := &seen{n: map[string]int{}}
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		got.add(b)
		return gateway.Result{}, nil
	})
	in := startRsyslog(t, ts.addr)
	msgs := markers("ok", 1000)
	sendSyslog(t, in, msgs)
	eventually(t, "every message", func() bool {
		for _, m := range msgs {
			if got.count(m) == 0 {
				return false
			}
		}
		return true
	})
}

// TestRsyslogBusyStream: while the stream refuses every batch, connections are closed
// unanswered after retry_timeout; rsyslog reconnects and resends, and once the stream
// takes the messages, none is lost.
func TestRsyslogBusyStream(t *testing.T) {
	ts := startServer(t, func(cfg *Config, o *Options) { cfg.RetryTimeout = 300 * time.Millisecond })
	got := &seen{n: map[string]int{}}
	busyUntil := time.Now().Add(2 * time.Second)
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		if time.Now().Before(busyUntil) {
			return gateway.Result{}, gateway.Errorf(gateway.KindOverloaded, "stream busy")
		}
		got.add(b)
		return gateway.Result{}, nil
	})
	in := startRsyslog(t, ts.addr)
	msgs := markers("busy", 200)
	sendSyslog(t, in, msgs)
	eventually(t, "every message after the stream recovered", func() bool {
		for _, m := range msgs {
			if got.count(m) == 0 {
				return false
			}
		}
		return true
	})
	if ts.rec.callCount() < 2 {
		t.Error("the stream was never busy")
	}
}

// TestRsyslogPermanentRejection: a message refused for good is answered 200 and dropped
// once; rsyslog does not resend it, and the messages after it arrive.
func TestRsyslogPermanentRejection(t *testing.T) {
	ts := startServer(t, nil)
	got := &seen{n: map[string]int{}}
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		got.add(b)
		var res gateway.Result
		for i, m := range b.Messages {
			if bytes.Contains(m, []byte("relptest-bad")) {
				res.Rejections = append(res.Rejections, gateway.Rejection{Index: i, Kind: gateway.KindInvalid, Reason: "not a syslog message"})
			}
		}
		return res, nil
	})
	in := startRsyslog(t, ts.addr)
	msgs := append(append(markers("before", 10), "relptest-bad-0"), markers("after", 10)...)
	sendSyslog(t, in, msgs)
	eventually(t, "every good message", func() bool {
		for _, m := range msgs {
			if !strings.Contains(m, "bad") && got.count(m) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second) // room for a resend, if there were one
	if n := got.count("relptest-bad-0"); n != 1 {
		t.Errorf("the rejected message reached the handler %d times, want once", n)
	}
}

// TestRsyslogMutualTLS: omrelp with a client certificate from the configured CA is
// served over mutual TLS.
func TestRsyslogMutualTLS(t *testing.T) {
	certs := testcerts.New(t)
	ts := startServer(t, func(cfg *Config, o *Options) {
		cfg.TLS = servertls.Config{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CAFile, ClientAuth: "required"}
	})
	got := &seen{n: map[string]int{}}
	ts.rec.setHook(func(ctx context.Context, b Batch) (gateway.Result, error) {
		if b.Client != "shipper" {
			return gateway.Result{}, gateway.Errorf(gateway.KindUnauthenticated, "client %q", b.Client)
		}
		got.add(b)
		return gateway.Result{}, nil
	})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	key, err := x509.MarshalPKCS8PrivateKey(certs.Client.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs.Client.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startRsyslogWith(t, ts.addr, fmt.Sprintf(`tls="on" tls.caCert=%q tls.myCert=%q tls.myPrivKey=%q tls.authMode="certvalid"`,
		certs.CAFile, certFile, keyFile))
	msgs := markers("tls", 100)
	sendSyslog(t, in, msgs)
	eventually(t, "every message over mutual TLS", func() bool {
		for _, m := range msgs {
			if got.count(m) == 0 {
				return false
			}
		}
		return true
	})
}
