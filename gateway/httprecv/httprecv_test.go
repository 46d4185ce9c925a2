package httprecv_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is the HTTP receiver over the real gateway core and embedded stream.
type harness struct {
	srv *httptest.Server
	gw  *gateway.Gateway
	ms  *embedded.Stream

	mu  sync.Mutex
	got map[string][]stream.Envelope // by stream name
}

func newHarness(t *testing.T, cfg gateway.Config, consume bool, streamBytes int64) *harness {
	t.Helper()
	ms, err := embedded.New(embedded.Config{Streams: cfg.StreamNames(), Shards: 2, MaxBytes: streamBytes, MaxRecordBytes: int(min(streamBytes, 1<<20))})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, ms, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{gw: gw, ms: ms, got: map[string][]stream.Envelope{}}
	push, err := grpcrecv.New(gw, grpcrecv.Config{}, grpcrecv.Options{}).RESTHandler(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(receiver(t, gw, httprecv.Options{OpenAPI: []byte(`{"swagger":"2.0"}`), Push: push}))
	t.Cleanup(h.srv.Close)
	if consume {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = ms.Consume(ctx, func(_ context.Context, b stream.Batch) error {
				h.mu.Lock()
				defer h.mu.Unlock()
				for _, r := range b.Records {
					env, err := stream.ParseEnvelope(r.Data)
					if err != nil {
						t.Errorf("record in %s: %v", b.Stream, err)
					}
					h.got[b.Stream] = append(h.got[b.Stream], env)
				}
				return nil
			})
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	return h
}

// received waits until the stream has been consumed and returns what it held.
func (h *harness) received(t *testing.T) map[string][]stream.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.ms.WaitEmpty(ctx); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]stream.Envelope{}
	for k, v := range h.got {
		out[k] = append([]stream.Envelope(nil), v...)
	}
	return out
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *harness) post(t *testing.T, path string, body []byte, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (r reply) want(t *testing.T, status int, contains ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	for _, c := range contains {
		if !strings.Contains(r.raw, c) {
			t.Fatalf("body %s does not contain %q", r.raw, c)
		}
	}
}

func messages(envs []stream.Envelope) []string {
	var out []string
	for _, e := range envs {
		var doc struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(e.Event, &doc)
		out = append(out, e.Type+":"+doc.Message)
	}
	return out
}

func TestEventsRoutesAndKeepsEveryEvent(t *testing.T) {
	h := newHarness(t, gateway.DefaultConfig(), true, 64<<20)
	body := strings.Join([]string{
		`{"message":"a","fields":{"log_type":"firewall"}}`,
		`{"message":"b","event":{"dataset":"ids"}}`,
		`{"message":"c","event.dataset":"waf"}`,
		`{"message":"d","fields":{"log_type":"vpn"}}`,
		// An _id cut out of the event: its type is still found.
		`{"_id":"k-1","message":"e","fields":{"log_type":"waf"}}`,
	}, "\n")
	h.post(t, "/v1/events", []byte(body)).want(t, http.StatusOK, `"accepted":5`, `"rejected":0`)
	got := h.received(t)
	for stream, want := range map[string]string{
		"sluice-firewall": "firewall:a", "sluice-ids": "ids:b", "sluice-waf": "waf:c waf:e", "sluice-default": "vpn:d",
	} {
		if m := strings.Join(slices.Sorted(slices.Values(messages(got[stream]))), " "); m != want { // shards do not keep one order
			t.Errorf("stream %s holds %v, want [%s]", stream, m, want)
		}
	}
}

func TestEventsTypeFromQueryAndHeader(t *testing.T) {
	h := newHarness(t, gateway.DefaultConfig(), true, 64<<20)
	h.post(t, "/v1/events?type=waf", []byte(`[{"message":"q","fields":{"log_type":"ids"}}]`), "Content-Type", "application/json").want(t, 200, `"accepted":1`)
	h.post(t, "/v1/events", []byte(`{"message":"h"}`), "X-Sluice-Type", "ids").want(t, 200, `"accepted":1`)
	got := h.received(t)
	if m := messages(got["sluice-waf"]); len(m) != 1 || m[0] != "waf:q" {
		t.Errorf("waf stream = %v; the query type must win over the event's field", m)
	}
	if m := messages(got["sluice-ids"]); len(m) != 1 || m[0] != "ids:h" {
		t.Errorf("ids stream = %v", m)
	}
}

func TestEventsPartlyBadBodyKeepsGoodEvents(t *testing.T) {
	h := newHarness(t, gateway.DefaultConfig(), true, 64<<20)
	body := "{\"message\":\"ok1\"}\n{\"message\": oops}\n\n{\"message\":\"ok2\"}\n42\n"
	r := h.post(t, "/v1/events?type=firewall", []byte(body))
	r.want(t, http.StatusBadRequest, `"accepted":2`, `"rejected":2`,
		`{"index":1,"line":2,"reason":"line 2: invalid JSON: invalid character 'o' looking for beginning of value (column 13)"}`,
		`{"index":3,"line":5,"reason":"line 5: event is a JSON number, want an object"}`)
	m := messages(h.received(t)["sluice-firewall"])
	slices.Sort(m) // random partition keys: no order across shards
	if strings.Join(m, ",") != "firewall:ok1,firewall:ok2" {
		t.Fatalf("stream holds %v", m)
	}
}

func TestEventsLimits(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.MaxBodyBytes = 12 * bytesize.KiB
	cfg.Limits.MaxDecodedBytes = 16 * bytesize.KiB
	cfg.Limits.MaxEventBytes = 200
	cfg.Limits.MaxBatchEvents = 5
	h := newHarness(t, cfg, true, 64<<20)

	t.Run("oversized event rejected alone", func(t *testing.T) {
		big := `{"message":"` + strings.Repeat("x", 300) + `"}`
		r := h.post(t, "/v1/events?type=ids", []byte(`{"message":"small"}`+"\n"+big))
		r.want(t, http.StatusRequestEntityTooLarge, `"accepted":1`, `"index":1`, "limits.max_event_bytes")
		if m := messages(h.received(t)["sluice-ids"]); len(m) != 1 || m[0] != "ids:small" {
			t.Fatalf("ids stream = %v", m)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		body := bytes.Repeat([]byte(`{"m":1}`+"\n"), 2000)
		h.post(t, "/v1/events?type=ids", body).want(t, http.StatusRequestEntityTooLarge, "limits.max_body_bytes", `"kind":"too_large"`)
	})
	t.Run("oversized body without content length", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/events?type=ids", io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("{}\n"), 5000))))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("gzip bomb", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(bytes.Repeat([]byte(" "), 4<<20)) // 4 MiB of spaces, ~4 KiB compressed
		_ = zw.Close()
		if buf.Len() > int(cfg.Limits.MaxBodyBytes) {
			t.Fatalf("bomb is %d bytes compressed; make it smaller than the wire limit", buf.Len())
		}
		h.post(t, "/v1/events?type=ids", buf.Bytes(), "Content-Encoding", "gzip").
			want(t, http.StatusRequestEntityTooLarge, "decompressed body exceeds 16384 bytes (limits.max_decoded_bytes)")
	})
	t.Run("zstd bomb", func(t *testing.T) {
		enc, _ := zstd.NewWriter(nil)
		bomb := enc.EncodeAll(bytes.Repeat([]byte(" "), 10<<20), nil)
		_ = enc.Close()
		h.post(t, "/v1/events?type=ids", bomb, "Content-Encoding", "zstd").
			want(t, http.StatusRequestEntityTooLarge, "limits.max_decoded_bytes")
	})
	t.Run("REST body over the limit", func(t *testing.T) {
		body := `{"events":[{"type":"ids","message":"` + strings.Repeat("x", 13<<10) + `"}]}`
		h.post(t, "/v1/push", []byte(body), "Content-Type", "application/json").
			want(t, http.StatusRequestEntityTooLarge, "limits.max_body_bytes")
	})
	t.Run("REST gzip bomb", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(`{"events":[{"type":"ids","message":"`))
		_, _ = zw.Write(bytes.Repeat([]byte("x"), 4<<20))
		_, _ = zw.Write([]byte(`"}]}`))
		_ = zw.Close()
		h.post(t, "/v1/push", buf.Bytes(), "Content-Type", "application/json", "Content-Encoding", "gzip").
			want(t, http.StatusRequestEntityTooLarge, "limits.max_decoded_bytes")
	})
	t.Run("too many events", func(t *testing.T) {
		h.post(t, "/v1/events?type=ids", bytes.Repeat([]byte("{}\n"), 6)).
			want(t, http.StatusRequestEntityTooLarge, "batch has 6 events, limit is 5 (limits.max_batch_events)")
	})
}

