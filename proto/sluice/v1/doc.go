// Package sluicev1 is the wire contract of sluice's gateway, generated from
// proto/sluice/v1/ingest.proto by scripts/gen.sh: the messages, the gRPC IngestService,
// its grpc-gateway REST mapping and the OpenAPI document served at /openapi.json.
// Only doc.go is written by hand.
package sluicev1

import _ "embed"

// OpenAPIDocument is the OpenAPI (Swagger 2.0) document of the REST mapping, generated
// next to this file.
//
//go:embed ingest.swagger.json
var OpenAPIDocument []byte
