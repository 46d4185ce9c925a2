package search_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/search"
)

// The Elasticsearch that runs here (scripts/elasticsearch.sh, the integ-test-zip) has
// no ILM and no data streams, so this default path (ILM policy, data stream template)
// is checked through the requests it builds: go-elasticsearch sends the ILM policy, the
// template (naming the policy) and the _bulk body with the API key, and the sink reads
// the answer. The recorder answers as Elasticsearch does (the product header
// go-elasticsearch checks); it proves the request building only, never the engine's
// behavior, which the tests run on each of engines prove against the real engines.
func TestElasticsearchRequests(t *testing.T) {
	type call struct{ method, path, auth, ctype, body string }
	var mu sync.Mutex
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, call{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(body)})
		mu.Unlock()
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet: // no policy, no template yet
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"type":"resource_not_found_exception","reason":"not found"},"status":404}`)
		case r.URL.Path == "/_bulk":
			_, _ = io.WriteString(w, `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}]}`)
		default:
			_, _ = io.WriteString(w, `{"acknowledged":true}`)
		}
	}))
	defer srv.Close()
	cfg := search.DefaultConfig()
	cfg.Engine = search.EngineElasticsearch
	cfg.Addresses = []string{srv.URL}
	cfg.APIKey = "aWQ6a2V5"
	dl := &deadLetters{}
	s, err := search.New(context.Background(), cfg, search.Options{DeadLetters: dl})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	batch := []sink.Document{
		{Type: "firewall", Time: at, ID: "a/1/1", Body: []byte(`{"message":"one"}`)},
		{Type: "firewall", Time: at, ID: "a/1/2", Body: []byte(`{"message":"two"}`)},
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Read then write the ILM policy, read then write the template, then the bulk.
	if len(calls) != 5 {
		t.Fatalf("%d requests, want 5 (policy read and write, template read and write, bulk): %+v", len(calls), calls)
	}
	policy, tpl, bulk := calls[1], calls[3], calls[4]
	if calls[0].method != http.MethodGet || calls[0].path != "/_ilm/policy/sluice-logs-default" ||
		policy.method != http.MethodPut || policy.path != "/_ilm/policy/sluice-logs-default" || !strings.Contains(policy.body, `"delete":{"actions":{"delete":{}},"min_age":"90d"}`) {
		t.Errorf("policy requests %+v, %+v", calls[0], policy)
	}
	if tpl.method != http.MethodPut || tpl.path != "/_index_template/sluice-logs-default" || !strings.Contains(tpl.body, `"data_stream":{}`) ||
		!strings.Contains(tpl.body, `"settings":{"index":{"lifecycle":{"name":"sluice-logs-default"}}}`) {
		t.Errorf("template request %+v", tpl)
	}
	if s.Lifecycle() != "ilm" {
		t.Errorf("Lifecycle = %q, want ilm", s.Lifecycle())
	}
	want := `{"create":{"_index":"logs-firewall-default","_id":"` + search.DocumentID(&batch[0]) + `"}}` + "\n" + `{"message":"one"}` + "\n" +
		`{"create":{"_index":"logs-firewall-default","_id":"` + search.DocumentID(&batch[1]) + `"}}` + "\n" + `{"message":"two"}` + "\n"
	if bulk.method != http.MethodPost || bulk.path != "/_bulk" || bulk.body != want || !strings.HasPrefix(bulk.ctype, "application/x-ndjson") {
		t.Errorf("bulk request %+v, want body\n%s", bulk, want)
	}
	for _, c := range calls {
		if !strings.EqualFold(c.auth, "ApiKey aWQ6a2V5") { // the scheme is case-insensitive
			t.Errorf("%s %s: Authorization %q, want the API key", c.method, c.path, c.auth)
		}
	}
	if n := len(dl.all()); n != 0 {
		t.Errorf("%d dead letters, want 0 (201 and 409 are both success)", n)
	}
	for range 2 { // closing again is harmless
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	}
}
