#!/usr/bin/env bash
# The benchmark suite in one command: builds sluice and sluice-load, starts every
# subject and baseline as its own process on free 127.0.0.1 ports (and kinesalite
# through scripts/kinesis.sh), drives each with cmd/sluice-load, and prints one table:
# scenario, subject, baseline, ratio. BENCHMARKS.md explains the figures.
#
#   scripts/bench.sh                 every scenario, 10 s each
#   scripts/bench.sh --short         2 s each: proves the suite works (CI, scripts/test.sh)
#   scripts/bench.sh --duration 30s --connections 8
#
# Options:
#   --short           2 s per scenario, fewer connections
#   --race            build with the race detector (reuses go test -race's build cache;
#                     figures are then meaningless, but races under load fail the run)
#   --duration D      time each scenario sends (default 10s)
#   --connections N   connections per scenario (default 4; the Kinesis scenario uses 4N)
#   --results DIR     keep the JSON summaries, subject logs and table in DIR
#
# Scenarios (each subject and baseline is measured from /proc by sluice-load):
#   lumberjack -> discard stream   sluice gateway, stream.kind discard; baseline: go-lumber's
#                                  stock server/v2 (`sluice-load baseline-lumberjack`)
#   HTTP NDJSON -> discard stream  sluice gateway; no baseline yet
#   gRPC PushStream -> discard     sluice gateway; no baseline yet
#   _bulk -> discard stream        sluice gateway; no baseline yet
#   HTTP -> gateway -> Kinesis     sluice gateway on kinesalite (its CPU is not counted)
#   sluice dev, HTTP -> file sink  the whole chain, timed until the sink holds every event
# Hooks, not built yet (listed at the end of every run):
#   transform pipelines vs stock Go grok (github.com/elastic/go-grok, vjeantet/grok)
#   sink -> search engine (Elasticsearch / OpenSearch bulk indexing)
#
# Exit status: non-zero when any scenario failed (sluice-load found a problem: nothing
# acknowledged, errors, a subject that died or did not stop cleanly, a sink that never
# held every event). The figures themselves are never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

short=0
race=0
duration=10s
connections=4
results=""
while [[ $# -gt 0 ]]; do
  case "$1" in
  --short) short=1 ;;
  --race) race=1 ;;
  --duration) duration="$2"; shift ;;
  --connections) connections="$2"; shift ;;
  --results) results="$2"; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ $short == 1 ]]; then
  duration=2s
  connections=2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
if [[ -z "$results" ]]; then
  results="$work/results"
fi
mkdir -p "$results" "$work/bin"
results=$(cd "$results" && pwd)
export SLUICE_KINESIS_RUN_DIR="$work/kinesis"
cleanup() {
  scripts/kinesis.sh stop || true
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf '\n== %s\n' "$*" >&2; }

log "build"
buildflags=()
if [[ $race == 1 ]]; then
  buildflags+=(-race)
fi
go build "${buildflags[@]}" -o "$work/bin/sluice" ./cmd/sluice
go build "${buildflags[@]}" -o "$work/bin/sluice-load" ./cmd/sluice-load
sluice="$work/bin/sluice"
load="$work/bin/sluice-load"

model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)
machine="$(nproc) x ${model}, $(go env GOOS)/$(go env GOARCH), $(go version | awk '{print $3}')"
echo "machine: $machine" >&2
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $loadavg" >&2

# The gateway on the null stream, for the receiver scenarios.
cat >"$work/gateway-discard.yaml" <<'EOF'
gateway:
  auth:
    disabled: true
stream:
  kind: discard
shutdown:
  drain_delay: 0s
log:
  level: warn
EOF

failed=()
n=0

# ports prints three free loopback ports: HTTP, gRPC, lumberjack.
ports() { "$load" free-ports 3 | tr '\n' ' '; }

# run_load LABEL ROLE SUBJECT_CMD LOAD_ARGS...: one measured run; its JSON summary goes
# to $results, the subject's output to a log beside it.
run_load() {
  local label="$1" role="$2" cmd="$3"
  shift 3
  n=$((n + 1))
  local base
  base=$(printf '%02d-%s' "$n" "$role")
  log "$label ($role)"
  if "$load" run --label "$label" --role "$role" --duration "$duration" --connections "$connections" \
    --subject-cmd "$cmd" --subject-log "$results/$base.log" "$@" >"$results/$base.json"; then
    return
  fi
  failed+=("$label ($role)")
  echo "bench.sh: $label ($role) FAILED; subject log $results/$base.log:" >&2
  tail -20 "$results/$base.log" >&2 || true
  # Keep the table readable when the run wrote no summary.
  if ! [[ -s "$results/$base.json" ]]; then
    printf '{"label":"%s","role":"%s","ok":false}\n' "$label" "$role" >"$results/$base.json"
  fi
}

