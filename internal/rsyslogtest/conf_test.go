package rsyslogtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/internal/testcerts"
)

func TestForwardRejectsEveryProblemAtOnce(t *testing.T) {
	_, err := forwardConfig(t.TempDir(), Forward{Protocol: "sctp", Addr: "10.0.0.1:514", Framing: "lines", QueueSize: 10})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`protocol "sctp"`, `framing "lines"`, "only to loopback", "queue size 10"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	for _, f := range []Forward{
		{Protocol: TLS, Addr: "127.0.0.1:6514"},                                             // no TLS files
		{Protocol: TCP, Addr: "127.0.0.1:514", TLS: &TLSFiles{CAFile: "ca.pem"}},            // TLS on tcp
		{Protocol: RELP, Addr: "127.0.0.1:2514", TLS: &TLSFiles{}},                          // no CA
		{Protocol: RELP, Addr: "127.0.0.1:2514", TLS: &TLSFiles{CAFile: "c", KeyFile: "k"}}, // key without cert
		{Protocol: RELP, Addr: "127.0.0.1:2514", TLS: &TLSFiles{CAFile: "c"}},               // librelp's anonymous TLS
		{Protocol: TCP, Addr: "example.com:514"},
		{Protocol: UDP, Addr: "127.0.0.1"},
	} {
		if _, err := forwardConfig(t.TempDir(), f); err == nil {
			t.Errorf("%+v: no error", f)
		}
	}
}

func TestReceiveRejects(t *testing.T) {
	for _, r := range []Receive{
		{Protocol: "tcp6"},
		{Protocol: TLS},
		{Protocol: TLS, TLS: &TLSFiles{CAFile: "ca.pem"}}, // no server certificate
		{Protocol: TCP, Template: ForwardFormat},          // no LF
		{Protocol: UDP},                                   // imudp needs a port
		{Protocol: RELP, Port: 70000},
	} {
		if _, err := receiveConfig(t.TempDir(), r, r.Port); err == nil {
			t.Errorf("%+v: no error", r)
		}
	}
}

func TestQuote(t *testing.T) {
	if got, want := q(`a"b\c`), `"a\"b\\c"`; got != want {
		t.Errorf("q = %s, want %s", got, want)
	}
}

func TestSeq(t *testing.T) {
	lines := Messages("tag", 41, 2)
	for i, l := range lines {
		n, ok := Seq("<14>1 2026-01-01T00:00:00Z h a - - - " + l[strings.LastIndex(l, "tag"):])
		if !ok || n != 41+i {
			t.Errorf("Seq(%q) = %d, %v", l, n, ok)
		}
	}
	if _, ok := Seq("no number here"); ok {
		t.Error("Seq found a number in a line without one")
	}
}

// Every configuration this package writes is one rsyslogd accepts (rsyslogd -N1).
func TestConfigsValidate(t *testing.T) {
	bin := Rsyslogd(t)
	certs := testcerts.New(t)
	files := &TLSFiles{CAFile: certs.CAFile, CertFile: certs.ServerCert, KeyFile: certs.ServerKey}
	mutual := *files
	mutual.RequireClientCert = true
	anonClient := &TLSFiles{CAFile: certs.CAFile}
	confs := map[string]func(dir string) (string, error){}
	for _, f := range []Forward{
		{Protocol: TCP},
		{Protocol: TCP, Framing: Traditional, Template: ForwardFormat},
		{Protocol: UDP, Template: TraditionalForwardFormat},
		{Protocol: TLS, TLS: anonClient},
		{Protocol: TLS, TLS: files, Framing: Traditional},
		{Protocol: RELP, MaxMessageSize: 64 << 10},
		{Protocol: RELP, TLS: files},
	} {
		f.Addr = "127.0.0.1:1514"
		confs["forward "+describe(f.Protocol, f.TLS, string(f.Framing), string(f.Template))] = func(dir string) (string, error) {
			return forwardConfig(dir, f)
		}
	}
	for _, r := range []Receive{
		{Protocol: TCP},
		{Protocol: TCP, Port: 1514, Buffered: true, Template: FileFormat},
		{Protocol: UDP, Port: 1514},
		{Protocol: TLS, TLS: files},
		{Protocol: TLS, TLS: &mutual},
		{Protocol: RELP, Port: 1514},
		{Protocol: RELP, Port: 1514, TLS: files},
		{Protocol: RELP, Port: 1514, TLS: &mutual, MaxMessageSize: 64 << 10},
	} {
		confs["receive "+describe(r.Protocol, r.TLS, "", string(r.Template))] = func(dir string) (string, error) {
			return receiveConfig(dir, r, r.Port)
		}
	}
	for name, conf := range confs {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, workName), 0o700); err != nil {
				t.Fatal(err)
			}
			text, err := conf(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "rsyslog.conf")
			writeFile(t, path, text)
			out, err := exec.Command(bin, "-N1", "-f", path).CombinedOutput()
			if err != nil || strings.Contains(string(out), "error") {
				t.Errorf("rsyslogd -N1: %v\n%s\n%s", err, out, text)
			}
			for _, banned := range []string{"imuxsock", "imklog", "/dev/log", "/etc/"} {
				if strings.Contains(text, banned) {
					t.Errorf("configuration mentions %s:\n%s", banned, text)
				}
			}
		})
	}
}

func describe(p Protocol, tls *TLSFiles, framing, template string) string {
	s := string(p)
	if tls != nil {
		s += "+tls"
		if tls.CertFile != "" {
			s += "+cert"
		}
		if tls.RequireClientCert {
			s += "+require"
		}
	}
	for _, x := range []string{framing, template} {
		if x != "" {
			s += " " + x
		}
	}
	return s
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
