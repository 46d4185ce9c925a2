package syslog

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc3164"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/cputime"
	"github.com/sluice-siem/sluice/stream/discard"
)

// benchLines returns n BSD lines of about 200 bytes, as firewalls and hosts send them:
// half pfSense filterlog lines, a quarter iptables kernel lines (which the default
// firewall rule's regular expression matches), a quarter sshd lines.
func benchLines(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		var s string
		switch i % 4 {
		case 0, 2:
			s = fmt.Sprintf("<134>Dec  6 10:%02d:%02d fw%02d filterlog[4242]: 5,,,1000000103,igb0,match,block,in,4,0x0,,64,%d,0,DF,6,tcp,60,203.0.113.%d,198.51.100.7,%d,443,0,S,1234567%03d,,64240,,mss;sackOK;TS;nop;wscale;sackOK;eol",
				i/60%60, i%60, i%16, 40000+i%20000, i%250, 1024+i%60000, i%1000)
		case 1:
			s = fmt.Sprintf("<4>Dec  6 10:%02d:%02d fw%02d kernel: [12345.%03d] FW-DROP: IN=eth0 OUT= SRC=203.0.113.%d DST=10.1.2.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=%d DF PROTO=TCP SPT=%d DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0 MARK=0x1",
				i/60%60, i%60, i%16, i%1000, i%250, i%65536, 1024+i%60000)
		case 3:
			s = fmt.Sprintf("<38>Dec  6 10:%02d:%02d bastion%02d sshd[%d]: Failed password for invalid user admin%d from 203.0.113.%d port %d ssh2 [preauth] (attempt %d of 6 allowed in this session)",
				i/60%60, i%60, i%16, 1000+i%30000, i%100, i%250, 1024+i%60000, i%6+1)
		}
		out[i] = []byte(s)
	}
	return out
}

func meanLen(lines [][]byte) float64 {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	return float64(n) / float64(len(lines))
}

// countingIngester accepts every event at once and counts them: the receiver alone,
// without the gateway core and the stream.
type countingIngester struct {
	limits gateway.Limits
	n      atomic.Int64
	calls  atomic.Int64
}

func (c *countingIngester) Limits() gateway.Limits { return c.limits }
func (c *countingIngester) Ready() bool            { return true }
func (c *countingIngester) Ingest(_ context.Context, b gateway.Batch) (gateway.Result, error) {
	c.n.Add(int64(len(b.Events)))
	c.calls.Add(1)
	return gateway.Result{Accepted: len(b.Events)}, nil
}

// BenchmarkTCP sends ~200-byte BSD lines over two loopback TCP connections, in both
// framings, into a discarding ingester (the receiver alone: framing, header parsing,
// type rules, event documents, batching), and with framing LF into the gateway core
// over the discard stream (routing, envelopes and metrics too). Per core:
//
//	go test -run '^$' -bench BenchmarkTCP -cpu 1 ./gateway/syslog
//
// msgs/cpu-s divides by the CPU time of the whole process, the clients' writes
// included.
func BenchmarkTCP(b *testing.B) {
	for _, framing := range []string{"lf", "octet"} {
		b.Run(framing, func(b *testing.B) {
			ing := &countingIngester{limits: gateway.DefaultConfig().Limits}
			benchTCP(b, framing, ing, ing.n.Load)
			b.ReportMetric(float64(ing.n.Load())/float64(max(1, ing.calls.Load())), "msgs/batch")
		})
	}
	b.Run("lf-gateway", func(b *testing.B) {
		gwcfg := gateway.DefaultConfig()
		gwcfg.Auth.Disabled = true
		out := discard.New()
		gw, err := gateway.New(gwcfg, out, gateway.Options{})
		if err != nil {
			b.Fatal(err)
		}
		benchTCP(b, "lf", gw, out.Records)
	})
}

func benchTCP(b *testing.B, framing string, ing Ingester, count func() int64) {
	const conns = 2
	lines := benchLines(4096)
	var block []byte
	for _, l := range lines {
		if framing == "octet" {
			block = fmt.Appendf(block, "%d %s", len(l), l)
		} else {
			block = append(append(block, l...), '\n')
		}
	}
	cfg := DefaultConfig("127.0.0.1")
	cfg.TCP.Addr, cfg.UDP.Addr = "127.0.0.1:0", ""
	srv, err := New(ing, cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", srv.TCPAddr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	blocks := max(1, b.N/len(lines)/conns)
	total := int64(blocks*len(lines)*conns) + count()
	b.SetBytes(int64(len(block)) / int64(len(lines)))
	b.ResetTimer()
	cpu0, t0 := cputime.Self(), time.Now()
	errs := make(chan error, conns)
	for _, c := range cs {
		go func() {
			for range blocks {
				if _, err := c.Write(block); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	for count() < total {
		time.Sleep(100 * time.Microsecond)
	}
	cpu, elapsed := cputime.Self()-cpu0, time.Since(t0)
	b.StopTimer()
	n := float64(blocks * len(lines) * conns)
	b.ReportMetric(n/elapsed.Seconds(), "msgs/s")
	if cputime.Measured {
		b.ReportMetric(n/cpu.Seconds(), "msgs/cpu-s")
	}
	b.ReportMetric(meanLen(lines), "B/msg")
}

// BenchmarkParser makes the event documents of ~200-byte BSD lines: header, rules and
// JSON, the per-message work of every receiver.
func BenchmarkParser(b *testing.B) {
	p := defaultParser(b)
	lines := benchLines(4096)
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(meanLen(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		dst, _, _ = p.AppendEvent(dst[:0], lines[i%len(lines)], testSource, received)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkParseHeader reads the headers alone.
func BenchmarkParseHeader(b *testing.B) {
	lines := benchLines(4096)
	b.SetBytes(int64(meanLen(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = ParseHeader(lines[i%len(lines)], received)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkGoSyslogRFC3164 is the baseline of BenchmarkParseHeader: the RFC 3164
// parser of github.com/leodido/go-syslog (which the transform tier's syslog processor
// uses) on the same lines, without writing an event.
func BenchmarkGoSyslogRFC3164(b *testing.B) {
	lines := benchLines(4096)
	m := rfc3164.NewMachine(rfc3164.WithYear(rfc3164.Year{YYYY: 2026}))
	b.SetBytes(int64(meanLen(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := m.Parse(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
