package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/internal/yamlx"
)

// Pipeline files: in a pipeline directory, NAME.yaml (or NAME.yml) holds the pipeline
// of log type NAME (a Config: description, keep_original, processors, on_failure), and
// NAME.test.yaml its test cases (TestFile), which loading pipelines skips.

// isTestFile reports whether a file name is a test case file.
func isTestFile(name string) bool {
	return strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml")
}

// pipelineName returns the log type of a pipeline file, or "" for other files.
func pipelineName(name string) string {
	if isTestFile(name) {
		return ""
	}
	for _, ext := range []string{".yaml", ".yml"} {
		if n, ok := strings.CutSuffix(name, ext); ok {
			return n
		}
	}
	return ""
}

// LoadDir reads the pipelines of a directory, reporting every problem at once.
func LoadDir(dir string) (map[string]Config, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read pipelines: %w", err)
	}
	return LoadFS(os.DirFS(dir), dir)
}

// LoadFS reads the pipelines at the root of fsys; origin names it in errors (a
// directory's path). Unknown options of a pipeline are errors; processors are checked
// by Build.
func LoadFS(fsys fs.FS, origin string) (map[string]Config, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read pipelines in %s: %w", origin, err)
	}
	cfgs := map[string]Config{}
	var errs []error
	for _, ent := range entries {
		name := pipelineName(ent.Name())
		if name == "" || ent.IsDir() {
			continue
		}
		file := path.Join(origin, ent.Name())
		data, err := fs.ReadFile(fsys, ent.Name())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
			continue
		}
		cfg, err := ParseConfig(data, file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := cfgs[name]; dup {
			errs = append(errs, fmt.Errorf("%s: a second pipeline for log type %s (.yaml and .yml)", file, name))
			continue
		}
		cfgs[name] = cfg
	}
	return cfgs, errors.Join(errs...)
}

// ParseConfig reads one pipeline's definition, as a NAME.yaml file holds it; origin
// names it in errors. Unknown options are errors; processors are checked by New.
// LoadFS reads each file through it (and FuzzBuild fuzzes it there); the console's
// playground reads a pasted pipeline with it.
func ParseConfig(data []byte, origin string) (Config, error) {
	var cfg Config
	if err := decodeStrict(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("%s: %s", origin, yamlError(err))
	}
	cfg.Origin = origin
	return cfg, nil
}

// decodeStrict decodes one YAML document, refusing unknown fields and keys given twice.
func decodeStrict(data []byte, v any) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	if err := yamlx.UniqueKeys(&doc); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// TestFiles lists the test case files at the root of fsys, sorted.
func TestFiles(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, ent := range entries {
		if !ent.IsDir() && isTestFile(ent.Name()) {
			names = append(names, ent.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}
