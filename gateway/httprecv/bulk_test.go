package httprecv_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// testBulk is the bulk API configuration of these tests.
func testBulk() httprecv.Bulk {
	return httprecv.Bulk{
		IndexTypes: []httprecv.IndexType{
			{Pattern: "logs-generic-*", Type: ""},
			{Pattern: "suricata-*", Type: "ids"},
			{Pattern: "filebeat-*", Type: ""},
		},
		DataStreamTypes: true,
		Version:         "8.17.0",
		ClusterName:     "soc",
		NodeName:        "gw-1",
	}
}

// newBulkHarness is newHarness with the Elasticsearch-compatible API mounted.
func newBulkHarness(t *testing.T, cfg gateway.Config, consume bool, streamBytes int64) *harness {
	t.Helper()
	h := newHarness(t, cfg, consume, streamBytes)
	b := testBulk()
	h.srv = httptest.NewServer(receiver(t, h.gw, httprecv.Options{Bulk: &b, OpenAPI: []byte(`{"swagger":"2.0"}`)}))
	t.Cleanup(h.srv.Close)
	return h
}

// do sends a request with headers given as name, value pairs.
func (h *harness) do(t *testing.T, method, path string, body []byte, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
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

// esItem is one item of a bulk answer.
type esItem struct {
	Index   string `json:"_index"`
	ID      string `json:"_id"`
	Version int    `json:"_version"`
	Result  string `json:"result"`
	Status  int    `json:"status"`
	SeqNo   *int64 `json:"_seq_no"`
	Term    int    `json:"_primary_term"`
	Shards  *struct {
		Total, Successful, Failed int
	} `json:"_shards"`
	Error *struct {
		Type, Reason, Index string
	} `json:"error"`
}

// esBulkAnswer is the body of a bulk answer.
type esBulkAnswer struct {
	Took   *int64              `json:"took"`
	Errors bool                `json:"errors"`
	Items  []map[string]esItem `json:"items"`
}

func decodeBulk(t *testing.T, r reply) esBulkAnswer {
	t.Helper()
	var a esBulkAnswer
	if err := json.Unmarshal([]byte(r.raw), &a); err != nil {
		t.Fatalf("answer %q: %v", r.raw, err)
	}
	return a
}

// one returns the op and item of a bulk answer item.
func one(t *testing.T, m map[string]esItem) (string, esItem) {
	t.Helper()
	for op, it := range m {
		if len(m) == 1 {
			return op, it
		}
	}
	t.Fatalf("item %v has %d keys, want 1", m, len(m))
	return "", esItem{}
}

func eventDocs(envs []stream.Envelope) []string {
	var out []string
	for _, e := range envs {
		out = append(out, e.Type+" "+string(e.Event))
	}
	slices.Sort(out)
	return out
}

func TestBulkIndexesAndAnswersLikeElasticsearch(t *testing.T) {
	h := newBulkHarness(t, gateway.DefaultConfig(), true, 64<<20)
	body := strings.Join([]string{
		`{"index":{}}`, `{"message":"a"}`, // the path's index: logs-firewall-default
		`{"create":{"_index":"suricata-2026.11.26","_id":"given-1"}}`, `{"message":"b"}`,
		`{"create":{"_index":"filebeat-8.17.0"}}`, `{"message":"c","fields":{"log_type":"waf"}}`,
		`{"create":{"_index":"logs-generic-default"}}`, `{"message":"d","event":{"dataset":"vpn"}}`,
		`{"delete":{"_index":"x","_id":"9"}}`,
		`{"index":{"_index":"logs-ids-default"}}`, `{"message":"e", "spaces" : [ 1 , 2 ] }`,
		"",
	}, "\n")
	r := h.do(t, http.MethodPost, "/logs-firewall-default/_bulk", []byte(body), "Content-Type", "application/x-ndjson")
	r.want(t, http.StatusOK)
	if got := r.header.Get("X-Elastic-Product"); got != "Elasticsearch" {
		t.Errorf("X-Elastic-Product = %q", got)
	}
	a := decodeBulk(t, r)
	if a.Took == nil || !a.Errors || len(a.Items) != 6 {
		t.Fatalf("answer %s: want took, errors and 6 items", r.raw)
	}
	wantOps := []string{"index", "create", "create", "create", "delete", "index"}
	wantIndex := []string{"logs-firewall-default", "suricata-2026.11.26", "filebeat-8.17.0", "logs-generic-default", "x", "logs-ids-default"}
	seqs := map[int64]bool{}
	for i, m := range a.Items {
		op, it := one(t, m)
		if op != wantOps[i] || it.Index != wantIndex[i] {
			t.Errorf("item %d = %s %s, want %s %s", i, op, it.Index, wantOps[i], wantIndex[i])
		}
		if i == 4 {
			if it.Status != 400 || it.Error == nil || it.Error.Type != "illegal_argument_exception" || !strings.Contains(it.Error.Reason, "delete is not supported") || it.ID != "9" {
				t.Errorf("delete item = %s", r.raw)
			}
			continue
		}
		if it.Status != 201 || it.Result != "created" || it.Version != 1 || it.Term != 1 || it.SeqNo == nil || it.Shards == nil || it.Shards.Successful != 1 || it.Error != nil {
			t.Errorf("item %d is not a created document: %+v", i, it)
			continue
		}
		if seqs[*it.SeqNo] {
			t.Errorf("item %d repeats _seq_no %d", i, *it.SeqNo)
		}
		seqs[*it.SeqNo] = true
		switch {
		case i == 1 && it.ID != "given-1":
			t.Errorf("item 1 _id = %q, want the action's", it.ID)
		case i != 1 && len(it.ID) != 20:
			t.Errorf("item %d _id = %q, want a generated id of 20 characters", i, it.ID)
		}
	}
	// The documents reach the stream as sent, routed by index (or fields).
	got := h.received(t)
	want := map[string][]string{
		"sluice-firewall": {`firewall {"message":"a"}`},
		"sluice-ids":      {`ids {"message":"b"}`, `ids {"message":"e", "spaces" : [ 1 , 2 ] }`},
		"sluice-waf":      {`waf {"message":"c","fields":{"log_type":"waf"}}`},
		"sluice-default":  {`vpn {"message":"d","event":{"dataset":"vpn"}}`},
	}
	for s, docs := range want {
		if g := eventDocs(got[s]); !slices.Equal(g, docs) {
			t.Errorf("stream %s holds %q, want %q", s, g, docs)
		}
	}
}

func TestBulkItemStatuses(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.MaxEventBytes = 200
	cfg.Routing.TypeFields = []string{"fields.log_type"}
	cfg.Auth.Keys = []gateway.APIKey{{Name: "fw", SHA256: gateway.HashKey("fw-key"), Types: []string{"firewall"}}}
	h := newBulkHarness(t, cfg, true, 64<<20)
	body := strings.Join([]string{
		`{"create":{"_index":"logs-firewall-default"}}`, `{"message":"ok"}`,
		`{"create":{"_index":"logs-firewall-default"}}`, `{"message":"` + strings.Repeat("x", 300) + `"}`,
		`{"create":{"_index":"logs-ids-default"}}`, `{"message":"not mine"}`,
		`{"create":{"_index":"fluent-bit"}}`, `{"message":"no type"}`,
		`{"create":{"_index":"logs-firewall-default"}}`, `{"message":`,
		`{"create":{"_index":"logs-firewall-default"}}`, `"just a string"`,
		`{"update":{"_index":"logs-firewall-default","_id":"1"}}`, `{"doc":{}}`,
		`{"create":{"_index":"logs-firewall-default"}}`, `{"message":"ok too"}`,
	}, "\n") + "\n"
	r := h.do(t, http.MethodPost, "/_bulk", []byte(body), "Authorization", "ApiKey fw-key")
	r.want(t, http.StatusOK, `"errors":true`)
	want := []struct {
		status int
		typ    string
		reason string
	}{
		{201, "", ""},
		{413, "illegal_argument_exception", "line 4: event is 314 bytes, limit is 200 (limits.max_event_bytes)"},
		{403, "security_exception", `line 6: API key "fw" may not send log type "ids"`},
		{400, "illegal_argument_exception", "line 8: index [fluent-bit] maps to no log type (bulk.index_types) and no log type"},
		{400, "document_parsing_exception", "line 10: failed to parse the document"},
		{400, "document_parsing_exception", "line 12: the document is a JSON string, want an object"},
		{400, "illegal_argument_exception", "line 13: update is not supported"},
		{201, "", ""},
	}
	a := decodeBulk(t, r)
	if len(a.Items) != len(want) {
		t.Fatalf("%d items, want %d: %s", len(a.Items), len(want), r.raw)
	}
	for i, w := range want {
		_, it := one(t, a.Items[i])
		if it.Status != w.status {
			t.Errorf("item %d status %d, want %d: %+v", i, it.Status, w.status, it)
			continue
		}
		if w.typ == "" {
			continue
		}
		if it.Error == nil || it.Error.Type != w.typ || !strings.HasPrefix(it.Error.Reason, w.reason) {
			t.Errorf("item %d error %+v, want %s %q", i, it.Error, w.typ, w.reason)
		}
	}
	if got := eventDocs(h.received(t)["sluice-firewall"]); !slices.Equal(got, []string{`firewall {"message":"ok too"}`, `firewall {"message":"ok"}`}) {
		t.Fatalf("firewall stream holds %q", got)
	}
}

func TestBulkWholeRequestErrors(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.MaxBodyBytes = 12 * bytesize.KiB
	cfg.Limits.MaxDecodedBytes = 16 * bytesize.KiB
	cfg.Limits.MaxBatchEvents = 5
	cfg.Auth.Keys = []gateway.APIKey{{Name: "all", SHA256: gateway.HashKey("k"), Types: []string{"*"}}}
	h := newBulkHarness(t, cfg, true, 64<<20)
	auth := []string{"Authorization", "Bearer k"}
	pair := []byte("{\"create\":{\"_index\":\"logs-waf-default\"}}\n{\"message\":\"m\"}\n")

	// esError checks Elasticsearch's error shape.
	esError := func(t *testing.T, r reply, status int, typ, reason string) {
		t.Helper()
		var e struct {
			Error struct {
				RootCause []struct{ Type, Reason string } `json:"root_cause"`
				Type      string
				Reason    string
			}
			Status int
		}
		if err := json.Unmarshal([]byte(r.raw), &e); err != nil {
			t.Fatalf("answer %q: %v", r.raw, err)
		}
		if r.status != status || e.Status != status || e.Error.Type != typ || !strings.Contains(e.Error.Reason, reason) ||
			len(e.Error.RootCause) != 1 || e.Error.RootCause[0].Type != typ || e.Error.RootCause[0].Reason != e.Error.Reason {
			t.Fatalf("answer %d %s, want %d %s %q", r.status, r.raw, status, typ, reason)
		}
		if r.header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Fatalf("error without X-Elastic-Product")
		}
	}

	t.Run("no key", func(t *testing.T) {
		r := h.do(t, http.MethodPost, "/_bulk", pair)
		esError(t, r, 401, "security_exception", "missing API key")
		if got := r.header.Values("WWW-Authenticate"); len(got) != 3 || !strings.HasPrefix(got[0], "Basic") || got[1] != "ApiKey" {
			t.Fatalf("WWW-Authenticate = %q", got)
		}
	})
	t.Run("body over the wire limit", func(t *testing.T) {
		esError(t, h.do(t, http.MethodPost, "/_bulk", bytes.Repeat(pair, 300), auth...), 413, "illegal_argument_exception", "limits.max_body_bytes")
	})
	t.Run("gzip bomb", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(bytes.Repeat([]byte("\n"), 4<<20))
		_ = zw.Close()
		esError(t, h.do(t, http.MethodPost, "/_bulk", buf.Bytes(), append(auth, "Content-Encoding", "gzip")...), 413, "illegal_argument_exception", "limits.max_decoded_bytes")
	})
	t.Run("too many actions", func(t *testing.T) {
		esError(t, h.do(t, http.MethodPost, "/_bulk", bytes.Repeat(pair, 6), auth...), 413, "illegal_argument_exception", "more than 5 actions (limits.max_batch_events)")
	})
	t.Run("empty body", func(t *testing.T) {
		esError(t, h.do(t, http.MethodPost, "/_bulk", nil, auth...), 400, "illegal_argument_exception", "request body is required")
	})
	t.Run("unknown encoding", func(t *testing.T) {
		esError(t, h.do(t, http.MethodPost, "/_bulk", pair, append(auth, "Content-Encoding", "br")...), 415, "media_type_header_exception", "unsupported Content-Encoding")
	})
	t.Run("gzip and zstd bodies", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(pair)
		_ = zw.Close()
		h.do(t, http.MethodPost, "/_bulk", gz.Bytes(), append(auth, "Content-Encoding", "gzip")...).want(t, 200, `"status":201`)
		enc, _ := zstd.NewWriter(nil)
		zs := enc.EncodeAll(pair, nil)
		_ = enc.Close()
		h.do(t, http.MethodPut, "/logs-waf-default/_bulk", zs, append(auth, "Content-Encoding", "zstd")...).want(t, 200, `"status":201`)
		if n := len(h.received(t)["sluice-waf"]); n != 2 {
			t.Fatalf("waf stream holds %d events, want 2", n)
		}
	})
	t.Run("draining", func(t *testing.T) {
		h.gw.Drain()
		r := h.do(t, http.MethodPost, "/_bulk", pair, auth...)
		esError(t, r, 503, "unavailable_shards_exception", "shutting down")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
		esError(t, h.do(t, http.MethodGet, "/_cluster/health", nil, auth...), 503, "unavailable_shards_exception", "shutting down")
	})
}

