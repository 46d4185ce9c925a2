#!/usr/bin/env bash
# The whole test suite, from a fresh machine with Go and Node.js installed: installs the
# pinned tools, checks formatting, generated code, vet and staticcheck, starts the
# servers the tests use on 127.0.0.1 (scripts/kinesis.sh: kinesalite from npm;
# scripts/dynalite.sh: dynalite from npm, for the lease table; scripts/lookupdb.sh:
# Redis and PostgreSQL from Debian's packages; scripts/opensearch.sh and
# scripts/elasticsearch.sh: OpenSearch and Elasticsearch from Maven Central, need Java 17
# and mvn), then runs every
# test with the race detector. This is README's second command and what
# CI runs.
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

step "kinesis-compatible server (kinesalite on 127.0.0.1)"
# A fresh in-memory server per run, with its own runtime directory so that concurrent
# runs never stop each other's server; stopped by PID however the run ends.
export SLUICE_KINESIS_RUN_DIR
SLUICE_KINESIS_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kinesis.XXXXXX")
# shellcheck disable=SC2016 # expanded when the cleanup runs
cleanup+=('scripts/kinesis.sh stop; rm -rf "$SLUICE_KINESIS_RUN_DIR"')
SLUICE_TEST_KINESIS_ENDPOINT=$(scripts/kinesis.sh start)
export SLUICE_TEST_KINESIS_ENDPOINT
echo "SLUICE_TEST_KINESIS_ENDPOINT=$SLUICE_TEST_KINESIS_ENDPOINT"

step "dynamodb-compatible server for the lease table (dynalite on 127.0.0.1)"
export SLUICE_DYNALITE_RUN_DIR
SLUICE_DYNALITE_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-dynalite.XXXXXX")
# shellcheck disable=SC2016 # expanded when the cleanup runs
cleanup+=('scripts/dynalite.sh stop; rm -rf "$SLUICE_DYNALITE_RUN_DIR"')
SLUICE_TEST_DYNAMODB_ENDPOINT=$(scripts/dynalite.sh start)
export SLUICE_TEST_DYNAMODB_ENDPOINT
echo "SLUICE_TEST_DYNAMODB_ENDPOINT=$SLUICE_TEST_DYNAMODB_ENDPOINT"

step "lookup databases (Redis and PostgreSQL on 127.0.0.1)"
export SLUICE_LOOKUPDB_RUN_DIR
SLUICE_LOOKUPDB_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-lookupdb-run.XXXXXX")
# shellcheck disable=SC2016 # expanded when the cleanup runs
cleanup+=('scripts/lookupdb.sh stop; rm -rf "$SLUICE_LOOKUPDB_RUN_DIR"')
lookupdb_env=$(scripts/lookupdb.sh start) # assigned first: set -e sees a failed start
eval "$lookupdb_env"
echo "SLUICE_TEST_REDIS_ADDR=$SLUICE_TEST_REDIS_ADDR"

step "search engine (OpenSearch integ-test-zip on 127.0.0.1)"
export SLUICE_OPENSEARCH_RUN_DIR
SLUICE_OPENSEARCH_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-opensearch.XXXXXX")
# shellcheck disable=SC2016 # expanded when the cleanup runs
cleanup+=('scripts/opensearch.sh stop; rm -rf "$SLUICE_OPENSEARCH_RUN_DIR"')
SLUICE_TEST_OPENSEARCH_URL=$(scripts/opensearch.sh start)
export SLUICE_TEST_OPENSEARCH_URL
echo "SLUICE_TEST_OPENSEARCH_URL=$SLUICE_TEST_OPENSEARCH_URL"

step "search engine (Elasticsearch integ-test-zip on 127.0.0.1)"
export SLUICE_ELASTICSEARCH_RUN_DIR
SLUICE_ELASTICSEARCH_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-elasticsearch.XXXXXX")
# shellcheck disable=SC2016 # expanded when the cleanup runs
cleanup+=('scripts/elasticsearch.sh stop; rm -rf "$SLUICE_ELASTICSEARCH_RUN_DIR"')
SLUICE_TEST_ELASTICSEARCH_URL=$(scripts/elasticsearch.sh start)
export SLUICE_TEST_ELASTICSEARCH_URL
echo "SLUICE_TEST_ELASTICSEARCH_URL=$SLUICE_TEST_ELASTICSEARCH_URL"

step "go test"
go test -race -count=1 -timeout 15m ./... "$@"

step "benchmarks, short (scripts/bench.sh: proves every scenario runs; figures not asserted)"
# Always, in CI too: about 30 s. --race reuses the build cache of go test -race and
# makes a data race in a subject under load fail the run.
scripts/bench.sh --short --race

step "deploy: offline validation and the local stack (scripts/deploy-check.sh --local)"
# cfn-lint, hadolint, kustomize, kubernetes-validate, the Dockerfile's build stage, the
# deploy Go test on the built overlays, and deploy/local/stack.sh --smoke end to end.
scripts/deploy-check.sh --local
