package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/sink/search"
)

// The search sink is configured under sink.search from YAML and the environment, is
// picked when addresses are set (or by sink.kind), and reports its problems by path.
func TestSinkSearch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	yml := `
sink:
  search:
    engine: opensearch
    addresses: ["https://search.internal:9200"]
    username: sluice
    layout: daily
    index_prefix: siem
    bulk_max_docs: 500
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.RoleTransform, path, envOf(map[string]string{
		"SLUICE_SINK_SEARCH_PASSWORD": "hunter2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sink.Search
	if s.Layout != search.LayoutDaily || s.IndexPrefix != "siem" || s.BulkMaxDocs != 500 || s.Password != "hunter2" ||
		s.Workers != search.DefaultConfig().Workers {
		t.Errorf("sink.search = %+v", s)
	}
	if k := cfg.Sink.EffectiveKind(); k != "search" {
		t.Errorf("EffectiveKind = %s, want search (addresses set)", k)
	}
	doc, err := config.Document(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "hunter2") {
		t.Error("the printed configuration holds the password")
	}

	bad := config.Default(config.RoleTransform)
	if k := bad.Sink.EffectiveKind(); k != "file" {
		t.Errorf("default EffectiveKind = %s, want file", k)
	}
	bad.Sink.Kind = "search"
	bad.Sink.Search.Layout = "weekly"
	err = bad.Validate(config.RoleTransform)
	for _, want := range []string{"sink.search.addresses", "sink.search.layout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a problem at %s", err, want)
		}
	}
	bad.Sink.Kind = "s3"
	if err := bad.Validate(config.RoleTransform); err == nil || !strings.Contains(err.Error(), "sink.kind") {
		t.Errorf("Validate = %v, want a problem at sink.kind", err)
	}
}
