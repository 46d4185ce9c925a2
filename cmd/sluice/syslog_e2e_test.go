package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevSyslogInProcess: sluice dev with the syslog TCP and UDP listeners (addresses
// given as the flags --syslog-tcp and --syslog-udp would) routes an iptables kernel
// line to firewall, where the firewall sample pipeline parses it, and a line no rule
// matches to the default type, keeping the raw line as message.
func TestDevSyslogInProcess(t *testing.T) {
	cfg := devConfig(t)
	cfg.SamplePipelines = true
	cfg.SampleLookups = false
	var f serveFlags
	f.syslogTCP, f.syslogUDP = "127.0.0.1:0", "127.0.0.1:0"
	f.apply(&cfg)
	a, stop := startDev(t, cfg)

	fw := "<4>Dec  6 10:00:00 fw01 kernel: [12345.678] IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=203.0.113.7 DST=10.1.2.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=4242 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0"
	other := "<13>Dec  6 10:00:01 app01 myapp[42]: user alice logged in"
	c, err := net.Dial("tcp", a.syslogSrv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Octet counting, as rsyslog's omfwd with TCP_Framing octet-counted sends.
	fmt.Fprintf(c, "%d %s%d %s", len(fw), fw, len(other), other)
	c.Close()
	u, err := net.Dial("udp", a.syslogSrv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(u, "<13>Dec  6 10:00:02 app01 myapp[42]: over udp\n")
	u.Close()

	deadline := time.Now().Add(20 * time.Second)
	for {
		fwDocs := readFiles(t, filepath.Join(cfg.Sink.File.Dir, "firewall"))
		sysDocs := readFiles(t, filepath.Join(cfg.Sink.File.Dir, "syslog"))
		if strings.Contains(fwDocs, `"ip":"203.0.113.7"`) && strings.Contains(fwDocs, `"port":22`) &&
			strings.Contains(sysDocs, "user alice logged in") && strings.Contains(sysDocs, "over udp") {
			if !strings.Contains(sysDocs, `"message":"<13>Dec  6 10:00:01 app01 myapp[42]: user alice logged in"`) {
				t.Errorf("the raw line is not the message:\n%s", sysDocs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("firewall:\n%s\nsyslog:\n%s", fwDocs, sysDocs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// readFiles returns the contents of the NDJSON files under dir.
func readFiles(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}
