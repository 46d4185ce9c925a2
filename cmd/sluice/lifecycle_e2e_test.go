package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/sink/search/searchtest"
)

// TestDevRunsRetentionSweeper runs sluice dev with sink.kind search against the
// OpenSearch of scripts/opensearch.sh, which has no ISM plugin: the sink falls back to
// sluice's sweeper, the process runs it (it rolls the data stream over once its write
// index is older than rollover_max_age, and counts it), and a graceful stop ends it.
func TestDevRunsRetentionSweeper(t *testing.T) {
	url := searchtest.OpenSearchURL(t)
	ns := searchtest.Name("e2e")
	ds := "logs-ids-" + ns
	t.Cleanup(func() {
		for _, p := range []string{"/_data_stream/" + ds, "/_index_template/sluice-logs-" + ns} {
			if req, err := http.NewRequest(http.MethodDelete, url+p, nil); err == nil {
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	})

	cfg := devConfig(t)
	cfg.Sink.Kind = "search"
	cfg.Sink.Search.Addresses = []string{url}
	cfg.Sink.Search.Namespace = ns
	cfg.Sink.Search.Lifecycle.RolloverMaxAge = search.Age(time.Second)
	cfg.Sink.Search.Lifecycle.SweepInterval = time.Second
	a, stop := startDev(t, cfg)
	if got := a.search.Lifecycle(); got != "sweeper" {
		t.Fatalf("lifecycle %q, want sweeper (the test engine has no ISM plugin)", got)
	}
	postOK(t, "http://"+a.httpLn.Addr().String()+"/v1/events?type=ids", "application/json", []byte(`[{"message":"one"}]`), `"accepted":1`)

	generation := func() int {
		resp, err := http.Get(url + "/_data_stream/" + ds)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct {
			DataStreams []struct {
				Generation int `json:"generation"`
			} `json:"data_streams"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ans) != nil || len(ans.DataStreams) != 1 {
			return 0
		}
		return ans.DataStreams[0].Generation
	}
	deadline := time.Now().Add(30 * time.Second)
	for generation() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%s at generation %d after 30s: the sweeper did not roll it over", ds, generation())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The counter follows the engine's answer.
	var metrics string
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + a.httpLn.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if metrics = string(data); strings.Contains(metrics, "sluice_search_lifecycle_rollovers_total") {
			break
		}
	}
	if !strings.Contains(metrics, "sluice_search_lifecycle_rollovers_total") {
		t.Errorf("/metrics lacks sluice_search_lifecycle_rollovers_total:\n%s", metrics)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