func TestEventsCompressedBodies(t *testing.T) {
	h := newHarness(t, gateway.DefaultConfig(), true, 64<<20)
	body := []byte("{\"message\":\"g\"}\n{\"message\":\"z\"}\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(body)
	_ = zw.Close()
	h.post(t, "/v1/events?type=waf", gz.Bytes(), "Content-Encoding", "gzip").want(t, 200, `"accepted":2`)
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(body, nil)
	_ = enc.Close()
	for range 3 { // pooled decoders are reused correctly
		h.post(t, "/v1/events?type=waf", zs, "Content-Encoding", "zstd").want(t, 200, `"accepted":2`)
	}
	if n := len(h.received(t)["sluice-waf"]); n != 8 {
		t.Fatalf("waf stream holds %d events, want 8", n)
	}
	h.post(t, "/v1/events?type=waf", []byte("not gzip at all"), "Content-Encoding", "gzip").want(t, http.StatusBadRequest, "read gzip body")
	h.post(t, "/v1/events?type=waf", body, "Content-Encoding", "br").want(t, http.StatusUnsupportedMediaType, `unsupported Content-Encoding \"br\"`)
}

func TestRESTPushCompressed(t *testing.T) {
	h := newHarness(t, gateway.DefaultConfig(), true, 64<<20)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"events":[{"type":"ids","message":"zipped"}]}`))
	_ = zw.Close()
	h.post(t, "/v1/push", buf.Bytes(), "Content-Type", "application/json", "Content-Encoding", "gzip").
		want(t, http.StatusOK, `"accepted":1`)
	if m := messages(h.received(t)["sluice-ids"]); len(m) != 1 || m[0] != "ids:zipped" {
		t.Fatalf("ids stream = %v", m)
	}
}

func TestEventsBadRequests(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Routing.UnknownTypes = "reject"
	h := newHarness(t, cfg, true, 64<<20)
	h.post(t, "/v1/events", []byte(`{"a":1}`), "Content-Type", "application/x-www-form-urlencoded").
		want(t, http.StatusUnsupportedMediaType, `unsupported Content-Type \"application/x-www-form-urlencoded\"`)
	h.post(t, "/v1/events?type=vpn", []byte(`{"a":1}`)).want(t, http.StatusBadRequest, `unknown log type \"vpn\" (known: firewall, ids, waf)`)
	h.post(t, "/v1/events", []byte(`{"a":1}`)).want(t, http.StatusBadRequest, "no log type")
	h.post(t, "/v1/events?type=../etc", []byte(`{"a":1}`)).want(t, http.StatusBadRequest, `invalid log type \"../etc\"`)
	h.post(t, "/v1/events", []byte("[{\"a\":1},")).want(t, http.StatusBadRequest, "invalid JSON array")
	h.post(t, "/v1/events", nil).want(t, http.StatusBadRequest, "empty body")
	h.post(t, "/v1/events?type=waf", []byte(" [ ] ")).want(t, http.StatusBadRequest, "empty JSON array: send at least one event")
	h.post(t, "/v1/nothing", []byte(`{}`)).want(t, http.StatusNotFound, "see /openapi.json")
	if got := h.received(t); len(got) != 0 {
		t.Fatalf("bad requests reached the stream: %v", got)
	}
}

