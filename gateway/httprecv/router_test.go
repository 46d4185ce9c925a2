package httprecv_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/gateway/httprecv"
)

// newRouterHarness is newHarness with every route mounted: /v1/events, /v1/push, the
// operations endpoints with metrics, the OpenAPI document and the _bulk API.
func newRouterHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, gateway.DefaultConfig(), false, 1<<20)
	push, err := grpcrecv.New(h.gw, grpcrecv.Config{}, grpcrecv.Options{}).RESTHandler(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := testBulk()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "sluice_up 1\n") })
	h.srv = httptest.NewServer(receiver(t, h.gw, httprecv.Options{
		Bulk: &b, Push: push, Metrics: metrics, OpenAPI: []byte(`{"swagger":"2.0"}`),
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// TestMethodNotAllowedSaysAllow checks that every 405 of the router names the methods
// the path takes in an Allow header (RFC 9110, section 15.5.6), whichever file
// registered the route: each route's own methods are listed, the refused one is not,
// and every listed method is served. (Single-segment paths may list more methods than
// their own, such as HEAD /{index} of the Elasticsearch API: those are served too.)
func TestMethodNotAllowedSaysAllow(t *testing.T) {
	h := newRouterHarness(t)
	for _, tt := range []struct {
		method, path string
		own          []string // methods the path's own route serves
	}{
		{http.MethodGet, "/v1/events", []string{"POST"}},
		{http.MethodPut, "/v1/events", []string{"POST"}},
		{http.MethodDelete, "/v1/events", []string{"POST"}},
		{http.MethodGet, "/v1/push", []string{"POST"}},
		{http.MethodOptions, "/v1/push", []string{"POST"}},
		{http.MethodPost, "/healthz", []string{"GET", "HEAD"}},
		{http.MethodPost, "/readyz", []string{"GET", "HEAD"}},
		{http.MethodDelete, "/metrics", []string{"GET", "HEAD"}},
		{http.MethodPost, "/openapi.json", []string{"GET"}},
		{http.MethodGet, "/_bulk", []string{"POST", "PUT"}},
		{http.MethodGet, "/logs-x/_bulk", []string{"POST", "PUT"}},
		{http.MethodDelete, "/", []string{"GET", "HEAD"}},
		{http.MethodPost, "/_license", []string{"GET"}},
		{http.MethodPost, "/_cluster/health", []string{"GET"}},
		{http.MethodDelete, "/_index_template/t", []string{"GET", "HEAD", "PUT"}},
		{http.MethodGet, "/logs-x", []string{"HEAD"}},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := h.do(t, tt.method, tt.path, nil)
			if r.status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405; body %s", r.status, r.raw)
			}
			var allow []string
			for _, v := range r.header.Values("Allow") {
				for _, m := range strings.Split(v, ",") {
					allow = append(allow, strings.TrimSpace(m))
				}
			}
			for _, m := range tt.own {
				if !slices.Contains(allow, m) {
					t.Errorf("Allow %q lacks %s", allow, m)
				}
			}
			if slices.Contains(allow, tt.method) {
				t.Errorf("Allow %q lists the refused %s", allow, tt.method)
			}
			for _, m := range allow {
				if r := h.do(t, m, tt.path, nil); r.status == http.StatusMethodNotAllowed {
					t.Errorf("%s %s, listed in Allow, answers 405", m, tt.path)
				}
			}
		})
	}
	t.Run("without _bulk", func(t *testing.T) {
		h := newHarness(t, gateway.DefaultConfig(), false, 1<<20)
		r := h.do(t, http.MethodPost, "/openapi.json", nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET" {
			t.Errorf("POST /openapi.json = %d, Allow %q; want 405, GET", r.status, r.header.Get("Allow"))
		}
		h.do(t, http.MethodGet, "/_bulk", nil).want(t, http.StatusNotFound)
	})
	t.Run("body", func(t *testing.T) {
		h.do(t, http.MethodGet, "/v1/events", nil).want(t, http.StatusMethodNotAllowed,
			`"kind":"method_not_allowed"`, "GET is not allowed on /v1/events: use POST")
	})
	t.Run("unknown method on no route", func(t *testing.T) {
		h.do(t, "BREW", "/v1/nothing/here", nil).want(t, http.StatusNotFound, `"kind":"not_found"`)
	})
}

