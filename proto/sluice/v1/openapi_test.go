package sluicev1_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/proto/sluice/v1/openapidoc"
	"github.com/sluice-siem/sluice/proto/sluice/v1/openapidoc/openapidoctest"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.golden.json from the generated document")

// TestOpenAPIGolden pins the HTTP API that curl users see: a change to the generated
// document must be deliberate (go test -update) and show up in review as a golden diff.
func TestOpenAPIGolden(t *testing.T) {
	const golden = "testdata/openapi.golden.json"
	if *update {
		if err := os.WriteFile(golden, sluicev1.OpenAPIDocument, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(sluicev1.OpenAPIDocument, want) {
		t.Fatalf("generated OpenAPI document differs from %s: review the API change and run go test ./proto/... -update", golden)
	}
}

// oasSchemas are the official JSON Schemas of OpenAPI 3.1 documents, vendored in
// testdata/oas3.1 (the validator fetches nothing), by the URL each is published at:
//
//   - schema.json: https://spec.openapis.org/oas/3.1/schema/2022-10-07, the document
//     structure (copied from openapi-spec-validator 0.9.0 on PyPI,
//     openapi_spec_validator/resources/schemas/v3.1/schema.json, whose $id this is);
//   - schema-base.json: https://spec.openapis.org/oas/3.1/schema-base/2022-10-07, the
//     same with every Schema Object checked against the OpenAPI dialect;
//   - dialect-base.json: https://spec.openapis.org/oas/3.1/dialect/base, the dialect
//     (JSON Schema 2020-12 plus the OAS vocabulary);
//   - meta-base.json: https://spec.openapis.org/oas/3.1/meta/base, the OAS vocabulary.
//
// The last three are from github.com/OAI/OpenAPI-Specification, schemas/v3.1. JSON
// Schema 2020-12's own meta-schemas come with the validator.
var oasSchemas = map[string]string{
	"schema.json":       "https://spec.openapis.org/oas/3.1/schema/2022-10-07",
	"schema-base.json":  "https://spec.openapis.org/oas/3.1/schema-base/2022-10-07",
	"dialect-base.json": "https://spec.openapis.org/oas/3.1/dialect/base",
	"meta-base.json":    "https://spec.openapis.org/oas/3.1/meta/base",
}

// oasValidator compiles the OpenAPI 3.1 schema with the dialect (schema-base).
func oasValidator(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for file, url := range oasSchemas {
		f, err := os.Open(filepath.Join("testdata", "oas3.1", file))
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if id, _ := v.(map[string]any)["$id"].(string); id != url {
			t.Fatalf("%s has $id %q, want %q", file, id, url)
		}
		if err := c.AddResource(url, v); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile(oasSchemas["schema-base.json"])
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOpenAPIIsValidOpenAPI31 validates the served document with the official OpenAPI
// 3.1 JSON Schema (every Schema Object included), and checks what that schema cannot:
// references resolve, operation ids are unique, examples match their schemas, and the
// YAML rendering is the same document.
func TestOpenAPIIsValidOpenAPI31(t *testing.T) {
	doc := decode(t, sluicev1.OpenAPIDocument)
	if err := oasValidator(t).Validate(doc); err != nil {
		t.Fatalf("not a valid OpenAPI 3.1 document: %v", err)
	}

	t.Run("validator refuses a broken document", func(t *testing.T) {
		for what, breakIt := range map[string]func(doc map[string]any){
			"responses as an array": func(doc map[string]any) {
				doc["paths"].(map[string]any)["/healthz"].(map[string]any)["get"].(map[string]any)["responses"] = []any{"200"}
			},
			"a schema of an unknown type": func(doc map[string]any) {
				doc["components"].(map[string]any)["schemas"].(map[string]any)["Error"].(map[string]any)["type"] = "strin"
			},
		} {
			var broken map[string]any
			if err := json.Unmarshal(sluicev1.OpenAPIDocument, &broken); err != nil {
				t.Fatal(err)
			}
			breakIt(broken)
			b, _ := json.Marshal(broken)
			if err := oasValidator(t).Validate(decode(t, b)); err == nil {
				t.Errorf("%s passed validation", what)
			}
		}
	})

	d, err := openapidoctest.New(sluicev1.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("references resolve", func(t *testing.T) {
		walk(doc, func(m map[string]any) {
			if ref, ok := m["$ref"].(string); ok {
				if !strings.HasPrefix(ref, "#/") || d.Get(ref[1:]) == nil {
					t.Errorf("$ref %q resolves to nothing", ref)
				}
			}
		})
	})
	t.Run("operation ids are unique", func(t *testing.T) {
		seen := map[string]bool{}
		walkOperations(t, d, func(method, path string, op map[string]any) {
			id, _ := op["operationId"].(string)
			if id == "" || seen[id] {
				t.Errorf("%s %s: operationId %q missing or repeated", method, path, id)
			}
			seen[id] = true
		})
	})
	t.Run("examples match their schemas", func(t *testing.T) {
		exs := d.RequestExamples()
		if len(exs) < 6 {
			t.Fatalf("%d request examples, want at least 6", len(exs))
		}
		for _, ex := range exs {
			if err := d.Validate(ex.SchemaPtr, ex.Value); err != nil {
				t.Errorf("%s %s %s example %s: %v", ex.Method, ex.Path, ex.MediaType, ex.Name, err)
			}
		}
		// Answer examples and parameter examples too.
		walkPointers(doc, "", func(ptr string, m map[string]any) {
			ex, ok := m["example"]
			if !ok || m["schema"] == nil {
				return
			}
			if err := d.Validate(ptr+"/schema", ex); err != nil {
				t.Errorf("example at %s: %v", ptr, err)
			}
		})
	})
	t.Run("YAML is the same document", func(t *testing.T) {
		var fromYAML, fromJSON any
		if err := yaml.Unmarshal(sluicev1.OpenAPIYAML, &fromYAML); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(sluicev1.OpenAPIDocument, &fromJSON); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(fromYAML), normalize(fromJSON)) {
			t.Fatal("openapi.yaml and openapi.json differ")
		}
		again, err := openapidoc.YAML(sluicev1.OpenAPIDocument)
		if err != nil || !bytes.Equal(again, sluicev1.OpenAPIYAML) {
			t.Fatalf("openapidoc.YAML of openapi.json is not openapi.yaml (%v): run scripts/gen.sh", err)
		}
	})
}

// TestOpenAPIDescribesTheHTTPAPI checks the parts of the document that clients rely on:
// every route of the HTTP receiver, the answers each can give, the API-key schemes, and
// the schemas derived from the proto.
func TestOpenAPIDescribesTheHTTPAPI(t *testing.T) {
	d, err := openapidoctest.New(sluicev1.OpenAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Get("/openapi"); v != "3.1.0" {
		t.Fatalf("openapi = %v", v)
	}
	var ops []string
	walkOperations(t, d, func(method, path string, _ map[string]any) { ops = append(ops, method+" "+path) })
	slices.Sort(ops)
	want := []string{
		"GET /", "GET /healthz", "GET /metrics", "GET /openapi.json", "GET /openapi.yaml", "GET /readyz",
		"GET /ui/api/failures", "GET /ui/api/flow", "GET /ui/api/info", "GET /ui/api/pipelines", "GET /ui/api/tap",
		"HEAD /",
		"POST /_bulk", "POST /ui/api/playground", "POST /v1/events", "POST /v1/logs", "POST /v1/push", "POST /{index}/_bulk",
		"PUT /_bulk", "PUT /{index}/_bulk",
	}
	if !slices.Equal(ops, want) {
		t.Errorf("operations\n%q\nwant\n%q", ops, want)
	}
	// Every ingest operation answers each way the receiver can refuse it.
	for _, op := range []string{"/v1/events/post", "/v1/push/post", "/v1/logs/post", "/_bulk/post", "/{index}/_bulk/post"} {
		ptr := "/paths" + openapidoctest.Pointer(strings.Split(op, "/post")[0]) + "/post/responses"
		for _, status := range []string{"200", "400", "401", "413", "415", "429", "500", "503"} {
			if d.Get(ptr+"/"+status) == nil {
				t.Errorf("%s: no %s answer", op, status)
			}
		}
	}
	for _, scheme := range []string{"bearer", "apiKey", "basic"} {
		if d.Get("/components/securitySchemes/"+scheme) == nil {
			t.Errorf("no security scheme %s", scheme)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi.yaml"} {
		sec, ok := d.Get("/paths" + openapidoctest.Pointer(p) + "/get/security").([]any)
		if !ok || len(sec) != 0 {
			t.Errorf("GET %s must need no API key (security: [])", p)
		}
	}
	// The schemas derived from the proto, with the overlays of openapi.base.yaml.
	event, _ := d.Get("/components/schemas/v1Event/properties").(map[string]any)
	for _, f := range []string{"type", "message", "fields", "time", "partitionKey", "id"} {
		if _, ok := event[f]; !ok {
			t.Errorf("v1Event lacks %s: %v", f, event)
		}
	}
	if desc, _ := d.Get("/components/schemas/v1Event/properties/type/description").(string); !strings.Contains(desc, "Log type") {
		t.Errorf("v1Event.type lost its description from the proto: %q", desc)
	}
	if d.Get("/components/schemas/v1PushResponse/properties/accepted/type") != "integer" {
		t.Error("v1PushResponse.accepted must be an integer")
	}
	if summary, _ := d.Get("/paths/~1v1~1push/post/summary").(string); !strings.Contains(summary, "durable") {
		t.Errorf("POST /v1/push lost its summary from the proto: %q", summary)
	}
	if desc, _ := d.Get("/info/description").(string); !strings.Contains(desc, "Every event needs a log type") {
		t.Error("the document must say that every event needs a log type")
	}
}

// walkOperations calls f for every operation of the document.
func walkOperations(t *testing.T, d *openapidoctest.Doc, f func(method, path string, op map[string]any)) {
	t.Helper()
	paths, _ := d.Get("/paths").(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				f(strings.ToUpper(method), path, op.(map[string]any))
			}
		}
	}
}

func walk(v any, f func(map[string]any)) {
	walkPointers(v, "", func(_ string, m map[string]any) { f(m) })
}

func walkPointers(v any, ptr string, f func(string, map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(ptr, x)
		for k, c := range x {
			walkPointers(c, ptr+openapidoctest.Pointer(k), f)
		}
	case []any:
		for i, c := range x {
			walkPointers(c, ptr+"/"+strconv.Itoa(i), f)
		}
	}
}

// normalize makes values decoded from YAML and JSON comparable (numbers as float64,
// map keys as strings).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, c := range x {
			out[k] = normalize(c)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = normalize(c)
		}
		return out
	case int:
		return float64(x)
	default:
		return v
	}
}