func TestEventsAPIKeys(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Auth.Keys = []gateway.APIKey{
		{Name: "fw-shipper", SHA256: gateway.HashKey("s3cret-fw"), Types: []string{"firewall"}},
		{Name: "admin", SHA256: gateway.HashKey("s3cret-all"), Types: []string{"*"}},
	}
	h := newHarness(t, cfg, true, 64<<20)
	body := []byte(`{"message":"x"}`)
	r := h.post(t, "/v1/events?type=firewall", body)
	r.want(t, http.StatusUnauthorized, "missing API key")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	h.post(t, "/v1/events?type=firewall", body, "Authorization", "Bearer wrong").want(t, http.StatusUnauthorized, "invalid API key")
	h.post(t, "/v1/events?type=firewall", body, "Authorization", "Basic czNjcmV0").want(t, http.StatusUnauthorized, "want Bearer")
	h.post(t, "/v1/events?type=firewall", body, "Authorization", "Bearer s3cret-fw").want(t, http.StatusOK, `"accepted":1`)
	h.post(t, "/v1/events?type=ids", body, "Authorization", "Bearer s3cret-fw").want(t, http.StatusForbidden, `API key \"fw-shipper\" may not send log type \"ids\"`)
	h.post(t, "/v1/events?type=ids", body, "Authorization", "bearer s3cret-all").want(t, http.StatusOK, `"accepted":1`)
	got := h.received(t)
	if len(got["sluice-firewall"]) != 1 || len(got["sluice-ids"]) != 1 {
		t.Fatalf("stream holds %v", got)
	}
}

