#!/usr/bin/env bash
# Filebeat built from source, the real Elasticsearch-output (and Beats) client of the
# tests (cmd/sluice/filebeat_e2e_test.go). Elastic's download site is not needed: the
# source comes from the Go module proxy (github.com/elastic/beats/v7), is copied to a
# writable directory (the module cache is read-only, and beats' go.mod has replace
# directives, so `go install pkg@version` cannot build it) and built with the local Go
# toolchain.
#
#   scripts/filebeat.sh [VERSION]   builds Filebeat VERSION (default 7.17.29) into
#                                   .cache/filebeat/VERSION/filebeat unless it is there
#                                   already, and prints its path on stdout
#   scripts/filebeat.sh env         the same, printed as
#                                     export SLUICE_TEST_FILEBEAT=<path>
#
# Only 7.x builds this way: the proxy serves no 8.x of github.com/elastic/beats/v7 (8.x
# tags are not valid for a /v7 module path), so 8.x fails here with the proxy's answer.
#
# Idempotent and safe to run concurrently: the binary is built in a temporary directory
# and renamed into place. The first build downloads about 300 modules and takes a few
# minutes; later runs only check the cached binary's version.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'filebeat.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

mode=path
if [[ "${1:-}" == env ]]; then
  mode='env'
  shift
fi
version="${1:-7.17.29}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "want a version such as 7.17.29, not '$version'"

out="$PWD/.cache/filebeat/$version/filebeat"

print() {
  if [[ $mode == env ]]; then
    echo "export SLUICE_TEST_FILEBEAT=$out"
  else
    echo "$out"
  fi
}

# A cached binary of the right version is the answer.
if [[ -x "$out" ]] && "$out" version 2>/dev/null | grep -q "^filebeat version $version "; then
  print
  exit 0
fi

command -v go >/dev/null || die "go is not installed"
export GOTOOLCHAIN=local GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-filebeat.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

log "downloading github.com/elastic/beats/v7@v$version from the Go module proxy"
# Outside any module, so that sluice's go.mod plays no part.
json=$(cd "$work" && go mod download -json "github.com/elastic/beats/v7@v$version") ||
  die "go mod download github.com/elastic/beats/v7@v$version failed: $(sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p' <<<"$json")"
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$json")
[[ -n "$dir" && -d "$dir" ]] || die "go mod download printed no module directory: $json"

cp -R "$dir" "$work/beats"
chmod -R u+w "$work/beats"
log "building ./filebeat with $(go version | cut -d' ' -f3) (the module asks for $(sed -n 's/^go //p' "$work/beats/go.mod" | head -1))"
(cd "$work/beats" && go build -trimpath -o "$work/filebeat" ./filebeat) || die "go build ./filebeat of beats v$version failed (output above)"
"$work/filebeat" version | grep -q "^filebeat version $version " || die "the built binary reports $("$work/filebeat" version)"

mkdir -p "$(dirname "$out")"
mv -f "$work/filebeat" "$out"
log "$("$out" version)"
print
