package sluicev1_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.golden.json from the generated document")

// TestOpenAPIGolden pins the REST API that curl users see: a change to the generated
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

// TestOpenAPIDescribesPush checks the parts of the document that clients rely on.
func TestOpenAPIDescribesPush(t *testing.T) {
	var doc struct {
		Swagger string
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				In     string
				Schema struct {
					Ref string `json:"$ref"`
				}
			}
		}
		Definitions map[string]struct {
			Properties map[string]struct {
				Type string
				Ref  string `json:"$ref"`
			}
		}
	}
	if err := json.Unmarshal(sluicev1.OpenAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" || doc.Info.Title != "sluice ingest API" || doc.Info.Version != "v1" {
		t.Fatalf("header: %+v %+v", doc.Swagger, doc.Info)
	}
	push, ok := doc.Paths["/v1/push"]["post"]
	if !ok || push.OperationID != "IngestService_Push" || len(push.Parameters) != 1 ||
		push.Parameters[0].In != "body" || push.Parameters[0].Schema.Ref != "#/definitions/v1PushRequest" {
		t.Fatalf("POST /v1/push: %+v", doc.Paths["/v1/push"])
	}
	if len(doc.Paths) != 1 {
		t.Fatalf("paths %v: only /v1/push is mapped (PushStream is gRPC only)", doc.Paths)
	}
	event := doc.Definitions["v1Event"].Properties
	for _, f := range []string{"type", "message", "fields", "time", "partitionKey", "id"} {
		if _, ok := event[f]; !ok {
			t.Errorf("v1Event lacks %s: %v", f, event)
		}
	}
	if event["fields"].Type != "object" || event["time"].Type != "string" {
		t.Errorf("fields must be a JSON object and time a string: %+v", event)
	}
	if doc.Definitions["v1PushResponse"].Properties["accepted"].Type != "integer" {
		t.Errorf("accepted must be a JSON number: %+v", doc.Definitions["v1PushResponse"])
	}
}
