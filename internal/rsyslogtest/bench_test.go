package rsyslogtest_test

import (
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/rsyslogtest"
	"github.com/sluice-siem/sluice/internal/testcerts"
)

// BenchmarkRsyslogToRsyslog is the baseline a sluice receiver is compared with: an
// rsyslog client forwarding b.N messages to rsyslog's own receiver, timed until the
// receiver has written the last one. A benchmark of a sluice receiver starts the same
// client (rsyslogtest.Start) against it.
func BenchmarkRsyslogToRsyslog(b *testing.B) {
	rsyslogtest.Rsyslogd(b)
	certs := testcerts.New(b)
	cert, key := rsyslogtest.WriteKeyPair(b, certs.Client)
	server := &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: certs.ServerCert, KeyFile: certs.ServerKey}
	client := &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: cert, KeyFile: key}
	for _, p := range []struct {
		name     string
		protocol rsyslogtest.Protocol
		tls      bool
	}{{"tcp", rsyslogtest.TCP, false}, {"tls", rsyslogtest.TLS, true}, {"relp", rsyslogtest.RELP, false}} {
		b.Run(p.name, func(b *testing.B) {
			rcv := rsyslogtest.Receive{Protocol: p.protocol, Buffered: true}
			fwd := rsyslogtest.Forward{Protocol: p.protocol}
			if p.tls {
				rcv.TLS, fwd.TLS = server, client
			}
			r := rsyslogtest.StartReceiver(b, rcv)
			fwd.Addr = r.Addr()
			c := rsyslogtest.Start(b, fwd)
			lines := rsyslogtest.Messages(p.name, 0, b.N)
			b.ResetTimer()
			if err := c.Send(lines...); err != nil {
				b.Fatal(err)
			}
			if got := r.WaitCount(b.N, 5*time.Minute); got < b.N {
				b.Fatalf("%d of %d messages arrived", got, b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
