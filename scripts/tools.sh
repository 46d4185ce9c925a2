#!/usr/bin/env bash
# Installs the pinned build and check tools into .bin/ (kept out of go.mod: buf pins a
# newer google.golang.org/protobuf than the code generators). Idempotent: a tool already
# present at its version is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOBIN="$PWD/.bin"
mkdir -p "$GOBIN"

tools=(
  "buf github.com/bufbuild/buf/cmd/buf@v1.75.0"
  "protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12"
  "protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
  "protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@v2.33.0"
  "protoc-gen-openapiv2 github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@v2.33.0"
  "staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2"
)
for t in "${tools[@]}"; do
  name=${t%% *}
  pkg=${t#* }
  stamp="$GOBIN/.$name.version"
  if [[ -x "$GOBIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$pkg" ]]; then
    continue
  fi
  echo "installing $pkg" >&2
  go install "$pkg"
  echo "$pkg" >"$stamp"
done
