package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sluice-siem/sluice/gateway/syslog"
)

// metricsEndpoint returns a meter exported in the Prometheus text format, as sluice
// serves it on /metrics, and that endpoint's URL.
func metricsEndpoint(t *testing.T) (metric.Meter, string) {
	t.Helper()
	reg := promclient.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return mp.Meter("github.com/sluice-siem/sluice"), srv.URL + "/metrics"
}

// startSyslog runs sluice's syslog receiver (plain TCP) on the gateway core over the
// discard stream, as `sluice gateway --syslog-tcp` runs it.
func startSyslog(t *testing.T, meter metric.Meter) (*syslog.Server, func() int64) {
	t.Helper()
	g, null := newCore(t)
	cfg := syslog.DefaultConfig("127.0.0.1")
	cfg.TCP.Addr, cfg.UDP.Addr = "127.0.0.1:0", ""
	srv, err := syslog.New(g, cfg, syslog.Options{Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return srv, null.Records
}

// Syslog acknowledges nothing: the run counts what it wrote, then waits until the
// receiver's own metric says every message arrived.
func TestSyslogTCPToSluiceReceiver(t *testing.T) {
	meter, metrics := metricsEndpoint(t)
	srv, records := startSyslog(t, meter)
	addr := srv.TCPAddr().String()

	for _, c := range []struct {
		format, framing string
		events          int64
	}{{syslogBSD, framingOctet, 5000}, {syslogRFC5424, framingLF, 2200}} {
		before := records()
		s, code := load(t, "--transport", "syslog-tcp", "--addr", addr, "--connections", "2", "--events", strconv.FormatInt(c.events, 10),
			"--syslog-format", c.format, "--syslog-framing", c.framing, "--received-metrics", metrics)
		if code != 0 || !s.OK || len(s.Errors) != 0 {
			t.Errorf("%s/%s: exit %d, ok %v, problems %q, errors %v", c.format, c.framing, code, s.OK, s.Problems, s.Errors)
		}
		if s.Events != (counts{Sent: c.events, Acked: c.events}) {
			t.Errorf("%s/%s: events %+v, want %d sent and acked (written)", c.format, c.framing, s.Events, c.events)
		}
		r := s.Received
		if r == nil || !r.Complete || r.Count != c.events || r.Results["accepted"] != float64(r.Before+c.events) {
			t.Errorf("%s/%s: received %+v, want all %d", c.format, c.framing, r, c.events)
		}
		if got := records() - before; got != c.events {
			t.Errorf("%s/%s: the stream got %d records, want %d", c.format, c.framing, got, c.events)
		}
		if s.Latency.Count != 0 || s.Inflight != 1 || s.Framing != c.framing || s.Shape != "syslog-"+c.format {
			t.Errorf("%s/%s: latency %+v (want none: no acknowledgement), inflight %d, framing %q, shape %q",
				c.format, c.framing, s.Latency, s.Inflight, s.Framing, s.Shape)
		}
		if s.EventBytes < 150 || s.EventBytes > 260 || s.WireMBPerSec <= 0 || s.Process == nil {
			t.Errorf("%s/%s: %.0f bytes per message (want about 200), wire %.1f MB/s, process %+v", c.format, c.framing, s.EventBytes, s.WireMBPerSec, s.Process)
		}
	}
}

// A subject that takes the bytes but receives fewer messages than were written fails
// the run, with the count it has: nothing is hidden.
func TestSyslogTCPMissingMessagesFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := filepath.Join(t.TempDir(), "messages")
	// A receiver that writes a line per octet-counted frame but drops every tenth.
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
				if err != nil {
					return
				}
				defer f.Close()
				br := bufio.NewReader(nc)
				for i := 0; ; i++ {
					size, err := br.ReadString(' ')
					if err != nil {
						return
					}
					n := 0
					for _, c := range strings.TrimSpace(size) {
						n = n*10 + int(c-'0')
					}
					if _, err := br.Discard(n); err != nil {
						return
					}
					if i%10 != 9 {
						_, _ = f.Write([]byte("\n"))
					}
				}
			}()
		}
	}()
	s, code := load(t, "--transport", "syslog-tcp", "--addr", ln.Addr().String(), "--connections", "1", "--events", "1000",
		"--batch", "100", "--received-file", out, "--sink-timeout", "1s", "--received-poll", "5ms")
	if code != 1 || s.OK {
		t.Fatalf("exit %d, ok %v: want a failed run", code, s.OK)
	}
	if s.Received == nil || s.Received.Complete || s.Received.Count != 900 {
		t.Errorf("received %+v, want 900 of 1000", s.Received)
	}
	if len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "received 900 of 1000") {
		t.Errorf("problems %q", s.Problems)
	}
}

