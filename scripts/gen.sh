#!/usr/bin/env bash
# Lints the wire contract and regenerates the Go, gRPC, grpc-gateway and OpenAPI code
# from proto/, and the Go messages of the KPL aggregated record format (proto/sluice/kpl,
# template buf.gen.kpl.yaml: it has no services, and buf.gen.yaml's gRPC and REST
# plugins would refuse it). The OpenAPI 3.1 document of the HTTP API
# (proto/sluice/v1/openapi.json and openapi.yaml) is proto/sluice/v1/openapi.base.yaml
# with the schemas that protoc-gen-openapiv2 writes to ingest.swagger.json merged in
# (proto/sluice/v1/internal/openapigen). Generated files are committed; scripts/test.sh
# fails when they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export PATH="$PWD/.bin:$PATH"
buf lint
buf generate --exclude-path proto/sluice/kpl
buf generate --template buf.gen.kpl.yaml
go run ./proto/sluice/v1/internal/openapigen -dir proto/sluice/v1
gofmt -w proto
