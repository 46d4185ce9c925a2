package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/sink/search/searchtest"
)

// TestDevIntoSearchEngine runs sluice dev with sink.kind search against each real
// engine (OpenSearch with data streams; Elasticsearch, whose test distribution has
// none, with daily indices): every event sent over every transport is in the data
// stream or index of its log type exactly once after a graceful stop, and the sink's
// metrics show them.
func TestDevIntoSearchEngine(t *testing.T) {
	for _, engine := range []string{search.EngineOpenSearch, search.EngineElasticsearch} {
		t.Run(engine, func(t *testing.T) { devIntoSearchEngine(t, engine) })
	}
}

func devIntoSearchEngine(t *testing.T, engine string) {
	ns := searchtest.Name("e2e")
	cfg := devConfig(t)
	cfg.Sink.Kind = "search"
	cfg.Sink.Search.Engine = engine
	// pattern finds the run's documents; indexOf names the data stream or index of a
	// log type.
	var url, pattern string
	var indexOf func(typ string) string
	if engine == search.EngineOpenSearch {
		url = searchtest.OpenSearchURL(t)
		cfg.Sink.Search.Namespace = ns
		pattern = "logs-*-" + ns
		indexOf = func(typ string) string { return fmt.Sprintf("logs-%s-%s", typ, ns) }
	} else {
		url = searchtest.ElasticsearchURL(t)
		cfg.Sink.Search.Layout = search.LayoutDaily
		cfg.Sink.Search.IndexPrefix = ns
		pattern = ns + "-*"
		indexOf = func(typ string) string { return ns + "-" + typ + "-" }
		t.Cleanup(func() { deleteIndices(url, pattern) })
	}
	cfg.Sink.Search.Addresses = []string{url}
	a, stop := startDev(t, cfg)
	want := send(t, a.httpLn.Addr().String(), a.grpcLn.Addr().String())

	// The transform tier writes after the gateway acknowledges: wait for the metrics.
	total := 0
	for _, msgs := range want {
		total += len(msgs)
	}
	wantMetric := fmt.Sprintf("sluice_search_documents_indexed_total %d", total)
	var metrics string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + a.httpLn.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if metrics = string(data); strings.Contains(metrics, wantMetric) {
			break
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, m := range []string{wantMetric, "sluice_search_bulk_duration_seconds_bucket"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	got := sent{}
	if got := searchtest.Count(t, url, pattern); got != total {
		t.Errorf("engine counts %d documents, sent %d", got, total)
	}
	resp, err := http.Get(url + "/" + pattern + "/_search?size=1000")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Hits struct {
			Hits []struct {
				Index  string `json:"_index"`
				Source struct {
					Message string `json:"message"`
					Event   struct {
						Dataset string `json:"dataset"`
					} `json:"event"`
				} `json:"_source"`
			}
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits.Hits {
		typ := h.Source.Event.Dataset
		if !strings.Contains(h.Index, indexOf(typ)) {
			t.Errorf("event of type %s in %s", typ, h.Index)
		}
		got.add(typ, h.Source.Message)
	}
	for typ := range want {
		slices.Sort(want[typ])
		slices.Sort(got[typ])
		if !slices.Equal(got[typ], want[typ]) {
			t.Errorf("type %s: engine holds %d events, sent %d\nengine: %v\nsent: %v", typ, len(got[typ]), len(want[typ]), got[typ], want[typ])
		}
	}
	if len(got) != len(want) {
		t.Errorf("engine holds types %v, sent %v", got, want)
	}
}

// deleteIndices deletes the indices matching pattern, best effort: Elasticsearch
// refuses wildcard deletes by default, so they are listed first.
func deleteIndices(url, pattern string) {
	resp, err := http.Get(url + "/_cat/indices/" + pattern + "?h=index")
	if err != nil {
		return
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for name := range strings.FieldsSeq(string(data)) {
		if req, err := http.NewRequest(http.MethodDelete, url+"/"+name, nil); err == nil {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
	if req, err := http.NewRequest(http.MethodDelete, url+"/_index_template/"+strings.TrimSuffix(pattern, "-*"), nil); err == nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}
