package main

import (
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

// TestRsyslogIntoDev sends with a real rsyslog (Debian's, its own instance) to sluice
// dev over every syslog transport: TCP (octet counting), TLS with a client
// certificate, UDP, and RELP over TLS with a client certificate as the README's
// omrelp example has it. Every message arrives in the file sink, its raw line as
// message.
func TestRsyslogIntoDev(t *testing.T) {
	rsyslogtest.Rsyslogd(t)
	certs := testcerts.New(t)
	cfg := devConfig(t)
	cfg.Syslog.TCP.Addr, cfg.Syslog.TLS.Addr, cfg.Syslog.UDP.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Syslog.TLS.CertFile, cfg.Syslog.TLS.KeyFile = certs.ServerCert, certs.ServerKey
	cfg.Syslog.TLS.ClientCAFile, cfg.Syslog.TLS.ClientAuth = certs.CAFile, "required"
	cfg.RELP.Addr = "127.0.0.1:0"
	cfg.RELP.TLS.CertFile, cfg.RELP.TLS.KeyFile = certs.ServerCert, certs.ServerKey
	cfg.RELP.TLS.ClientCAFile, cfg.RELP.TLS.ClientAuth = certs.CAFile, "required"
	a, stop := startDev(t, cfg)

	clientCert, clientKey := rsyslogtest.WriteKeyPair(t, certs.Client)
	tlsFiles := &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: clientCert, KeyFile: clientKey}
	const n = 2000
	for _, c := range []struct {
		tag string
		fwd rsyslogtest.Forward
	}{
		{"tcp", rsyslogtest.Forward{Protocol: rsyslogtest.TCP, Addr: a.syslogSrv.TCPAddr().String()}},
		{"tls", rsyslogtest.Forward{Protocol: rsyslogtest.TLS, Addr: a.syslogSrv.TLSAddr().String(), TLS: tlsFiles}},
		{"udp", rsyslogtest.Forward{Protocol: rsyslogtest.UDP, Addr: a.syslogSrv.UDPAddr().String()}},
		{"relp", rsyslogtest.Forward{Protocol: rsyslogtest.RELP, Addr: a.relpSrv.Addr().String(), TLS: tlsFiles}},
	} {
		inst := rsyslogtest.Start(t, c.fwd)
		if err := inst.Send(rsyslogtest.Messages(c.tag, 0, n)...); err != nil {
			t.Fatalf("%s: %v", c.tag, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := syslogSeqs(t, filepath.Join(cfg.Sink.File.Dir, "syslog"))
		done := true
		for _, tag := range []string{"tcp", "tls", "udp", "relp"} {
			if len(got[tag]) < n {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the sink holds %d tcp, %d tls, %d udp, %d relp of %d each",
				len(got["tcp"]), len(got["tls"]), len(got["udp"]), len(got["relp"]), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// syslogSeqs reads the file sink's NDJSON under dir and returns, per tag of
// rsyslogtest.Messages, the sequence numbers found in the messages.
func syslogSeqs(t *testing.T, dir string) map[string]map[int]int {
	t.Helper()
	out := map[string]map[int]int{}
	for line := range strings.Lines(readFiles(t, dir)) {
		i := strings.Index(line, `sluice-test - - - `)
		if i < 0 {
			i = strings.Index(line, "sluice-test")
		}
		seq, ok := rsyslogtest.Seq(line)
		if !ok || i < 0 {
			continue
		}
		rest := line[i:]
		for _, tag := range []string{"tcp", "tls", "udp", "relp"} {
			if strings.Contains(rest, " "+tag+" seq=") {
				if out[tag] == nil {
					out[tag] = map[int]int{}
				}
				out[tag][seq]++
			}
		}
	}
	return out
}

// TestRELPLosesNothingAcrossKills runs `sluice dev` as a process with the RELP
// receiver and rsyslog's omrelp sending to it, kills sluice with SIGKILL twice while
// messages flow and starts it again on the same address and data directory: rsyslog
// resends what was not answered, and every message is in the file sink at the end
// (duplicates allowed).
func TestRELPLosesNothingAcrossKills(t *testing.T) {
	rsyslogtest.Rsyslogd(t)
	bin := sluiceBinary(t)
	dataDir := t.TempDir()
	httpAddr, relpAddr := freeAddr(t), freeAddr(t)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "sluice.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "dev", "--http", httpAddr, "--grpc", "", "--lumberjack", "", "--relp", relpAddr, "--data-dir", dataDir)
		cmd.Env = append(os.Environ(), "SLUICE_SAMPLE_PIPELINES=false", "SLUICE_LOG_FORMAT=text", "SLUICE_GRPC_ADDR=", "SLUICE_LUMBERJACK_ADDR=")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, httpAddr)
		return cmd
	}
	cmd := start()
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("sluice log:\n%s", data)
		}
	}()
	inst := rsyslogtest.Start(t, rsyslogtest.Forward{Protocol: rsyslogtest.RELP, Addr: relpAddr})
	const chunks, per = 10, 2000
	for c := range chunks {
		if err := inst.Send(rsyslogtest.Messages("relp", c*per, per)...); err != nil {
			t.Fatal(err)
		}
		if c == 3 || c == 6 {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			time.Sleep(300 * time.Millisecond)
			cmd = start()
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	var got map[int]int
	for {
		got = syslogSeqs(t, filepath.Join(dataDir, "syslog"))["relp"]
		if len(got) == chunks*per {
			break
		}
		if time.Now().After(deadline) {
			missing := 0
			for i := range chunks * per {
				if got[i] == 0 {
					missing++
				}
			}
			t.Fatalf("%d of %d messages missing after two kills", missing, chunks*per)
		}
		time.Sleep(200 * time.Millisecond)
	}
	dups := 0
	for _, k := range got {
		dups += k - 1
	}
	t.Logf("%d messages through two SIGKILLs: none lost, %d delivered twice", chunks*per, dups)
}
