package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleLines reads the sample log lines of a sample pipeline.
func sampleLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "transform", "pipeline", "samples", "testdata", name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// sinkDocs reads every document of a log type from the file sink.
func sinkDocs(t *testing.T, dir, typ string) []map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, typ, "*.ndjson"))
	var docs []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			var d map[string]any
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			docs = append(docs, d)
		}
	}
	return docs
}

// get reads a dotted path of a decoded document.
func get(doc map[string]any, path string) any {
	var cur any = doc
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// TestDevPipelinesEndToEnd runs sluice dev with its default sample pipelines, posts
// the sample firewall (iptables over syslog), IDS (Suricata EVE) and WAF (AWS WAF)
// lines over HTTP as raw messages, and finds ECS documents in the file sink: parsed
// fields, the device's time as @timestamp (and the day's file), firewall events
// enriched from the shipped sample lookups (GeoIP City and ASN, threat intel) and from
// the configuration's own zones table (which replaces the sample's of that name),
// failures kept and tagged (counts as in the samples' golden outputs), and the pipeline metrics on
// /metrics.
func TestDevPipelinesEndToEnd(t *testing.T) {
	cfg := devConfig(t)
	cfg.SamplePipelines = true
	// The user's own table named like the sample's: it serves the sample pipeline.
	zones := filepath.Join(t.TempDir(), "my-zones.csv")
	if err := os.WriteFile(zones, []byte("cidr,network.zone,asset.owner\n10.1.2.0/24,user-dmz,user-web-team\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Lookups.CIDRTables = map[string]string{"zones": zones}
	a, stop := startDev(t, cfg)
	addr := a.httpLn.Addr().String()

	sent := map[string]int{}
	for _, typ := range []string{"firewall", "ids", "waf"} {
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		for _, line := range sampleLines(t, typ) {
			if err := enc.Encode(map[string]any{"message": line, "host": map[string]any{"name": "shipper-1"}}); err != nil {
				t.Fatal(err)
			}
			sent[typ]++
		}
		postOK(t, "http://"+addr+"/v1/events?type="+typ, "application/x-ndjson", body.Bytes(), `"accepted"`)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	dir := cfg.Sink.File.Dir

	fw := sinkDocs(t, dir, "firewall")
	if len(fw) != sent["firewall"] {
		t.Fatalf("firewall: %d documents, sent %d", len(fw), sent["firewall"])
	}
	// Events travel on several shards: find them by content, not by order.
	byAction := map[string]int{}
	failures := 0
	var deny map[string]any
	for _, d := range fw {
		if get(d, "event.dataset") != "firewall" {
			t.Errorf("event.dataset %v", get(d, "event.dataset"))
		}
		if s, ok := get(d, "event.action").(string); ok {
			byAction[s]++
		}
		if get(d, "source.ip") == "203.0.113.7" {
			deny = d
		}
		if get(d, "error.message") != nil {
			failures++
		}
	}
	for path, want := range map[string]any{
		"@timestamp": "2026-11-26T07:00:01Z", "source.ip": "203.0.113.7", "source.port": 51234.0,
		"destination.ip": "10.1.2.3", "destination.port": 22.0, "network.transport": "tcp",
		"observer.name": "fw01", "rule.name": "FW-DROP", "iptables.ttl": 52.0, "host.name": "shipper-1",
		// Enrichment: the sample GeoIP databases (203.0.113.0/25 is "Amsterdam" there)...
		"source.geo.country_iso_code": "NL", "source.geo.city_name": "Amsterdam",
		"source.geo.location.lat": 52.374, "source.geo.location.lon": 4.8897,
		"source.as.number": 64500.0, "source.as.organization.name": "Example Transit B.V.",
		// ...the configuration's zones table rather than the sample's...
		"destination.network.zone": "user-dmz", "destination.asset.owner": "user-web-team",
		// ...and the sample threat-intel set (203.0.113.0/25).
		"threat.indicator.ip": "203.0.113.7", "threat.indicator.type": "ipv4-addr",
		"threat.indicator.provider": "sluice-sample-feed",
	} {
		if got := get(deny, path); got != want {
			t.Errorf("firewall deny %s = %#v, want %#v", path, got, want)
		}
	}
	if tags, _ := get(deny, "tags").([]any); !slices.Contains(tags, any("threat-intel-match")) {
		t.Errorf("firewall deny tags %v, want threat-intel-match", get(deny, "tags"))
	}
	if geo := get(deny, "destination.geo"); geo != nil {
		t.Errorf("a private destination got geo fields: %v", geo)
	}
	if byAction["drop"] != 7 || byAction["reject"] != 3 || byAction["accept"] != 1 || len(byAction) != 3 || failures != 1 {
		t.Errorf("firewall actions %v, failures %d", byAction, failures)
	}
	if _, err := os.Stat(filepath.Join(dir, "firewall", "2026-11-26.ndjson")); err != nil {
		t.Errorf("documents not filed under the device's day: %v", err)
	}

	// The IDS and WAF counts are those of the samples' golden outputs, which the sample
	// tests check line by line.
	idsGolden := goldenCounts(t, "ids", "event.kind", "alert")
	ids := sinkDocs(t, dir, "ids")
	if len(ids) != sent["ids"]-idsGolden.dropped {
		t.Fatalf("ids: %d documents, sent %d of which %d are dropped", len(ids), sent["ids"], idsGolden.dropped)
	}
	alerts := 0
	for _, d := range ids {
		if get(d, "event.kind") == "alert" {
			alerts++
			if get(d, "rule.id") == nil || get(d, "rule.name") == nil || get(d, "source.ip") == nil {
				t.Errorf("alert without rule or source: %v", d)
			}
		}
	}
	if alerts != idsGolden.matching || alerts == 0 {
		t.Errorf("ids alerts %d, want %d (ids.golden)", alerts, idsGolden.matching)
	}

	wafGolden := goldenCounts(t, "waf", "event.action", "BLOCK")
	waf := sinkDocs(t, dir, "waf")
	if len(waf) != sent["waf"]-wafGolden.dropped {
		t.Fatalf("waf: %d documents, sent %d", len(waf), sent["waf"])
	}
	blocked := 0
	for _, d := range waf {
		if get(d, "event.action") == "BLOCK" {
			blocked++
			if get(d, "http.request.method") == nil || get(d, "url.path") == nil || get(d, "source.ip") == nil || get(d, "rule.id") == nil {
				t.Errorf("blocked request without ECS fields: %v", d)
			}
		}
	}
	if blocked != wafGolden.matching || blocked == 0 {
		t.Errorf("waf blocked %d, want %d (waf.golden)", blocked, wafGolden.matching)
	}
}

// golden counts what a sample's golden output holds: documents dropped by the
// pipeline, documents that failed (error.message), and documents whose field is want.
type golden struct{ dropped, failed, matching int }

func goldenCounts(t *testing.T, typ, field string, want any) golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "transform", "pipeline", "samples", "testdata", typ+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%s.golden: %v", typ, err)
		}
		switch {
		case doc["_dropped"] == true:
			g.dropped++
		case get(doc, "error.message") != nil:
			g.failed++
		}
		if get(doc, field) == want {
			g.matching++
		}
	}
	return g
}

// TestDevPipelineMetrics: the per-pipeline and per-processor metrics are on /metrics.
func TestDevPipelineMetrics(t *testing.T) {
	cfg := devConfig(t)
	cfg.SamplePipelines = true
	a, stop := startDev(t, cfg)
	addr := a.httpLn.Addr().String()
	var body bytes.Buffer
	lines := 0
	for _, line := range sampleLines(t, "ids") {
		_ = json.NewEncoder(&body).Encode(map[string]any{"message": line})
		lines++
	}
	postOK(t, "http://"+addr+"/v1/events?type=ids", "application/x-ndjson", body.Bytes(), `"accepted"`)
	defer func() { _ = stop() }()
	var metrics string
	for range 100 {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		if strings.Contains(metrics, fmt.Sprintf(`sluice_pipeline_events_total{pipeline="ids"} %d`, lines)) {
			break
		}
		waitABit()
	}
	g := goldenCounts(t, "ids", "", nil)
	if g.failed == 0 {
		t.Fatal("ids.golden has no failed document: the failure metrics below would prove nothing")
	}
	want := []string{
		fmt.Sprintf(`sluice_pipeline_events_total{pipeline="ids"} %d`, lines),
		fmt.Sprintf(`sluice_pipeline_failures_total{pipeline="ids"} %d`, g.failed),
		`sluice_processor_failures_total{kind="json",pipeline="ids",processor="processors[1]"} 1`,
		`sluice_processor_seconds_total{kind="json",pipeline="ids",processor="processors[1]"}`,
	}
	if g.dropped > 0 { // a counter never added to is not exported
		want = append(want, fmt.Sprintf(`sluice_pipeline_dropped_total{pipeline="ids"} %d`, g.dropped))
	}
	for _, m := range want {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// waitABit paces a polling loop.
func waitABit() { time.Sleep(20 * time.Millisecond) }
