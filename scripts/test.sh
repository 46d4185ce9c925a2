#!/usr/bin/env bash
# The whole test suite, from a fresh machine with Go and Node.js installed: installs the
# pinned tools, checks formatting, generated code, vet and staticcheck, starts the
# servers the tests use on 127.0.0.1 (scripts/kinesis.sh: kinesalite from npm;
# scripts/dynalite.sh: dynalite from npm, for the lease table; scripts/s3.sh: moto's
# S3 server from PyPI, for the archive; scripts/lookupdb.sh:
# Redis and PostgreSQL from Debian's packages; scripts/rsyslog.sh: rsyslog from Debian's
# packages, for each test to run its own; scripts/filebeat.sh: Filebeat 7.17 built from
# the Go module proxy; scripts/chromium.sh: Chromium from Debian's
# packages, for the /docs page; scripts/jaeger.sh: Jaeger built from the Go module proxy,
# for README's trace recipe; scripts/opensearch.sh and scripts/elasticsearch.sh:
# OpenSearch and Elasticsearch from Maven Central, need Java 17 and mvn), then runs every
# test with the race detector, and the HTTP API against its OpenAPI document
# (scripts/schemathesis.sh: schemathesis from PyPI) and through a client generated from it
# (scripts/openapi-client.sh: openapi-python-client from PyPI). This is README's second
# command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "tools"
scripts/tools.sh
export PATH="$PWD/.bin:$PATH"