func TestSyslogMessages(t *testing.T) {
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	p, err := syslog.NewParser(syslog.DefaultRules(), "syslog")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range syslogFormats {
		msgs, err := syslogMessages(format, 0, 1, start, 400)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for i, m := range msgs {
			total += len(m)
			ev, typ, ok := p.AppendEvent(nil, m, "127.0.0.1:5140", start)
			if !ok || bytes.Contains(ev, []byte("_syslogparsefailure")) {
				t.Errorf("%s[%d] is not syslog to sluice's parser: %s", format, i, m)
			}
			if want := map[int]string{0: "firewall", 1: "syslog", 2: "firewall", 3: "syslog"}[i%4]; typ != want {
				t.Errorf("%s[%d]: type %q, want %q: %s", format, i, typ, want, m)
			}
			if bytes.ContainsAny(m, "\n\r") {
				t.Errorf("%s[%d] holds a line break", format, i)
			}
		}
		if mean := total / len(msgs); mean < 170 || mean > 230 {
			t.Errorf("%s: %d bytes per message, want about 200", format, mean)
		}
		padded, _ := syslogMessages(format, 300, 1, start, 8)
		for _, m := range padded {
			if len(m) != 300 {
				t.Errorf("%s: padded to %d bytes, want 300", format, len(m))
			}
		}
	}
	var frames []byte
	frames = frameSyslog(frames, framingOctet, []byte("<13>hello"))
	frames = frameSyslog(frames, framingLF, []byte("<13>hi"))
	if string(frames) != "9 <13>hello<13>hi\n" {
		t.Errorf("frames %q", frames)
	}
	if _, err := syslogMessages("cef", 0, 1, start, 1); err == nil {
		t.Error("unknown format: no error")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP sluice_syslog_messages_total Syslog messages.
# TYPE sluice_syslog_messages_total counter
sluice_syslog_messages_total{listener="tcp",result="accepted"} 1.2e+06
sluice_syslog_messages_total{listener="tls",result="accepted"} 5
sluice_syslog_messages_total{listener="tcp",result="too_long",note="a \"quoted\" \\ value"} 3
sluice_syslog_messages_total_other{result="accepted"} 99
sluice_syslog_messages 7
`
	m := &metricCounter{}
	var err error
	if m.name, m.labels, err = parseSelector(`sluice_syslog_messages_total{result="accepted"}`); err != nil {
		t.Fatal(err)
	}
	samples, err := parseMetrics(strings.NewReader(text), m.name)
	if err != nil || len(samples) != 3 {
		t.Fatalf("%d samples, %v", len(samples), err)
	}
	if samples[2].labels["note"] != `a "quoted" \ value` || samples[0].value != 1.2e6 {
		t.Errorf("samples %+v", samples)
	}
	var sum float64
	for _, s := range samples {
		if matches(s.labels, m.labels) {
			sum += s.value
		}
	}
	if sum != 1200005 {
		t.Errorf("sum %v, want 1200005", sum)
	}
	for _, bad := range []string{"", `{result="x"}`, `m{result=x}`, `m{result="x"`, `m{result="x"} tail`} {
		if _, _, err := parseSelector(bad); err == nil {
			t.Errorf("parseSelector(%q): no error", bad)
		}
	}
	if _, err := parseMetrics(strings.NewReader("m{a=\"b\"} notanumber\n"), "m"); err == nil {
		t.Error("bad value: no error")
	}
}

func TestFileCounter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	c := newFileCounter(path)
	ctx := context.Background()
	if n, err := c.count(ctx); n != 0 || err != nil {
		t.Fatalf("missing file: %d, %v", n, err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _ = io.WriteString(f, "a\nb\nc")
	if n, _ := c.count(ctx); n != 2 {
		t.Errorf("%d lines, want 2 (the third is not complete)", n)
	}
	_, _ = io.WriteString(f, "\n\n")
	if n, _ := c.count(ctx); n != 4 {
		t.Errorf("%d lines, want 4", n)
	}
}

func TestTableReceived(t *testing.T) {
	rows := []*scenarioRow{{label: "syslog",
		subject: &summary{OK: true, Role: "subject", Transport: transportSyslogTCP, Events: counts{Acked: 5000}, Process: &processFigures{EventsPerCore: 900000},
			Received: &receivedFigures{Source: `http://127.0.0.1:1/metrics m{result="accepted"}`, Count: 5000, Complete: true, Wait: 0.061}},
		baseline: &summary{OK: false, Role: "baseline", Transport: transportSyslogTCP, Events: counts{Acked: 5000},
			Received: &receivedFigures{Source: "/tmp/x/messages", Count: 4000}}}}
	var out bytes.Buffer
	writeTable(&out, rows)
	want := `- syslog: subject 5,000 of 5,000 written (m{result="accepted"}), the last 0.06 s after the last was written; baseline 4,000 of 5,000 written (its output file), INCOMPLETE.`
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "| syslog | 900,000 | FAILED | - |") {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
}

func TestSyslogFlagsChecked(t *testing.T) {
	for args, want := range map[string]string{
		"--transport syslog-tcp --addr 127.0.0.1:1":                                                         "needs --received-metrics or --received-file",
		"--transport relp --addr 127.0.0.1:1 --window 0":                                                    "--window must be 1 to 4096",
		"--transport relp --addr 127.0.0.1:1 --syslog-format cef":                                           "--syslog-format must be bsd or rfc5424",
		"--transport syslog-tcp --addr 127.0.0.1:1 --received-file f --syslog-framing nul":                  "--syslog-framing must be octet-counted or lf",
		"--transport syslog-tcp --addr 127.0.0.1:1 --received-file f --received-metrics http://127.0.0.1:1": "exclude each other",
		"--transport http --addr 127.0.0.1:1 --received-metrics http://127.0.0.1:1/metrics":                 "needs --received-metric",
		"--transport relp --addr 127.0.0.1:1 --received-metrics http://127.0.0.1:1 --received-metric x{":    "--received-metric",
		"--transport relp --addr 127.0.0.1:1 --received-metrics http://192.0.2.1/metrics":                   "--allow-remote",
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"run"}, strings.Fields(args)...), io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", args, code, stderr.String(), want)
		}
	}
}
