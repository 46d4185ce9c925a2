package main

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/relp"
	"github.com/sluice-siem/sluice/gateway/syslog"
)

// startRELP runs sluice's RELP receiver on the gateway core over the discard stream,
// each message parsed as syslog, as `sluice gateway --relp` runs it.
func startRELP(t *testing.T, meter metric.Meter) (*relp.Server, func() int64) {
	t.Helper()
	g, null := newCore(t)
	parser, err := syslog.NewParser(syslog.DefaultRules(), "syslog")
	if err != nil {
		t.Fatal(err)
	}
	handle := func(ctx context.Context, b relp.Batch) (gateway.Result, error) {
		events := make([]gateway.Event, len(b.Messages))
		var buf []byte
		for i, m := range b.Messages {
			start := len(buf)
			var typ string
			buf, typ, _ = parser.AppendEvent(buf, m, b.Remote.String(), time.Now())
			events[i] = gateway.Event{Type: typ, Doc: buf[start:len(buf):len(buf)]}
		}
		return g.Ingest(ctx, gateway.Batch{Receiver: "relp", Events: events})
	}
	cfg := relp.DefaultConfig("127.0.0.1")
	cfg.Addr = "127.0.0.1:0"
	srv, err := relp.New(handle, cfg, relp.Options{Meter: meter})
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

func TestRELPToSluiceReceiver(t *testing.T) {
	meter, metrics := metricsEndpoint(t)
	srv, records := startRELP(t, meter)
	addr := srv.Addr().String()

	// Batches of 100 against a window of 64: a batch goes out in parts as answers free
	// slots. Every message's latency is recorded.
	s, code := load(t, "--transport", "relp", "--addr", addr, "--connections", "2", "--events", "3000",
		"--batch", "100", "--window", "64", "--syslog-format", "rfc5424", "--received-metrics", metrics)
	if code != 0 || !s.OK || len(s.Errors) != 0 {
		t.Errorf("exit %d, ok %v, problems %q, errors %v", code, s.OK, s.Problems, s.Errors)
	}
	if s.Events != (counts{Sent: 3000, Acked: 3000}) || s.Batches != (counts{Sent: 30, Acked: 30}) {
		t.Errorf("events %+v, batches %+v: want 3000 in 30 batches, all acknowledged", s.Events, s.Batches)
	}
	if l := s.Latency; l.Count != 3000 || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency %+v: want one per message, 0 < p50 <= p99 <= max", l)
	}
	if r := s.Received; r == nil || !r.Complete || r.Count != 3000 {
		t.Errorf("received %+v, want 3000 transactions accepted", r)
	}
	if got := records(); got != 3000 {
		t.Errorf("the stream got %d records, want 3000", got)
	}
	if s.Window != 64 || s.Shape != "syslog-rfc5424" || s.WireMBPerSec <= 0 || s.Process == nil {
		t.Errorf("window %d, shape %q, wire %.1f MB/s, process %+v", s.Window, s.Shape, s.WireMBPerSec, s.Process)
	}

	// Under a fixed rate, latency counts from each batch's scheduled time.
	s, code = load(t, "--transport", "relp", "--addr", addr, "--connections", "1", "--events", "1000",
		"--batch", "50", "--rate", "10000")
	if code != 0 || s.Events.Acked != 1000 || s.Latency.Count != 1000 || s.Elapsed < 0.09 {
		t.Errorf("at 10000/s: exit %d, events %+v, latency %+v, %.3fs", code, s.Events, s.Latency, s.Elapsed)
	}
}