step "gofmt"
# shellcheck disable=SC2046 # one word per file: no Go file name holds a space
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.bin/*'))
if [[ -n "$unformatted" ]]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "generated code is up to date (buf lint, buf generate)"
tree_sum() { find proto -type f -print0 | sort -z | xargs -0 sha256sum; }
before=$(tree_sum)
scripts/gen.sh
after=$(tree_sum)
if [[ "$before" != "$after" ]]; then
  echo "regenerating proto/ changed these files: run scripts/gen.sh and commit the result"
  diff <(echo "$before") <(echo "$after") || true
  exit 1
fi

step "go vet"
go vet ./...

step "staticcheck"
staticcheck ./...

# Servers the tests use, each stopped however the run ends (cleanup runs in reverse).
cleanup=()
on_exit() {
  local i
  for ((i = ${#cleanup[@]} - 1; i >= 0; i--)); do eval "${cleanup[i]}" || true; done
}
trap on_exit EXIT

# serve NAME RUN_VAR [URL_VAR]: starts scripts/NAME.sh with a fresh runtime directory
# in RUN_VAR, so that concurrent runs never stop each other's server, and stops it by
# PID however the run ends. What start printed is in $started; with URL_VAR, it is
# exported there (the tests read it) and shown.
serve() {
  local name="$1" run_var="$2" url_var="${3:-}" dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-$name.XXXXXX")
  export "$run_var=$dir"
  cleanup+=("scripts/$name.sh clean; rm -rf '$dir'")
  started=$("scripts/$name.sh" start)
  if [[ -n "$url_var" ]]; then
    export "$url_var=$started"
    echo "$url_var=$started"
  fi
}

step "server scripts from a fresh machine (scripts/servers-test.sh: 0700 TMPDIR and run directories)"
# Each server script starts, answers and cleans up with TMPDIR and its run directory
# inside a directory the unprivileged engine and database users cannot enter.
scripts/servers-test.sh

step "kinesis-compatible server (kinesalite on 127.0.0.1)"
serve kinesis SLUICE_KINESIS_RUN_DIR SLUICE_TEST_KINESIS_ENDPOINT

step "dynamodb-compatible server for the lease table (dynalite on 127.0.0.1)"
serve dynalite SLUICE_DYNALITE_RUN_DIR SLUICE_TEST_DYNAMODB_ENDPOINT

step "S3-compatible server for the archive (moto on 127.0.0.1)"
serve s3 SLUICE_S3_RUN_DIR SLUICE_TEST_S3_ENDPOINT

step "lookup databases (Redis and PostgreSQL on 127.0.0.1)"
serve lookupdb SLUICE_LOOKUPDB_RUN_DIR # prints export lines: SLUICE_TEST_REDIS_ADDR, ...
eval "$started"
echo "SLUICE_TEST_REDIS_ADDR=$SLUICE_TEST_REDIS_ADDR"

step "rsyslog, a real syslog and RELP client (Debian's rsyslog, rsyslog-relp, rsyslog-gnutls)"
# Installs only (quick when installed): each test starts its own rsyslogd
# (internal/rsyslogtest).
rsyslog_env=$(scripts/rsyslog.sh install) # prints: export SLUICE_TEST_RSYSLOGD=...
eval "$rsyslog_env"
echo "SLUICE_TEST_RSYSLOGD=$SLUICE_TEST_RSYSLOGD"

step "the stream format's third-party reader (scripts/pyref.sh: zstandard and aws-kinesis-agg from PyPI)"
pyref_env=$(scripts/pyref.sh install) # prints: export SLUICE_TEST_PYREF_PYTHON=...
eval "$pyref_env"
echo "SLUICE_TEST_PYREF_PYTHON=$SLUICE_TEST_PYREF_PYTHON"

step "OpenTelemetry Collector, a real OTLP client (scripts/otelcol.sh: built with ocb from the Go module proxy into .cache/otelcol)"
otelcol_env=$(scripts/otelcol.sh install) # prints: export SLUICE_TEST_OTELCOL=...
eval "$otelcol_env"
echo "SLUICE_TEST_OTELCOL=$SLUICE_TEST_OTELCOL"

step "Jaeger, the trace backend of README's trace recipe (scripts/jaeger.sh: built from the Go module proxy into .cache/jaeger)"
jaeger_env=$(scripts/jaeger.sh env) # prints: export SLUICE_TEST_JAEGER=...
eval "$jaeger_env"
echo "SLUICE_TEST_JAEGER=$SLUICE_TEST_JAEGER"

step "Chromium, a real browser for the /docs page and the console (Debian's chromium)"
# Installs only (quick when installed): each browser test starts its own headless
# Chromium (internal/browsertest).
SLUICE_TEST_CHROMIUM=$(scripts/chromium.sh install) # prints the browser's path
export SLUICE_TEST_CHROMIUM
echo "SLUICE_TEST_CHROMIUM=$SLUICE_TEST_CHROMIUM"
# The browser tests' screenshots (the docs page, each view of the console) are the
# run's artifacts.
export SLUICE_TEST_SCREENSHOT_DIR="${SLUICE_TEST_SCREENSHOT_DIR:-$PWD/.cache/artifacts/screenshots}"
mkdir -p "$SLUICE_TEST_SCREENSHOT_DIR"
echo "SLUICE_TEST_SCREENSHOT_DIR=$SLUICE_TEST_SCREENSHOT_DIR"

step "Filebeat, a real Elasticsearch-output client (scripts/filebeat.sh: built from the Go module proxy into .cache/filebeat)"
filebeat_env=$(scripts/filebeat.sh env) # prints: export SLUICE_TEST_FILEBEAT=...
eval "$filebeat_env"
echo "SLUICE_TEST_FILEBEAT=$SLUICE_TEST_FILEBEAT"

step "search engine (OpenSearch integ-test-zip on 127.0.0.1)"
serve opensearch SLUICE_OPENSEARCH_RUN_DIR SLUICE_TEST_OPENSEARCH_URL

step "search engine (Elasticsearch integ-test-zip on 127.0.0.1)"
serve elasticsearch SLUICE_ELASTICSEARCH_RUN_DIR SLUICE_TEST_ELASTICSEARCH_URL

step "go test"
go test -race -count=1 -timeout 15m ./... "$@"

step "allocation tests, without the race detector (its sync.Pool drops objects at random)"
go test -count=1 -run 'Allocates' ./gateway/syslog/

step "HTTP API against its OpenAPI document (scripts/schemathesis.sh: schemathesis from PyPI, sluice dev with and without API keys)"
scripts/schemathesis.sh

step "generated clients work (scripts/openapi-client.sh: a Python client generated by openapi-python-client from PyPI, sluice dev with and without API keys)"
scripts/openapi-client.sh

step "benchmarks, short (scripts/bench.sh: proves every scenario runs; figures not asserted)"
# Always, in CI too: about 30 s. --race reuses the build cache of go test -race and
# makes a data race in a subject under load fail the run.
scripts/bench.sh --short --race

step "deploy: offline validation and the local stack (scripts/deploy-check.sh --local)"
# cfn-lint, hadolint, kustomize, kubernetes-validate, the Dockerfile's build stage, the
# deploy Go test on the built overlays, and deploy/local/stack.sh --smoke end to end.
scripts/deploy-check.sh --local
