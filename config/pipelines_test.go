package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Pipelines load from the file as plain data (processors stay YAML until the pipeline
// package compiles them); a pipeline's unknown keys and a missing pipelines_dir are
// reported with their paths.
func TestPipelinesConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`
sample_pipelines: false
pipelines_dir: ` + dir + `
pipelines:
  vpn:
    description: OpenVPN
    keep_original: true
    processors:
      - grok: {field: message, patterns: ['%{GREEDYDATA:x}']}
`)
	c, err := Load(RoleDev, path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	vpn := c.Pipelines["vpn"]
	if c.SamplePipelines || c.PipelinesDir != dir || !vpn.KeepOriginal || len(vpn.Processors) != 1 || vpn.Processors[0].Line != 9 {
		t.Fatalf("loaded %+v", c)
	}
	if err := c.Validate(RoleDev); err != nil {
		t.Fatal(err)
	}
	if !Default(RoleDev).SamplePipelines || Default(RoleTransform).SamplePipelines {
		t.Error("sample pipelines are the default of dev only")
	}

	write("pipelines:\n  vpn:\n    procesors: []\n")
	if _, err := Load(RoleDev, path, nil); err == nil || !strings.Contains(err.Error(), "line 3: field procesors not found") {
		t.Errorf("unknown pipeline key: %v", err)
	}

	c = Default(RoleDev)
	c.PipelinesDir = filepath.Join(dir, "missing")
	if err := c.Validate(RoleDev); err == nil || !strings.Contains(err.Error(), "pipelines_dir: stat ") {
		t.Errorf("missing pipelines_dir: %v", err)
	}
	c.PipelinesDir = path
	if err := c.Validate(RoleDev); err == nil || !strings.Contains(err.Error(), "pipelines_dir: "+path+" is not a directory") {
		t.Errorf("pipelines_dir a file: %v", err)
	}
}
