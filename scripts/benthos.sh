#!/usr/bin/env bash
# Benthos, the peer of scripts/bench.sh's HTTP NDJSON scenario, built from the Go module
# proxy: scripts/benthos/ is a module of its own (main.go imports the Benthos core and the
# components its configuration uses; go.mod and go.sum pin them), so sluice's go.mod
# carries none of it. Redpanda Connect, which adds the Kinesis and Elasticsearch outputs
# the other scenarios would need, is not under an open-source licence and is not used.
#
#   scripts/benthos.sh          builds .cache/benthos/VERSION/benthos unless it is there
#                               already, and prints its path on stdout
#
# Idempotent and safe to run concurrently: the binary is built in a temporary file and
# renamed into place. The first build downloads about 150 modules (half a minute here).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'benthos.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

src="$PWD/scripts/benthos"
version=$(sed -n 's|^require github.com/redpanda-data/benthos/v4 \(v[^ ]*\)$|\1|p' "$src/go.mod")
[[ -n "$version" ]] || die "scripts/benthos/go.mod names no github.com/redpanda-data/benthos/v4 version"
out="$PWD/.cache/benthos/$version/benthos"

# A cached binary of the pinned version, built from the same sources, is the answer.
stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -d' ' -f1)
if [[ -x "$out" && "$(cat "$out.stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || die "go is not installed"
mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
log "building Benthos $version (scripts/benthos) with $(go version | cut -d' ' -f3)"
(cd "$src" && GOTOOLCHAIN=local GOWORK=off GOFLAGS=-buildvcs=false go build -trimpath -o "$tmp" .) ||
  die "go build of scripts/benthos failed (output above)"
"$tmp" --version >/dev/null || die "the built binary does not run: $("$tmp" --version 2>&1 | head -3)"
mv -f "$tmp" "$out"
echo "$stamp" >"$out.stamp"
log "$("$out" --version | head -1)"
echo "$out"
