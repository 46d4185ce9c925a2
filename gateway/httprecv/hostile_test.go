package httprecv_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/internal/bytesize"
)

// newFullHarness is newHarness with every ingest endpoint mounted: /v1/events, the REST
// mapping /v1/push and the Elasticsearch-compatible _bulk.
func newFullHarness(t *testing.T, cfg gateway.Config, consume bool) *harness {
	t.Helper()
	h := newHarness(t, cfg, consume, 256<<20)
	push, err := grpcrecv.New(h.gw, grpcrecv.Config{}, grpcrecv.Options{}).RESTHandler(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := testBulk()
	h.srv = httptest.NewServer(receiver(t, h.gw, httprecv.Options{Bulk: &b, Push: push}))
	t.Cleanup(h.srv.Close)
	return h
}

// deepLine is one NDJSON line of millions of nested brackets: 3 MiB that compress to a
// few kilobytes, which overflowed the stack of the recursive validator used before.
func deepLine() []byte { return bytes.Repeat([]byte("["), 3<<20) }

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// TestDeepNestingIsRefusedNotFollowed: a deeply nested line, compressed either way, is
// refused with the limit it broke (limits.max_depth) on /v1/events and /_bulk, and the
// good lines of the same body are kept.
func TestDeepNestingIsRefusedNotFollowed(t *testing.T) {
	h := newFullHarness(t, gateway.DefaultConfig(), true)
	events := append(append([]byte(`{"message":"before"}`+"\n"), deepLine()...), "\n"+`{"message":"after"}`+"\n"...)
	bulk := append(append([]byte(`{"create":{}}`+"\n"), deepLine()...), "\n"+`{"create":{}}`+"\n"+`{"message":"bulk-ok"}`+"\n"...)
	for _, enc := range []struct {
		name string
		fn   func(*testing.T, []byte) []byte
	}{{"gzip", gzipped}, {"zstd", zstded}} {
		t.Run("events "+enc.name, func(t *testing.T) {
			h.post(t, "/v1/events?type=ids", enc.fn(t, events), "Content-Encoding", enc.name).
				want(t, http.StatusBadRequest, `"accepted":2`, `"line":2`, "nested deeper than 100 levels", "limits.max_depth")
		})
		t.Run("bulk "+enc.name, func(t *testing.T) {
			h.post(t, "/logs-waf-default/_bulk", enc.fn(t, bulk), "Content-Encoding", enc.name).
				want(t, http.StatusOK, `"errors":true`, "limits.max_depth", `"status":201`)
		})
	}
	got := h.received(t)
	ids, waf := messages(got["sluice-ids"]), messages(got["sluice-waf"])
	slices.Sort(ids)
	if fmt.Sprint(ids) != "[ids:after ids:after ids:before ids:before]" || fmt.Sprint(waf) != "[waf:bulk-ok waf:bulk-ok]" {
		t.Fatalf("streams hold %v and %v", ids, waf)
	}
}

// TestNumbersOutOfRangeAreRefused: 1e999 is valid JSON that no JSON reader downstream
// can hold; the gateway refuses the event instead of passing it on.
func TestNumbersOutOfRangeAreRefused(t *testing.T) {
	h := newFullHarness(t, gateway.DefaultConfig(), true)
	h.post(t, "/v1/events?type=ids", []byte(`{"n":1e999}`+"\n"+`{"n":1e308,"message":"ok"}`)).
		want(t, http.StatusBadRequest, `"accepted":1`, `"line":1`, "number 1e999 is out of range")
	h.post(t, "/_bulk", []byte(`{"index":{"_index":"logs-ids-x"}}`+"\n"+`{"n":[-1E+400]}`+"\n")).
		want(t, http.StatusOK, `"errors":true`, "number -1E+400 is out of range")
	if m := messages(h.received(t)["sluice-ids"]); fmt.Sprint(m) != "[ids:ok]" {
		t.Fatalf("stream holds %v", m)
	}
}

// TestUnsupportedContentTypes: every ingest endpoint answers 415 for a body that is not
// JSON, naming what to send, and reads nothing of it.
func TestUnsupportedContentTypes(t *testing.T) {
	h := newFullHarness(t, gateway.DefaultConfig(), false)
	for _, path := range []string{"/v1/events", "/_bulk", "/logs-ids-x/_bulk", "/v1/push"} {
		for _, ct := range []string{"text/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset", "image/png"} {
			h.post(t, path, []byte(`{"events":[]}`), "Content-Type", ct).want(t, http.StatusUnsupportedMediaType, "Content-Type", "send application/")
		}
	}
	// The media types Elasticsearch's clients send in compatibility mode are fine.
	h.post(t, "/_bulk", []byte(`{"create":{"_index":"logs-ids-x"}}`+"\n{}\n"), "Content-Type", "application/vnd.elasticsearch+x-ndjson; compatible-with=8").
		want(t, http.StatusOK, `"errors":false`)
}

// TestPushDecodedLimitIsTheEventsLimit: /v1/push takes a compressed body up to the same
// decoded size as /v1/events, and answers 413 past it.
func TestPushDecodedLimitIsTheEventsLimit(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.MaxBodyBytes = 8 * bytesize.KiB
	cfg.Limits.MaxDecodedBytes = 64 * bytesize.KiB
	h := newHarness(t, cfg, false, 64<<20)
	push := func(n int) []byte {
		return gzipped(t, []byte(`{"events":[{"type":"ids","message":"`+strings.Repeat("x", n)+`"}]}`))
	}
	h.post(t, "/v1/push", push(20<<10), "Content-Type", "application/json", "Content-Encoding", "gzip").want(t, http.StatusOK, `"accepted":1`)
	h.post(t, "/v1/push", push(70<<10), "Content-Type", "application/json", "Content-Encoding", "gzip").
		want(t, http.StatusRequestEntityTooLarge, "limits.max_decoded_bytes")
}

// TestBodyBudgetIsShared: bodies being read take room from limits.max_buffered_bytes as
// their bytes arrive, not as their Content-Length declares: clients that declare the
// largest body and send a byte do not starve the others, and a request that would take
// more than the budget waits, then gets 429 with Retry-After instead of memory.
func TestBodyBudgetIsShared(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.MaxBodyBytes = 1 * bytesize.MiB
	cfg.Limits.MaxDecodedBytes = 1 * bytesize.MiB
	cfg.Limits.MaxBufferedBytes = 2 * bytesize.MiB
	cfg.Limits.BackpressureWait = 200 * time.Millisecond
	line := `{"message":"` + strings.Repeat("x", 1000) + `"}` + "\n"
	full := bytes.Repeat([]byte(line), (1<<20)/len(line))
	dial := func(t *testing.T, h *harness, contentLength int) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /v1/events?type=ids HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n", contentLength)
		return c
	}

	t.Run("declared lengths take nothing", func(t *testing.T) {
		h := newHarness(t, cfg, true, 64<<20)
		for range 8 { // each declares the largest body and sends one byte of it
			_, _ = dial(t, h, 1<<20).Write([]byte("{"))
		}
		quarter := bytes.Repeat([]byte(line), (1<<20)/4/len(line))
		h.post(t, "/v1/events?type=ids", quarter).want(t, http.StatusOK, fmt.Sprintf(`"accepted":%d`, bytes.Count(quarter, []byte("\n"))))
	})
	t.Run("a body over the budget waits, then 429", func(t *testing.T) {
		h := newHarness(t, cfg, true, 64<<20)
		slow := dial(t, h, len(full))
		if _, err := slow.Write(full[:len(full)-1]); err != nil {
			t.Fatal(err)
		}
		// The slow body holds nearly the whole budget once its buffer has grown to
		// 1 MiB (64 KiB + 128 KiB + ... + 1 MiB, each buffer it grew through): wait for
		// that, then a second body is turned away.
		deadline := time.Now().Add(10 * time.Second)
		for h.gw.BufferedBytes() < 1984<<10 {
			if time.Now().After(deadline) {
				t.Fatalf("the slow body holds %d bytes of the budget", h.gw.BufferedBytes())
			}
			time.Sleep(10 * time.Millisecond)
		}
		r := h.post(t, "/v1/events?type=ids", full)
		r.want(t, http.StatusTooManyRequests, "limits.max_buffered_bytes")
		if r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		// The slow client finishes and is accepted: a turned-away request took nothing.
		if _, err := slow.Write(full[len(full)-1:]); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _ := slow.Read(buf)
		if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 200")) {
			t.Fatalf("slow client got %q", buf[:n])
		}
	})
}

// TestRefusalsAreCounted: requests refused as a whole are counted by kind, and the
// shared budget of request bytes is all given back once the requests are done.
func TestRefusalsAreCounted(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	h := newHarness(t, gateway.DefaultConfig(), false, 64<<20)
	srv := httptest.NewServer(receiver(t, h.gw, httprecv.Options{Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")}))
	t.Cleanup(srv.Close)
	h.srv = srv
	for range 3 {
		h.post(t, "/v1/events", []byte("x"), "Content-Type", "text/xml").want(t, http.StatusUnsupportedMediaType)
	}
	h.post(t, "/v1/events", gzipped(t, []byte(`{"a":1}`))[:10], "Content-Encoding", "gzip").want(t, http.StatusBadRequest)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					k, _ := dp.Attributes.Value("kind")
					got[m.Name+"{"+k.AsString()+"}"] = dp.Value
				}
			}
		}
	}
	want := map[string]int64{"sluice_http_requests_refused{unsupported_media}": 3, "sluice_http_requests_refused{invalid}": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	if n := h.gw.BufferedBytes(); n != 0 {
		t.Errorf("%d buffered bytes still taken", n)
	}
}
