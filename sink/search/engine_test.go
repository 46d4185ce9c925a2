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

// No Elasticsearch can be run here (no distribution on the registries this machine
// reaches), so the Elasticsearch client path is checked through the requests it
// builds: go-elasticsearch sends the template and the _bulk body with the API key, and
// the sink reads the answer. The recorder answers as Elasticsearch does (the product
// header go-elasticsearch checks); it proves the request building only, never the
// engine's behavior, which the OpenSearch tests prove against a real engine.
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
		switch r.URL.Path {
		case "/_bulk":
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
	if len(calls) != 2 {
		t.Fatalf("%d requests, want 2 (template, bulk): %+v", len(calls), calls)
	}
	tpl, bulk := calls[0], calls[1]
	if tpl.method != http.MethodPut || tpl.path != "/_index_template/sluice-logs-default" || !strings.Contains(tpl.body, `"data_stream":{}`) {
		t.Errorf("template request %+v", tpl)
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
}
