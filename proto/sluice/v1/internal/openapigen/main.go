// Command openapigen writes the OpenAPI 3.1 document of sluice's HTTP API,
// proto/sluice/v1/openapi.json and openapi.yaml, from the hand-written
// openapi.base.yaml and ingest.swagger.json, which protoc-gen-openapiv2 generates from
// the proto (see package openapidoc). scripts/gen.sh runs it after buf generate:
//
//	go run ./proto/sluice/v1/internal/openapigen -dir proto/sluice/v1
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice-siem/sluice/proto/sluice/v1/openapidoc"
)

func main() {
	dir := flag.String("dir", "proto/sluice/v1", "directory of openapi.base.yaml and ingest.swagger.json, where the document is written")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "openapigen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	base, err := os.ReadFile(filepath.Join(dir, "openapi.base.yaml"))
	if err != nil {
		return err
	}
	swagger, err := os.ReadFile(filepath.Join(dir, "ingest.swagger.json"))
	if err != nil {
		return err
	}
	doc, err := openapidoc.Build(base, swagger)
	if err != nil {
		return err
	}
	yml, err := openapidoc.YAML(doc)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "openapi.json"), doc, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "openapi.yaml"), yml, 0o644)
}