func TestEventsBackpressure(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.BackpressureWait = 50 * time.Millisecond
	cfg.Limits.RetryAfter = 3 * time.Second
	cfg.Limits.MaxDecodedBytes = 64 * bytesize.KiB
	cfg.Limits.MaxBodyBytes = 64 * bytesize.KiB
	cfg.Limits.MaxInflightBytes = 64 * bytesize.KiB
	const capacity = 32 << 10
	h := newHarness(t, cfg, false, capacity) // nothing consumes: the stream fills up
	event := []byte(`{"message":"` + strings.Repeat("x", 900) + `"}` + "\n")
	var accepted, refused int
	for i := 0; i < 100 && refused < 3; i++ {
		r := h.post(t, "/v1/events?type=firewall", bytes.Repeat(event, 4))
		switch r.status {
		case http.StatusOK:
			accepted++
		case http.StatusTooManyRequests:
			refused++
			if ra := r.header.Get("Retry-After"); ra != "3" {
				t.Fatalf("Retry-After = %q, want 3", ra)
			}
			if !strings.Contains(r.raw, "stream full") {
				t.Fatalf("429 body %s does not say why", r.raw)
			}
		default:
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		if used := h.ms.Used(); used > capacity {
			t.Fatalf("stream holds %d bytes, over its %d byte bound", used, capacity)
		}
	}
	if accepted == 0 || refused == 0 || accepted > capacity/(4*900) {
		t.Fatalf("accepted %d, refused %d: want some of each, accepted bounded by capacity", accepted, refused)
	}
}

func TestHealthReadinessAndOpenAPI(t *testing.T) {
	h := newHarness(t, gateway.DefaultConfig(), false, 1<<20)
	get := func(path string) (int, string) {
		resp, err := http.Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, b := get("/openapi.json"); s != 200 || b != `{"swagger":"2.0"}` {
		t.Fatalf("openapi: %d %s", s, b)
	}
	if s, _ := get("/readyz"); s != 200 {
		t.Fatalf("readyz before drain: %d", s)
	}
	h.gw.Drain()
	if s, b := get("/readyz"); s != http.StatusServiceUnavailable || !strings.Contains(b, "draining") {
		t.Fatalf("readyz while draining: %d %s", s, b)
	}
	if s, _ := get("/healthz"); s != 200 {
		t.Fatalf("healthz while draining: %d", s)
	}
	r := h.post(t, "/v1/events?type=ids", []byte(`{}`))
	r.want(t, http.StatusServiceUnavailable, "shutting down")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// BenchmarkEventsNDJSON measures the HTTP path into the embedded stream: a 500-event
// NDJSON body (~300 B per event) through a real HTTP server, the gateway core, and the
// embedded stream whose consumer acknowledges at once. Run with -cpu 1 for a per-core
// figure.
func BenchmarkEventsNDJSON(b *testing.B) {
	cfg := gateway.DefaultConfig()
	ms, err := embedded.New(embedded.Config{Streams: cfg.StreamNames(), MaxBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(cfg, ms, gateway.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(receiver(b, gw, httprecv.Options{}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ms.Consume(ctx, func(context.Context, stream.Batch) error { return nil })
	}()
	defer func() { cancel(); <-done }()

	const events = 500
	var body bytes.Buffer
	for i := range events {
		fmt.Fprintf(&body, `{"@timestamp":"2026-11-26T07:00:00Z","message":"<134>Nov 26 07:00:00 fw01 %%ASA-6-302013: Built outbound TCP connection %d for outside:203.0.113.7/443 to inside:10.1.2.3/51234","host":{"name":"fw01"},"fields":{"log_type":"firewall"}}`+"\n", i)
	}
	benchPost(b, srv, "/v1/events", body.Bytes(), events)
}

// benchPost posts body, an NDJSON batch of events events, to path of srv in a
// benchmark loop, each answer checked, and reports events/s.
func benchPost(b *testing.B, srv *httptest.Server, path string, body []byte, events int) {
	client := srv.Client()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(srv.URL+path, "application/x-ndjson", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.N)*float64(events)/b.Elapsed().Seconds(), "events/s")
}

// receiver is httprecv.New for tests.
func receiver(t testing.TB, ing httprecv.Ingester, opts httprecv.Options) *httprecv.Receiver {
	t.Helper()
	rc, err := httprecv.New(ing, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}
