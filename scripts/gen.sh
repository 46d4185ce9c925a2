#!/usr/bin/env bash
# Lints the wire contract and regenerates the Go, gRPC, grpc-gateway and OpenAPI code
# from proto/. Generated files are committed; scripts/test.sh fails when they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export PATH="$PWD/.bin:$PATH"
buf lint
buf generate
gofmt -w proto