func TestBulkBackpressure(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.BackpressureWait = 50 * time.Millisecond
	cfg.Limits.RetryAfter = 3 * time.Second
	cfg.Limits.MaxDecodedBytes = 64 * bytesize.KiB
	cfg.Limits.MaxBodyBytes = 64 * bytesize.KiB
	cfg.Limits.MaxInflightBytes = 64 * bytesize.KiB
	const capacity = 32 << 10
	h := newBulkHarness(t, cfg, false, capacity) // nothing consumes: the stream fills up
	pair := "{\"create\":{\"_index\":\"logs-firewall-default\"}}\n{\"message\":\"" + strings.Repeat("x", 900) + "\"}\n"
	body := []byte(strings.Repeat(pair, 4))
	var accepted, refused int
	for i := 0; i < 100 && refused < 3; i++ {
		r := h.do(t, http.MethodPost, "/_bulk", body)
		switch r.status {
		case http.StatusOK:
			accepted++
		case http.StatusTooManyRequests:
			refused++
			if ra := r.header.Get("Retry-After"); ra != "3" {
				t.Fatalf("Retry-After = %q, want 3", ra)
			}
			if !strings.Contains(r.raw, `"type":"es_rejected_execution_exception"`) || !strings.Contains(r.raw, `"status":429`) {
				t.Fatalf("429 body %s is not Elasticsearch's rejection", r.raw)
			}
		default:
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
	}
	if accepted == 0 || refused == 0 || accepted > capacity/(4*900) {
		t.Fatalf("accepted %d, refused %d: want some of each, accepted bounded by capacity", accepted, refused)
	}
}

// TestBulkClientRetriesBackpressure runs the official client's BulkIndexer, set up to
// retry 429 as a shipper should (RetryOnStatus with 429 and a backoff), into a full
// stream: it gets 429s, the consumer starts at the first retry, and every document
// then arrives once.
func TestBulkClientRetriesBackpressure(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Limits.BackpressureWait = 20 * time.Millisecond
	cfg.Limits.MaxDecodedBytes = 64 * bytesize.KiB
	cfg.Limits.MaxBodyBytes = 64 * bytesize.KiB
	cfg.Limits.MaxInflightBytes = 64 * bytesize.KiB
	ms, err := embedded.New(embedded.Config{Streams: cfg.StreamNames(), Shards: 1, MaxBytes: 16 << 10, MaxRecordBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, ms, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := testBulk()
	srv := httptest.NewServer(receiver(t, gw, httprecv.Options{Bulk: &b}))
	defer srv.Close()
	// Fill the stream.
	filler := []byte("{\"create\":{\"_index\":\"logs-ids-default\"}}\n{\"m\":\"" + strings.Repeat("f", 15<<10) + "\"}\n")
	if resp, err := http.Post(srv.URL+"/_bulk", "application/x-ndjson", bytes.NewReader(filler)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("fill: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	var (
		mu       sync.Mutex
		consumed []string
		start    sync.Once
		retries  atomic.Int32
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	consume := func() {
		go func() {
			defer close(done)
			_ = ms.Consume(ctx, func(_ context.Context, b stream.Batch) error {
				mu.Lock()
				defer mu.Unlock()
				for _, r := range b.Records {
					env, _ := stream.ParseEnvelope(r.Data)
					consumed = append(consumed, string(env.Event))
				}
				return nil
			})
		}()
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:     []string{srv.URL},
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    20,
		RetryBackoff: func(int) time.Duration {
			retries.Add(1)
			start.Do(consume)
			return 10 * time.Millisecond
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: client, NumWorkers: 1, Index: "logs-firewall-default"})
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int32
	for i := range 20 {
		err := bi.Add(context.Background(), esutil.BulkIndexerItem{
			Action:    "create",
			Body:      strings.NewReader(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("p", 500))),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { ok.Add(1) },
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				failed.Add(1)
				t.Errorf("item failed: %d %v %v", r.Status, r.Error, err)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok.Load() != 20 || failed.Load() != 0 || retries.Load() == 0 {
		t.Fatalf("%d succeeded, %d failed after %d retries; want 20 after at least one 429", ok.Load(), failed.Load(), retries.Load())
	}
	if err := ms.WaitEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(consumed) != 21 {
		t.Fatalf("stream delivered %d documents, want the filler and 20", len(consumed))
	}
}

func TestBulkAPIKeySchemes(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.Auth.Keys = []gateway.APIKey{{Name: "shipper", SHA256: gateway.HashKey("s3cret"), Types: []string{"*"}}}
	h := newBulkHarness(t, cfg, true, 64<<20)
	pair := []byte("{\"create\":{\"_index\":\"logs-ids-default\"}}\n{\"message\":\"m\"}\n")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		auth   string
		status int
	}{
		{"Bearer s3cret", 200},
		{"ApiKey s3cret", 200},
		{"ApiKey " + b64("shipper:s3cret"), 200},
		{"ApiKey " + b64("any-id:s3cret"), 200},                          // the id is not checked
		{"ApiKey " + strings.TrimRight(b64("shipper:s3cret"), "="), 200}, // unpadded
		{"Basic " + b64("elastic:s3cret"), 200},                          // Filebeat/Fluent Bit/Vector password
		{"basic " + b64(":s3cret"), 200},                                 // no user
		{"Basic " + b64("s3cret:elastic"), 401},                          // the key is the password
		{"ApiKey " + b64("shipper:wrong"), 401},
		{"Basic " + b64("s3cret"), 401},
		{"Digest s3cret", 401},
		{"ApiKey", 401},
	} {
		r := h.do(t, http.MethodPost, "/_bulk", pair, "Authorization", tc.auth)
		if r.status != tc.status {
			t.Errorf("Authorization %q: %d %s, want %d", tc.auth, r.status, r.raw, tc.status)
		}
		if tc.status == 200 {
			h.do(t, http.MethodGet, "/", nil, "Authorization", tc.auth).want(t, 200, `"tagline"`)
		}
	}
	h.do(t, http.MethodGet, "/", nil).want(t, 401, `"type":"security_exception"`)
	if n := len(h.received(t)["sluice-ids"]); n != 7 {
		t.Fatalf("ids stream holds %d events, want 7", n)
	}
}

func TestElasticsearchStartupEndpoints(t *testing.T) {
	h := newBulkHarness(t, gateway.DefaultConfig(), false, 1<<20)
	r := h.do(t, http.MethodGet, "/", nil)
	r.want(t, 200)
	var info struct {
		Name        string         `json:"name"`
		ClusterName string         `json:"cluster_name"`
		ClusterUUID string         `json:"cluster_uuid"`
		Tagline     string         `json:"tagline"`
		Version     map[string]any `json:"version"`
	}
	_ = json.Unmarshal([]byte(r.raw), &info)
	if info.Name != "gw-1" || info.ClusterName != "soc" || len(info.ClusterUUID) != 22 || info.Tagline != "You Know, for Search" {
		t.Errorf("GET / = %s", r.raw)
	}
	for k, v := range map[string]any{
		"number": "8.17.0", "build_flavor": "default", "lucene_version": "9.12.0",
		"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0",
	} {
		if info.Version[k] != v {
			t.Errorf("version.%s = %v, want %v", k, info.Version[k], v)
		}
	}
	if r := h.do(t, http.MethodHead, "/", nil); r.status != 200 || r.raw != "" || r.header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("HEAD / = %d %q %v", r.status, r.raw, r.header)
	}
	for _, c := range []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/_license?human=false", 200, `"status":"active"`},
		{"GET", "/_license", 200, `"type":"basic"`},
		{"GET", "/_xpack", 200, `"ilm":{"available":true,"enabled":true}`},
		{"GET", "/_cluster/health", 200, `"status":"green"`},
		{"GET", "/_nodes/http", 200, `"publish_address":"` + strings.TrimPrefix(h.srv.URL, "http://") + `"`},
		{"GET", "/_index_template/filebeat-8.17.0", 200, `"name":"filebeat-8.17.0"`},
		{"HEAD", "/_index_template/logstash", 200, ""},
		{"PUT", "/_index_template/logstash", 200, `{"acknowledged":true}`},
		{"HEAD", "/_template/filebeat", 200, ""},
		{"GET", "/_template/filebeat", 200, `"filebeat":{`},
		{"GET", "/_ilm/policy/filebeat", 200, `"filebeat":{`},
		{"PUT", "/_ilm/policy/logstash-policy", 200, `{"acknowledged":true}`},
		{"GET", "/_ingest/pipeline/p1", 200, `"p1":{`},
		{"PUT", "/_ingest/pipeline/p1", 200, `{"acknowledged":true}`},
		{"HEAD", "/logstash", 200, ""},
		// The routes of the HTTP receiver are still there.
		{"GET", "/healthz", 200, `"ok"`},
		{"GET", "/openapi.json", 200, `swagger`},
		{"POST", "/v1/events?type=ids", 200, `"accepted":1`},
		{"GET", "/_cat/indices", 404, "no route"},
	} {
		body := []byte(`{"index_patterns":["x-*"],"message":"m"}`)
		r := h.do(t, c.method, c.path, body)
		if r.status != c.status || !strings.Contains(r.raw, c.contains) {
			t.Errorf("%s %s = %d %s, want %d with %s", c.method, c.path, r.status, r.raw, c.status, c.contains)
		}
		if strings.HasPrefix(c.path, "/_") && c.status == 200 && r.header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Errorf("%s %s without X-Elastic-Product", c.method, c.path)
		}
	}

	// Without the option, nothing of it is served.
	plain := newHarness(t, gateway.DefaultConfig(), false, 1<<20)
	plain.do(t, http.MethodGet, "/", nil).want(t, http.StatusNotFound)
	plain.do(t, http.MethodPost, "/_bulk", []byte("{}")).want(t, http.StatusNotFound)
}

// BenchmarkBulk measures the _bulk path into the embedded stream: a 1000-document bulk
// body (~500 B per document) through a real HTTP server, the parser, the gateway core
// and the embedded stream whose consumer acknowledges at once. Run with -cpu 1 for a
// per-core figure:
//
//	go test -run '^$' -bench BenchmarkBulk -cpu 1 ./gateway/httprecv/
func BenchmarkBulk(b *testing.B) {
	cfg := gateway.DefaultConfig()
	ms, err := embedded.New(embedded.Config{Streams: cfg.StreamNames(), MaxBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(cfg, ms, gateway.Options{})
	if err != nil {
		b.Fatal(err)
	}
	bulk := testBulk()
	srv := httptest.NewServer(receiver(b, gw, httprecv.Options{Bulk: &bulk}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ms.Consume(ctx, func(context.Context, stream.Batch) error { return nil })
	}()
	defer func() { cancel(); <-done }()

	const docs = 1000
	var body bytes.Buffer
	for i := range docs {
		body.WriteString(`{"create":{"_index":"logs-firewall-default"}}` + "\n")
		fmt.Fprintf(&body, `{"@timestamp":"2026-11-26T07:00:00.000Z","message":"<134>Nov 26 07:00:00 fw01 %%ASA-6-302013: Built outbound TCP connection %06d for outside:203.0.113.7/443 (203.0.113.7/443) to inside:10.1.2.3/51234 (10.1.2.3/51234)","host":{"name":"fw01","ip":["10.1.2.1"]},"log":{"file":{"path":"/var/log/asa.log"}},"source":{"ip":"203.0.113.7","port":443},"destination":{"ip":"10.1.2.3","port":51234},"event":{"action":"built-connection","outcome":"success"},"data_stream":{"type":"logs","dataset":"firewall","namespace":"default"}}`+"\n", i)
	}
	benchPost(b, srv, "/_bulk", body.Bytes(), docs)
}
