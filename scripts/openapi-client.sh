#!/usr/bin/env bash
# Generated clients work: generates a Python client from the committed OpenAPI document
# (proto/sluice/v1/openapi.json) with openapi-python-client (PyPI, pinned below,
# installed into a venv cached under .cache/openapi-client; the client is generated into
# a temporary directory, never committed) and sends batches through it to a real
# `sluice dev` built from this tree, on free loopback ports with a temporary data
# directory, as scripts/schemathesis.sh starts it: once without API keys and once with
# one (sent by the client's AuthenticatedClient as a Bearer token; a request without it
# must get 401). scripts/openapi-client/send.py sends a PushRequest of two events to
# /v1/push, a JSON array of two events to /v1/events, NDJSON to /v1/events and /_bulk
# when the generated client can express it, and then finds every event in the file
# sink. The generator's warnings must be those in scripts/openapi-client/warnings.txt.
# Any failure fails the script. About 10 s once the venv and Go's build cache are warm.
#
# Usage: scripts/openapi-client.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

generator_version=0.29.1
doc=proto/sluice/v1/openapi.json

# openapi-python-client and the code it generates need Python 3.11 or later.
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "openapi-python-client $generator_version needs Python 3.11 or later; python3 is $(python3 --version 2>&1)" >&2
  exit 1
fi

# The venv, rebuilt when the pinned version changes.
venv=.cache/openapi-client/venv
if [[ ! -x $venv/bin/openapi-python-client || "$(cat "$venv/.version" 2>/dev/null)" != "$generator_version" ]]; then
  echo "installing openapi-python-client $generator_version into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$generator_version"
  echo "$generator_version" >"$venv/.version"
fi

# shellcheck source=scripts/devsluice.sh
. scripts/devsluice.sh
run_dir=$dev_run_dir

echo "== generating a Python client from $doc (openapi-python-client $generator_version)" >&2
# The generator's post-generation hooks (ruff, a dependency of it) must be on PATH.
if ! PATH="$root/$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path "$doc" \
  --config scripts/openapi-client/config.yaml --meta none --output-path "$run_dir/client/sluice_client" >"$run_dir/generate.log" 2>&1; then
  cat "$run_dir/generate.log" >&2
  echo "openapi-python-client failed on $doc" >&2
  exit 1
fi
# Each warning as "METHOD PATH: detail", without the object addresses Python prints.
warnings=$(awk '
  /^WARNING parsing / {
    h = $0; sub(/^WARNING parsing /, "", h); sub(/ within [^ ]*\./, "", h)
    getline; getline; d = $0; gsub(/ object at 0x[0-9a-f]+/, "", d)
    print h ": " d
  }' "$run_dir/generate.log" | LC_ALL=C sort)
known=$(grep -v '^#' scripts/openapi-client/warnings.txt | LC_ALL=C sort)
if [[ "$warnings" != "$known" ]]; then
  echo "openapi-python-client's warnings differ from scripts/openapi-client/warnings.txt (< listed, > now):" >&2
  diff <(echo "$known") <(echo "$warnings") >&2 || true
  exit 1
fi
echo "generated; its $(grep -c . <<<"$warnings") warnings are the known ones (scripts/openapi-client/warnings.txt):" >&2
while IFS= read -r warning; do printf '  %s\n' "$warning"; done <<<"$warnings" >&2

# run_against NAME SLUICE_YAML_EXTRA KEY: starts sluice dev with SLUICE_YAML_EXTRA added
# to its configuration and runs send.py against it, with KEY as its API key if not empty.
run_against() {
  local name=$1 sluice_extra=$2 key=$3
  dev_start "$name" "$sluice_extra" || return 1
  echo "== the generated client against sluice dev ($name) at $dev_base" >&2
  local status=0
  SLUICE_OPENAPI_CLIENT_KEY=$key "$venv/bin/python" -u scripts/openapi-client/send.py \
    --client-dir "$run_dir/client" --base-url "$dev_base" --data-dir "$dev_dir/data" || status=$?
  if [[ $status -ne 0 ]]; then
    echo "the generated client failed against sluice dev ($name)" >&2
  fi
  dev_stop "$name" "$status"
  return "$status"
}

key="openapi-client-$RANDOM$RANDOM"
key_sha256=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)

failed=0
run_against "without API keys" "" "" || failed=1
run_against "with an API key" "gateway:
  auth:
    keys:
      - name: openapi-client
        sha256: $key_sha256
        types: ['*']" "$key" || failed=1
exit "$failed"
