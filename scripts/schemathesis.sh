#!/usr/bin/env bash
# Property-based test of the HTTP API against its OpenAPI document: Schemathesis (PyPI,
# pinned below, installed into a venv cached under .cache/schemathesis) generates
# requests from /openapi.json, valid and invalid, and checks every answer against the
# document. It runs twice against a real `sluice dev` built from this tree, on free
# loopback ports with a temporary data directory: without API keys (as sluice dev
# starts) and with one (the three documented schemes must work, and a request without a
# key must be refused). Any failure fails the script. About a minute or two on 2 cores.
#
# Usage: scripts/schemathesis.sh [extra arguments for `schemathesis run`]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

schemathesis_version=4.32.5
zstandard_version=0.25.0 # compresses bodies sent with Content-Encoding: zstd
max_examples=${SLUICE_SCHEMATHESIS_MAX_EXAMPLES:-100}

# The venv, rebuilt when the pinned version changes.
venv=.cache/schemathesis/venv
if [[ ! -x $venv/bin/schemathesis || "$(cat "$venv/.version" 2>/dev/null)" != "$schemathesis_version $zstandard_version" ]]; then
  echo "installing schemathesis $schemathesis_version into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version" "zstandard==$zstandard_version"
  echo "$schemathesis_version $zstandard_version" >"$venv/.version"
fi

# shellcheck source=scripts/devsluice.sh
. scripts/devsluice.sh

# Checks: all of them, with these exceptions, each for a reason of its own:
# - use_after_free, ensure_resource_availability, object_level_authorization: the API
#   has no resources to create, read or delete (events go into a stream), so these
#   stateful checks have nothing to act on.
# (max_response_time is off unless given a limit: no limit is part of the contract.)
# - negative_data_rejection on /_bulk and /{index}/_bulk: as in Elasticsearch, a bulk
#   body whose lines are malformed is answered 200 with an error per item; only a body
#   without any action is refused as a whole. Schemathesis's invalid bodies are
#   malformed items, so their per-item errors are checked by response_schema_conformance
#   instead.
# - ignored_auth in the run without API keys: sluice dev without keys accepts requests
#   without one, by design (the document says so); the run with a key checks it.
# - positive_data_acceptance on /ui/api/playground: a request that fits the schema
#   names a pipeline or gives its YAML, which only building the pipeline checks (an
#   unknown name or YAML that does not build is 422, as the document says).
# Operations left out: GET /ui/api/tap streams while the client reads (an hour at
# most), which a test client that reads each answer to its end cannot call; the Go
# tests cover it (internal/console TestConsoleTapStream, cmd/sluice TestTopAndTap).
common_config() {
  cat <<EOF
[generation]
max-examples = $max_examples

[checks]
use_after_free.enabled = false
ensure_resource_availability.enabled = false
object_level_authorization.enabled = false

[[operations]]
include-path-regex = "_bulk\$"
checks.negative_data_rejection.enabled = false

[[operations]]
include-path = "/ui/api/tap"
enabled = false

[[operations]]
include-path = "/ui/api/playground"
checks.positive_data_acceptance.enabled = false
EOF
}

# run_against NAME SLUICE_YAML_EXTRA SCHEMATHESIS_TOML_EXTRA [schemathesis args]
run_against() {
  local name=$1 sluice_extra=$2 st_extra=$3
  # Every event needs a log type (the document says where it comes from). Generated
  # events name none; with a default type they are accepted, and ?type= and
  # X-Sluice-Type are still checked against their schema.
  dev_start "$name" "gateway:
  routing:
    default_type: generated
$sluice_extra" || return 1
  { common_config; printf '%s\n' "$st_extra"; } >"$dev_dir/schemathesis.toml"
  echo "== schemathesis against sluice dev ($name) at $dev_base" >&2
  local status=0
  (
    cd "$dev_dir"
    PYTHONPATH="$root/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks \
      "$root/$venv/bin/schemathesis" --config-file "$dev_dir/schemathesis.toml" run "$dev_base/openapi.json" \
      --url "$dev_base" \
      --seed 20261206 --generation-database none --no-color "${@:4}"
  ) || status=$?
  if [[ $status -ne 0 ]]; then
    echo "schemathesis found failures against sluice dev ($name)" >&2
  fi
  dev_stop "$name" "$status"
  return "$status"
}

key="schemathesis-$RANDOM$RANDOM"
key_sha256=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)

failed=0
run_against "without API keys" "" '
[checks.ignored_auth]
enabled = false' "$@" || failed=1
run_against "with an API key" "  auth:
    keys:
      - name: schemathesis
        sha256: $key_sha256
        types: ['*']" "
[auth.openapi.bearer]
bearer = \"$key\"" "$@" || failed=1
exit "$failed"
