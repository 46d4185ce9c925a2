package openapidoc_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/proto/sluice/v1/openapidoc"
)

const swagger = `{
  "swagger": "2.0",
  "paths": {"/v1/push": {"post": {"operationId": "Push", "summary": "From the proto.",
    "parameters": [{"in": "body", "schema": {"$ref": "#/definitions/v1Req"}}]}}},
  "definitions": {
    "v1Req": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "$ref": "#/definitions/v1Item"}}}},
    "v1Item": {"type": "object", "properties": {"n": {"type": "integer", "format": "int32", "description": "From the proto."}}},
    "unused": {"type": "string"}
  }
}`

const base = `openapi: 3.1.0
info: {title: t, version: v1}
paths:
  /v1/push:
    post:
      operationId: Push
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/v1Req'}
            example: {items: [{n: 1}], when: 2026-11-26T07:00:00Z}
      responses:
        '200': {description: ok}
components:
  schemas:
    v1Item:
      required: [n]
      properties:
        n: {minimum: 0}
`

func TestBuild(t *testing.T) {
	out, err := openapidoc.Build([]byte(base), []byte(swagger))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := openapidoc.Build([]byte(base), []byte(swagger))
	if !bytes.Equal(out, again) {
		t.Fatal("Build is not deterministic")
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Summary string
		}
		Components struct {
			Schemas map[string]map[string]any
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := doc.Paths["/v1/push"]["post"].Summary; got != "From the proto." {
		t.Errorf("summary %q, want the proto's", got)
	}
	if _, ok := doc.Components.Schemas["unused"]; ok {
		t.Error("an unreferenced definition was kept")
	}
	items := doc.Components.Schemas["v1Req"]["properties"].(map[string]any)["items"].(map[string]any)["items"].(map[string]any)
	if items["$ref"] != "#/components/schemas/v1Item" || items["type"] != nil {
		t.Errorf("reference not converted: %v", items)
	}
	n := doc.Components.Schemas["v1Item"]["properties"].(map[string]any)["n"].(map[string]any)
	if n["minimum"] != 0.0 || n["description"] != "From the proto." || n["format"] != "int32" {
		t.Errorf("overlay not merged over the generated schema: %v", n)
	}
	if !strings.Contains(string(out), `"when": "2026-11-26T07:00:00Z"`) {
		t.Errorf("a YAML timestamp must stay a string:\n%s", out)
	}
}

func TestBuildRefusesAnUndocumentedRoute(t *testing.T) {
	b := strings.Replace(base, "/v1/push:", "/v1/other:", 1)
	if _, err := openapidoc.Build([]byte(b), []byte(swagger)); err == nil || !strings.Contains(err.Error(), "lacks POST /v1/push") {
		t.Fatalf("err = %v", err)
	}
	b = strings.Replace(base, "v1Req'}", "v1Nothing'}", 1)
	if _, err := openapidoc.Build([]byte(b), []byte(swagger)); err == nil || !strings.Contains(err.Error(), "names no schema") {
		t.Fatalf("err = %v", err)
	}
}

func TestYAMLKeepsTypesAndOrder(t *testing.T) {
	in := []byte(`{"z": "200", "a": {"200": {"x": "true", "y": true, "n": 1.5, "s": "line 1\nline 2"}}, "e": []}`)
	out, err := openapidoc.YAML(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "z: \"200\"\na:\n") {
		t.Errorf("order or quoting lost:\n%s", out)
	}
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(out, &fromYAML); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(in, &fromJSON)
	a, _ := json.Marshal(fromYAML)
	b, _ := json.Marshal(fromJSON)
	if !bytes.Equal(a, b) {
		t.Errorf("YAML reads back as %s, want %s", a, b)
	}
}

// TestGeneratedFilesAreCurrent rebuilds the committed document from its inputs.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("../" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	doc, err := openapidoc.Build(read("openapi.base.yaml"), read("ingest.swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	y, err := openapidoc.YAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, read("openapi.json")) || !bytes.Equal(y, read("openapi.yaml")) {
		t.Fatal("openapi.json or openapi.yaml is stale: run scripts/gen.sh")
	}
}
