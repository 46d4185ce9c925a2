package config_test

import (
	"os"
	"path/filepath"
	"slices"
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

// TestTransformNeedsASink: `sluice transform` with no sink named would write NDJSON to
// local disk: Validate refuses it with one problem at sink.kind that names both ways
// out, accepts sink.kind file set on purpose and a search engine's addresses, and
// leaves sluice dev's file sink as its default. sink.file.dir matters only where files
// are written.
func TestTransformNeedsASink(t *testing.T) {
	tr := config.Default(config.RoleTransform)
	err := tr.Validate(config.RoleTransform)
	if got := paths(err); !slices.Equal(got, []string{"sink.kind"}) {
		t.Fatalf("transform with no sink: problems at %q, want sink.kind", got)
	}
	for _, want := range []string{"no sink configured", "SLUICE_SINK_SEARCH_ADDRESSES", "sink.search.engine", "sink.kind: file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problem %q does not say %q", err, want)
		}
	}
	tr.Sink.Kind = "file"
	if err := tr.Validate(config.RoleTransform); err != nil {
		t.Errorf("sink.kind file: %v", err)
	}
	tr.Sink.File.Dir = " "
	if got := paths(tr.Validate(config.RoleTransform)); !slices.Equal(got, []string{"sink.file.dir"}) {
		t.Errorf("file sink without a directory: problems at %q", got)
	}

	idx := config.Default(config.RoleTransform)
	idx.Sink.Search.Addresses = []string{"https://search.internal:9200"}
	idx.Sink.File.Dir = "" // never written: search sink, dead letters in Kinesis
	if err := idx.Validate(config.RoleTransform); err != nil || idx.Sink.EffectiveKind() != "search" || idx.Sink.UsesFiles() {
		t.Errorf("search sink: kind %s, uses files %v, Validate %v", idx.Sink.EffectiveKind(), idx.Sink.UsesFiles(), err)
	}
	idx.Sink.DeadLetters.Kind = "file"
	if got := paths(idx.Validate(config.RoleTransform)); !idx.Sink.UsesFiles() || !slices.Equal(got, []string{"sink.file.dir"}) {
		t.Errorf("dead letters in files without a directory: problems at %q", got)
	}

	if dev := config.Default(config.RoleDev); dev.Sink.EffectiveKind() != "file" || dev.Validate(config.RoleDev) != nil {
		t.Errorf("sluice dev: sink %s, Validate %v", dev.Sink.EffectiveKind(), dev.Validate(config.RoleDev))
	}
}
