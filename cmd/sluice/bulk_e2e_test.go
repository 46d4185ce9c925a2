package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/internal/bytesize"
)

// TestBulkEndToEndInProcess points the official Go client at sluice dev: its product
// check passes, its BulkIndexer's documents arrive in the file sink exactly as sent
// (plus the @timestamp and event.dataset the transform adds where missing), and bad
// items get their own status through the indexer's callbacks while the others succeed.
func TestBulkEndToEndInProcess(t *testing.T) {
	cfg := config.Default(config.RoleDev)
	cfg.HTTP.Addr, cfg.GRPC.Addr, cfg.Lumberjack.Addr = "127.0.0.1:0", "", ""
	cfg.Sink.File.Dir = t.TempDir()
	cfg.Gateway.Limits.MaxEventBytes = 8 * bytesize.KiB
	cfg.SamplePipelines = false // documents as shipped
	cfg.Bulk.IndexTypes = append(cfg.Bulk.IndexTypes, httprecv.IndexType{Pattern: "suricata-*", Type: "ids"})
	if err := cfg.Validate(config.RoleDev); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, cfg, config.RoleDev, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	addr := "http://" + a.httpLn.Addr().String()

	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:     []string{addr},
		RetryOnStatus: []int{429, 502, 503, 504},
		RetryBackoff:  func(attempt int) time.Duration { return time.Duration(attempt) * 50 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Info()
	if err != nil {
		t.Fatalf("Info (the product check): %v", err)
	}
	var root struct {
		Version struct{ Number string } `json:"version"`
	}
	err = json.NewDecoder(info.Body).Decode(&root)
	info.Body.Close()
	if err != nil || info.StatusCode != http.StatusOK || root.Version.Number != "8.17.0" {
		t.Fatalf("Info = %d, version %q, %v", info.StatusCode, root.Version.Number, err)
	}

	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:     client,
		NumWorkers: 2,
		FlushBytes: 64 << 10,
		OnError:    func(_ context.Context, err error) { t.Errorf("bulk indexer: %v", err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		succeeded = map[string]int{} // message -> status
		failed    = map[string]esutil.BulkIndexerResponseItem{}
	)
	want := map[string]map[string]any{} // message -> the document the sink must hold
	add := func(action, index, id, message, body string) {
		t.Helper()
		item := esutil.BulkIndexerItem{
			Action: action, Index: index, DocumentID: id,
			OnSuccess: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem) {
				mu.Lock()
				defer mu.Unlock()
				succeeded[message] = r.Status
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("item %s: %v", message, err)
				}
				failed[message] = r
			},
		}
		if body != "" {
			item.Body = strings.NewReader(body)
		}
		if err := bi.Add(context.Background(), item); err != nil {
			t.Fatal(err)
		}
	}
	good := func(index, typ, message string, n int) {
		body := fmt.Sprintf(`{"@timestamp":"2026-11-26T07:%02d:00.123Z","message":%q,"host":{"name":"fw%d"},"n":%d,"tags":["a","b"],"ratio":0.5}`, n%60, message, n%3, n)
		add("create", index, "", message, body)
		var doc map[string]any
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatal(err)
		}
		doc["event"] = map[string]any{"dataset": typ}
		want[message] = doc
	}
	for i := range 1000 {
		if i%3 == 2 {
			good("suricata-2026.11.26", "ids", fmt.Sprintf("ids-%d", i), i)
		} else {
			good("logs-firewall-default", "firewall", fmt.Sprintf("fw-%d", i), i)
		}
		switch i {
		case 100:
			add("create", "logs-firewall-default", "", "bad-json", `{"message":"bad-json",`)
		case 200:
			add("index", "logs-firewall-default", "", "not-object", `["bad", "not-object"]`)
		case 300:
			add("delete", "logs-firewall-default", "doc-1", "delete", "")
		case 400:
			add("index", "logs-firewall-default", "big-1", "oversized", `{"message":"`+strings.Repeat("x", 9<<10)+`"}`)
		case 500:
			add("update", "logs-firewall-default", "doc-2", "update", `{"doc":{"message":"update"}}`)
		}
	}
	if err := bi.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	wantFailed := map[string]struct {
		status int
		typ    string
	}{
		"bad-json":   {400, "document_parsing_exception"},
		"not-object": {400, "document_parsing_exception"},
		"delete":     {400, "illegal_argument_exception"},
		"oversized":  {413, "illegal_argument_exception"},
		"update":     {400, "illegal_argument_exception"},
	}
	mu.Lock()
	if len(succeeded) != 1000 || len(failed) != len(wantFailed) {
		t.Errorf("%d succeeded, %d failed; want 1000 and %d", len(succeeded), len(failed), len(wantFailed))
	}
	for msg, status := range succeeded {
		if status != http.StatusCreated {
			t.Errorf("%s succeeded with status %d", msg, status)
		}
	}
	for msg, w := range wantFailed {
		r, ok := failed[msg]
		if !ok || r.Status != w.status || r.Error.Type != w.typ || r.Error.Reason == "" {
			t.Errorf("%s: failure %+v, want %d %s with a reason", msg, r, w.status, w.typ)
		}
	}
	mu.Unlock()
	if st := bi.Stats(); st.NumAdded != 1005 || st.NumFlushed != 1000 || st.NumFailed != 5 {
		t.Errorf("indexer stats %+v", st)
	}

	resp, err := http.Get(addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{
		`sluice_gateway_events_received_total{receiver="bulk",type="firewall"} 667`,
		`sluice_gateway_events_received_total{receiver="bulk",type="ids"} 333`,
	} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sluice dev did not stop within 20s of its context ending")
	}

	// Every document is in the sink once, under its type and date, as sent.
	got := map[string]map[string]any{}
	for _, typ := range []string{"firewall", "ids"} {
		data, err := os.ReadFile(filepath.Join(cfg.Sink.File.Dir, typ, "2026-11-26.ndjson"))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			var doc map[string]any
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatalf("%s: %v: %q", typ, err, line)
			}
			msg, _ := doc["message"].(string)
			if _, dup := got[msg]; dup {
				t.Errorf("%s written twice", msg)
			}
			got[msg] = doc
		}
	}
	if len(got) != len(want) {
		t.Errorf("sink holds %d documents, want %d", len(got), len(want))
	}
	for msg, doc := range want {
		if !reflect.DeepEqual(got[msg], doc) {
			t.Errorf("%s: sink holds %v, want %v", msg, got[msg], doc)
		}
	}
}