gateway_cmd() { # config http grpc lumberjack
  echo "$sluice gateway -c $1 --http 127.0.0.1:$2 --grpc 127.0.0.1:$3 --lumberjack 127.0.0.1:$4"
}

scenario_lumberjack() {
  local label="lumberjack -> discard stream" p
  read -r -a p <<<"$(ports)"
  run_load "$label" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]}")" \
    --transport lumberjack --addr "127.0.0.1:${p[2]}"
  read -r -a p <<<"$(ports)"
  run_load "$label" baseline "$load baseline-lumberjack --addr 127.0.0.1:${p[0]}" \
    --transport lumberjack --addr "127.0.0.1:${p[0]}"
}

scenario_http() {
  local p
  read -r -a p <<<"$(ports)"
  run_load "HTTP NDJSON -> discard stream" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]}")" \
    --transport http --addr "127.0.0.1:${p[0]}"
}

scenario_grpc() {
  local p
  read -r -a p <<<"$(ports)"
  run_load "gRPC PushStream -> discard stream" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]}")" \
    --transport grpc --addr "127.0.0.1:${p[1]}"
}

scenario_bulk() {
  local p
  read -r -a p <<<"$(ports)"
  run_load "_bulk -> discard stream" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]}")" \
    --transport bulk --addr "127.0.0.1:${p[0]}"
}

scenario_kinesis() {
  local label="HTTP NDJSON -> gateway -> Kinesis (kinesalite)" endpoint p
  log "kinesalite"
  if ! endpoint=$(scripts/kinesis.sh start); then
    failed+=("$label (kinesalite did not start)")
    printf '{"label":"%s","role":"subject","ok":false}\n' "$label" >"$results/kinesis-start.json"
    return
  fi
  local streams=(sluice-firewall sluice-ids sluice-waf sluice-default)
  if ! "$load" kinesis-streams --endpoint "$endpoint" --shards 4 "${streams[@]}"; then
    failed+=("$label (streams not created)")
    return
  fi
  # Shard limits lifted: kinesalite enforces none, and this measures the gateway.
  cat >"$work/gateway-kinesis.yaml" <<EOF
gateway:
  auth:
    disabled: true
stream:
  kind: kinesis
  kinesis:
    endpoint: $endpoint
    region: us-east-1
    credentials:
      access_key_id: sluice-bench
      secret_access_key: sluice-bench
    shard:
      bytes_per_second: 1GiB
      records_per_second: 1000000
shutdown:
  drain_delay: 0s
log:
  level: warn
EOF
  read -r -a p <<<"$(ports)"
  # More connections: each request waits for the producer's linger and kinesalite.
  run_load "$label" subject "$(gateway_cmd "$work/gateway-kinesis.yaml" "${p[@]}")" \
    --transport http --addr "127.0.0.1:${p[0]}" --connections $((connections * 4))
  scripts/kinesis.sh stop
}

scenario_dev() {
  local p data="$work/dev-data"
  cat >"$work/dev.yaml" <<'EOF'
log:
  level: warn
EOF
  read -r -a p <<<"$(ports)"
  run_load "sluice dev: HTTP -> embedded stream -> transform -> file sink" subject \
    "$sluice dev -c $work/dev.yaml --data-dir $data --http 127.0.0.1:${p[0]} --grpc 127.0.0.1:${p[1]} --lumberjack 127.0.0.1:${p[2]}" \
    --transport http --addr "127.0.0.1:${p[0]}" --sink-dir "$data" --sink-timeout 60s
  rm -rf "$data"
}

# Scenarios not in this script yet. Each will be a function like the ones above:
# start the subject and its baseline, run_load both under one label. Until then their
# figures come from Go benchmarks (BENCHMARKS.md).
hooks=(
  "transform pipelines vs stock Go grok: a driver feeding sample records to the pipelines (transform/pipeline; today: go test -bench in transform/pipeline/grok and samples); baseline: elastic/go-grok and vjeantet/grok on the same patterns"
  "sink -> search engine: sluice transform with sink.kind search into scripts/opensearch.sh (today: go test -bench in sink/search); baseline: go-elasticsearch's esutil.BulkIndexer against the same cluster"
)

scenario_lumberjack
scenario_http
scenario_grpc
scenario_bulk
scenario_kinesis
scenario_dev

build=""
if [[ $race == 1 ]]; then
  build=" --race (race build: the figures are meaningless)"
fi
log "results"
{
  echo "Command: scripts/bench.sh --duration $duration --connections $connections$build"
  echo "Finished: $(date -u +%Y-%m-%dT%H:%MZ); load average at the start: $loadavg."
  echo
  "$load" table "$results"/*.json
  echo
  echo "Not built yet (hooks in scripts/bench.sh):"
  for h in "${hooks[@]}"; do
    echo "- $h"
  done
} | tee "$results/table.md"

if [[ ${#failed[@]} -gt 0 ]]; then
  echo >&2
  echo "bench.sh: ${#failed[@]} run(s) failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