// fakeRELP is a RELP server that answers every tenth message 500, and after
// closeAfter messages on a connection sends serverclose and closes it without
// answering the last one read.
func fakeRELP(t *testing.T, closeAfter int) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var seen atomic.Int64
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				bw := bufio.NewWriter(nc)
				msgs := 0
				for {
					f, err := readRELPFrame(br, nil)
					if err != nil {
						return
					}
					switch f.cmd {
					case "open":
						bw.Write(appendRELPFrame(nil, f.txnr, "rsp", []byte("200 OK\nrelp_version=0\ncommands=syslog")))
					case "close":
						bw.Write(appendRELPFrame(nil, f.txnr, "rsp", nil))
						bw.Flush()
						return
					case "syslog":
						seen.Add(1)
						if msgs++; msgs == closeAfter {
							bw.Write(appendRELPFrame(nil, 0, "serverclose", nil))
							bw.Flush()
							return
						}
						rsp := "200 OK"
						if msgs%10 == 0 {
							rsp = "500 not today"
						}
						bw.Write(appendRELPFrame(nil, f.txnr, "rsp", []byte(rsp)))
					}
					if br.Buffered() == 0 {
						bw.Flush()
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), &seen
}

// 500 answers and lost connections are counted, by kind, and fail the run.
func TestRELPErrorsCounted(t *testing.T) {
	addr, seen := fakeRELP(t, 300)
	s, code := load(t, "--transport", "relp", "--addr", addr, "--connections", "1", "--events", "1000", "--batch", "50")
	if code != 1 || s.OK {
		t.Errorf("exit %d, ok %v: want a failed run", code, s.OK)
	}
	e := s.Events
	if e.Sent != 1000 || e.Lost != 0 || e.Acked+e.Rejected+e.Failed != 1000 || e.Rejected == 0 || e.Failed == 0 {
		t.Errorf("events %+v: want all 1000 accounted for, some rejected (500) and some failed (connection closed)", e)
	}
	// The server saw every message acknowledged or rejected; failed ones were either
	// read and never answered, or never written.
	if seen.Load() < e.Acked+e.Rejected || s.Latency.Count != uint64(e.Acked) {
		t.Errorf("server saw %d, client: %+v, %d latencies", seen.Load(), e, s.Latency.Count)
	}
	if s.Errors["relp_500"] == 0 || s.Errors["relp_serverclose"] == 0 || !strings.Contains(s.ErrorSamples["relp_500"], "not today") {
		t.Errorf("errors %v, samples %v: want relp_500 and relp_serverclose", s.Errors, s.ErrorSamples)
	}
}

func TestRELPFrames(t *testing.T) {
	good := []struct {
		in   string
		txnr uint32
		cmd  string
		data string
	}{
		{"1 rsp 6 200 OK\n", 1, "rsp", "200 OK"},
		{"0 serverclose 0\n", 0, "serverclose", ""},
		{"999999999 rsp 13 500 too\nlarge\n", 999999999, "rsp", "500 too\nlarge"},
	}
	for _, c := range good {
		f, err := readRELPFrame(bufio.NewReader(strings.NewReader(c.in)), nil)
		if err != nil || f.txnr != c.txnr || f.cmd != c.cmd || string(f.data) != c.data {
			t.Errorf("%q: %+v, %v", c.in, f, err)
		}
		if got := string(appendRELPFrame(nil, c.txnr, c.cmd, []byte(c.data))); got != c.in {
			t.Errorf("append: %q, want %q", got, c.in)
		}
	}
	for _, in := range []string{"", "x rsp 0\n", "1rsp 0\n", "1 r5p 0\n", "1 rsp 0 \n", "1 rsp 3 200X", "1 rsp 6 200", "1234567890 rsp 0\n",
		"1 rsp 99999999 x\n", "1 " + strings.Repeat("a", 33) + " 0\n", "1 rsp 3\n"} {
		if f, err := readRELPFrame(bufio.NewReader(strings.NewReader(in)), nil); err == nil {
			t.Errorf("%q: read %+v", in, f)
		}
	}
	for data, want := range map[string]int{"200 OK": 200, "500 no": 500, "200": 200, "20": 0, "2000": 0, "abc": 0, "": 0} {
		if got := rspCode([]byte(data)); got != want {
			t.Errorf("rspCode(%q) = %d, want %d", data, got, want)
		}
	}
	if nextRELPTxnr(999999999) != 1 || nextRELPTxnr(7) != 8 {
		t.Error("TXNR does not wrap at 999999999")
	}
}
