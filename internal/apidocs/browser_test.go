package apidocs_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-siem/sluice/internal/apidocs"
	"github.com/sluice-siem/sluice/internal/apidocs/apidocstest"
)

// openAPI31 is a small OpenAPI 3.1 document of the shape of sluice's: three POST
// endpoints with JSON and NDJSON bodies, 3.1-only schema forms (type arrays, examples)
// and servers elsewhere, which the page replaces with its own origin.
const openAPI31 = `{
  "openapi": "3.1.0",
  "info": {"title": "ingest test API", "version": "v1"},
  "servers": [{"url": "http://localhost:8080"}],
  "paths": {
    "/v1/events": {"post": {
      "operationId": "events",
      "requestBody": {"required": true, "content": {
        "application/x-ndjson": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}},
      "responses": {"200": {"description": "accepted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}}}}},
    "/v1/push": {"servers": [{"url": "http://push.invalid"}], "post": {
      "operationId": "push",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushRequest"}}}},
      "responses": {"200": {"description": "accepted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}}}}},
    "/_bulk": {"post": {
      "operationId": "bulk",
      "requestBody": {"required": true, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
      "responses": {"200": {"description": "per-item results"}}}}
  },
  "components": {"schemas": {
    "PushRequest": {"type": "object", "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}},
    "Event": {"type": "object", "properties": {
      "type": {"type": ["string", "null"], "examples": ["firewall"]},
      "message": {"type": "string"}}},
    "Result": {"type": "object", "properties": {"accepted": {"type": "integer"}}}
  }}
}`

// TestBrowserOpenAPI31 renders an OpenAPI 3.1 document in a real Chromium, under the
// page's policy, and sends a request with "Try it out".
func TestBrowserOpenAPI31(t *testing.T) {
	apidocstest.Chromium(t)
	var mu sync.Mutex
	var pushed []string
	var specFetches int
	mux := http.NewServeMux()
	docs := apidocs.Handler("/openapi.json")
	mux.Handle(apidocs.Path, docs)
	mux.Handle(apidocs.Path+"/", docs)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		specFetches++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, openAPI31)
	})
	mux.HandleFunc("POST /v1/push", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		pushed = append(pushed, r.Header.Get("Content-Type")+" "+string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"accepted":1}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	page := apidocstest.Open(t, srv.URL+"/docs")
	if title := page.Title(); !strings.Contains(title, "OAS 3.1") {
		t.Errorf("the page shows %q, not an OpenAPI 3.1 document", title)
	}
	if link := page.DocumentLink(); link != srv.URL+"/openapi.json" {
		t.Errorf("the page links the document as %q", link)
	}
	ops := page.Operations()
	want := []string{"POST /v1/events", "POST /v1/push", "POST /_bulk"}
	if !slices.Equal(ops, want) {
		t.Errorf("the page shows %v, want %v", ops, want)
	}
	body := `{"events":[{"type":"firewall","message":"from the page"}]}`
	if status, shown := page.TryIt("POST", "/v1/push", body); status != "200" || !strings.Contains(shown, `"accepted": 1`) {
		t.Errorf("the page shows status %q:\n%s", status, shown)
	}
	mu.Lock()
	if len(pushed) != 1 || pushed[0] != "application/json "+body {
		t.Errorf("the server got %q", pushed)
	}
	if specFetches != 1 {
		t.Errorf("the page fetched the document %d times, want once", specFetches)
	}
	mu.Unlock()
	if v := page.CSPViolations(); len(v) > 0 {
		t.Errorf("the page's Content-Security-Policy refused:\n%s", strings.Join(v, "\n"))
	}
}