// TestPushWithoutEventsIsRefused checks that /v1/push refuses a body without events,
// naming what to send, in the error shape of the REST mapping (google.rpc.Status).
func TestPushWithoutEventsIsRefused(t *testing.T) {
	h := newRouterHarness(t)
	for _, body := range []string{"", "{}", `{"events":[]}`, " \n"} {
		t.Run(body, func(t *testing.T) {
			h.post(t, "/v1/push", []byte(body), "Content-Type", "application/json").want(t, http.StatusBadRequest,
				`"code":3`, `"message":"no events`, `{\"events\":[{\"type\":\"...\",\"message\":\"...\"}]}`)
		})
	}
	t.Run("no body, no Content-Type", func(t *testing.T) {
		h.do(t, http.MethodPost, "/v1/push", nil).want(t, http.StatusBadRequest, `"code":3`, `"message":"no events`)
	})
}

// TestNoTypeNamesTheHTTPWays checks that an event of /v1/events without a log type is
// told about ?type= and X-Sluice-Type, one of /v1/push about its type field, and one of
// _bulk about its index.
func TestNoTypeNamesTheHTTPWays(t *testing.T) {
	h := newRouterHarness(t)
	h.post(t, "/v1/events", []byte(`{"message":"who am i"}`)).want(t, http.StatusBadRequest,
		"no log type: name it with ?type= or the X-Sluice-Type header, or one of the event fields fields.log_type, event.dataset, input.type")
	r := h.post(t, "/v1/push", []byte(`{"events":[{"message":"who am i"}]}`), "Content-Type", "application/json")
	r.want(t, http.StatusBadRequest, "no log type: name it with the event's type field")
	if strings.Contains(r.raw, "?type=") || strings.Contains(r.raw, "X-Sluice-Type") {
		t.Errorf("/v1/push rejection names the /v1/events ways: %s", r.raw)
	}
	r = h.post(t, "/_bulk", []byte(`{"index":{"_index":"fluent-bit"}}`+"\n"+`{"message":"who am i"}`+"\n"))
	r.want(t, http.StatusOK, "index [fluent-bit] maps to no log type (bulk.index_types) and no log type: name it with one of the event fields")
	if strings.Contains(r.raw, "?type=") || strings.Contains(r.raw, "X-Sluice-Type") {
		t.Errorf("_bulk rejection names the /v1/events ways: %s", r.raw)
	}
}

// sluice's own one-segment paths are never index names of the Elasticsearch API: PUT
// /openapi.json is a 405 listing exactly the path's methods, not an index created, and
// HEAD /healthz is the health check's own HEAD.
func TestOwnPathsAreNotIndexes(t *testing.T) {
	h := newRouterHarness(t)
	for _, tt := range []struct {
		method, path, allow string
	}{
		{http.MethodPut, "/openapi.json", "GET"},
		{http.MethodPost, "/openapi.json", "GET"},
		{http.MethodPut, "/healthz", "GET, HEAD"},
		{http.MethodPut, "/metrics", "GET, HEAD"},
	} {
		r := h.do(t, tt.method, tt.path, []byte(`{}`))
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q; body %s", tt.method, tt.path, r.status, r.header.Get("Allow"), tt.allow, r.raw)
		}
	}
	if r := h.do(t, http.MethodHead, "/healthz", nil); r.status != http.StatusOK {
		t.Errorf("HEAD /healthz = %d, want 200", r.status)
	}
	// An index name is still one.
	if r := h.do(t, http.MethodPut, "/filebeat-7.17.29-2026.12.06-000001", []byte(`{}`)); r.status != http.StatusOK {
		t.Errorf("PUT /filebeat-7.17.29-2026.12.06-000001 = %d, want 200; body %s", r.status, r.raw)
	}
}

// An index in the _bulk path is decoded once: logs-a%25b is the index "logs-a%b".
func TestBulkPathIndexDecodedOnce(t *testing.T) {
	h := newRouterHarness(t)
	body := "{\"create\":{}}\n{\"message\":\"m\"}\n"
	r := h.do(t, http.MethodPost, "/logs-a%25b/_bulk", []byte(body), "Content-Type", "application/x-ndjson")
	if r.status != http.StatusOK || !strings.Contains(r.raw, `"_index":"logs-a%b"`) {
		t.Errorf("POST /logs-a%%25b/_bulk = %d %s, want 200 naming index logs-a%%b", r.status, r.raw)
	}
}
