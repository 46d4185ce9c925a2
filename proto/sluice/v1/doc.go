// Package sluicev1 is the wire contract of sluice's gateway, generated from
// proto/sluice/v1/ingest.proto by scripts/gen.sh: the messages, the gRPC IngestService,
// its grpc-gateway REST mapping, and the OpenAPI 3.1 document of the whole HTTP API
// served at /openapi.json and /openapi.yaml (openapi.base.yaml, written by hand, with
// the schemas protoc-gen-openapiv2 derives from the proto merged in by package
// openapidoc; ingest.swagger.json is that intermediate output). Only doc.go and
// openapi.base.yaml are written by hand.
package sluicev1

import _ "embed"

// OpenAPIDocument is the OpenAPI 3.1 document of the HTTP API (/v1/events, /v1/push,
// the Elasticsearch-compatible API, health and metrics), as JSON.
//
//go:embed openapi.json
var OpenAPIDocument []byte

// OpenAPIYAML is OpenAPIDocument as YAML, as openapidoc.YAML renders it.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
