#!/usr/bin/env bash
# Jaeger, the trace backend of README's "see a batch's trace" recipe, built from the Go
# module proxy so that the recipe is tested with the program its `docker run` starts
# (cmd/sluice's TestJaegerRecipe): scripts/jaeger/ is a module of its own whose go.mod
# names Jaeger's binary as a tool (go.sum pins its modules), so sluice's go.mod carries
# none of it.
#
#   scripts/jaeger.sh           builds .cache/jaeger/VERSION/jaeger unless it is there
#                               already, and prints its path on stdout
#   scripts/jaeger.sh env       the same, printed as an export line for eval:
#                               export SLUICE_TEST_JAEGER=...
#
# Idempotent and safe to run concurrently: the binary is built in a temporary file and
# renamed into place. The first build downloads about 400 modules and compiles for about
# four minutes on two cores; later builds reuse Go's build cache.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'jaeger.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

mode="${1:-path}"
case "$mode" in
path | env) ;;
*) die "usage: scripts/jaeger.sh [env]" ;;
esac

src="$PWD/scripts/jaeger"
version=$(sed -n 's|^\tgithub.com/jaegertracing/jaeger \(v[^ ]*\).*$|\1|p' "$src/go.mod")
[[ -n "$version" ]] || die "scripts/jaeger/go.mod names no github.com/jaegertracing/jaeger version"
out="$PWD/.cache/jaeger/$version/jaeger"

print() {
  if [[ "$mode" == env ]]; then
    printf 'export SLUICE_TEST_JAEGER=%q\n' "$out"
  else
    echo "$out"
  fi
}

# A cached binary of the pinned version, built from the same module files, is the answer.
stamp=$(cat "$src/go.mod" "$src/go.sum" | sha256sum | cut -d' ' -f1)
if [[ -x "$out" && "$(cat "$out.stamp" 2>/dev/null)" == "$stamp" ]]; then
  print
  exit 0
fi

command -v go >/dev/null || die "go is not installed"
mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
log "building Jaeger $version (scripts/jaeger) with $(go version | cut -d' ' -f3)"
(cd "$src" && GOTOOLCHAIN=local GOWORK=off GOFLAGS=-buildvcs=false go build -trimpath -o "$tmp" github.com/jaegertracing/jaeger/cmd/jaeger) ||
  die "go build of Jaeger failed (output above)"
"$tmp" --help >/dev/null 2>&1 || die "the built binary does not run: $("$tmp" --help 2>&1 | head -3)"
mv -f "$tmp" "$out"
echo "$stamp" >"$out.stamp"
log "built $out"
print
