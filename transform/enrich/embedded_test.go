package enrich

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
)

// Lookup files named with EmbeddedPrefix are read from ResourcesConfig.Embedded, next
// to files on disk, and are not watched for reloads; without Embedded they are a clear
// error.
func TestEmbeddedLookupFiles(t *testing.T) {
	embedded := fstest.MapFS{
		"zones.csv": {Data: []byte("cidr,network.zone\n10.1.0.0/16,datacenter\n")},
		"feed.txt":  {Data: []byte("# sample\n203.0.113.0/25\n")},
	}
	cfg := DefaultResourcesConfig()
	cfg.Embedded = embedded
	cfg.CIDRTables = map[string]string{"zones": EmbeddedPrefix + "zones.csv"}
	cfg.ThreatIntel = map[string]IndicatorSetConfig{"feeds": {Files: []string{EmbeddedPrefix + "feed.txt"}}}
	r := newTestResources(t, cfg, nil, false)
	if len(r.files) != 0 {
		t.Errorf("embedded files are watched: %d", len(r.files))
	}
	zones, err := NewCIDRLookup(CIDRConfig{Field: "source.ip", Table: "zones"}, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := process(t, zones, map[string]any{"source": map[string]any{"ip": "10.1.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if z := got["source"].(map[string]any)["network"].(map[string]any)["zone"]; z != "datacenter" {
		t.Errorf("zone %v, want datacenter", z)
	}
	ti, err := NewThreatIntel(ThreatIntelConfig{Fields: []string{"source.ip"}, Set: "feeds"}, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err = process(t, ti, map[string]any{"source": map[string]any{"ip": "203.0.113.7"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["threat"]; !ok {
		t.Errorf("no threat match from the embedded set: %v", got)
	}

	cfg.Embedded = nil
	_, err = NewResources(context.Background(), cfg, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "embedded:zones.csv: no embedded files") {
		t.Errorf("err = %v, want one naming the embedded path", err)
	}
	cfg.Embedded = embedded
	cfg.CIDRTables = map[string]string{"zones": EmbeddedPrefix + "missing.csv"}
	if _, err = NewResources(context.Background(), cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("err = %v, want one naming the missing file", err)
	}
}
