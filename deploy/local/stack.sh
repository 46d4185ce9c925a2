#!/usr/bin/env bash
# The production shape on a laptop, without an AWS account: kinesalite (Kinesis) and
# dynalite (the DynamoDB lease table) from npm and OpenSearch (integ-test-zip from Maven
# Central) on 127.0.0.1, then `sluice gateway` and `sluice transform` against them with
# the sample pipelines, indexing into OpenSearch's data streams. Both load the shipped
# Kubernetes configuration files (deploy/k8s/overlays/dev/gateway.yaml,
# deploy/k8s/base/config/transform.yaml: streams, lease table, search sink, dead-letter
# stream, pipelines) with only the endpoints, credentials and listen addresses
# overridden, so what runs here end to end is what is deployed.
#
#   deploy/local/stack.sh            start everything and stay up; Ctrl-C stops it all
#   deploy/local/stack.sh --smoke    start, send events over HTTP and syslog (TCP and
#                                    UDP), wait until every one is searchable in
#                                    OpenSearch, stop (CI)
#
# Needs Go, Node.js (npm), Java 17 with Maven. Ports: gateway HTTP/gRPC/lumberjack/RELP
# and plain syslog (TCP and UDP on one port number, as in the dev overlay's component
# components/plain-syslog) on free loopback ports (printed), transform's /healthz,
# /readyz, /metrics on another.
# Documents land in OpenSearch's data streams logs-<type>-default; dead letters in the
# Kinesis stream sluice-dead-letters (read them back with `sluice replay`).
# Stops only the processes it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

smoke=false
[[ "${1:-}" == "--smoke" ]] && smoke=true

dir="${SLUICE_LOCAL_DIR:-$PWD/.cache/local-stack}"
rm -rf "$dir/run"
mkdir -p "$dir/bin" "$dir/run"
log() { printf 'stack.sh: %s\n' "$*" >&2; }

pids=()
cleanup() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  scripts/kinesis.sh stop >/dev/null 2>&1 || true
  scripts/dynalite.sh stop >/dev/null 2>&1 || true
  scripts/opensearch.sh clean >/dev/null 2>&1 || true
}
trap cleanup EXIT
export SLUICE_KINESIS_RUN_DIR="$dir/run/kinesis" SLUICE_DYNALITE_RUN_DIR="$dir/run/dynalite" \
  SLUICE_OPENSEARCH_RUN_DIR="$dir/run/opensearch"
mkdir -p "$SLUICE_KINESIS_RUN_DIR" "$SLUICE_DYNALITE_RUN_DIR" "$SLUICE_OPENSEARCH_RUN_DIR"

log "building sluice and sluice-load"
go build -o "$dir/bin/sluice" ./cmd/sluice
go build -o "$dir/bin/sluice-load" ./cmd/sluice-load

kinesis=$(scripts/kinesis.sh start)
dynamo=$(scripts/dynalite.sh start)
search=$(scripts/opensearch.sh start)
log "kinesalite $kinesis, dynalite $dynamo, opensearch $search"

streams=(sluice-firewall sluice-ids sluice-waf sluice-default)
"$dir/bin/sluice-load" kinesis-streams --endpoint "$kinesis" --shards 2 "${streams[@]}"
# The dead-letter stream (sink.dead_letters.stream's default), which transform checks at start.
"$dir/bin/sluice-load" kinesis-streams --endpoint "$kinesis" --shards 1 sluice-dead-letters

read -r http grpc lj relp syslog ops <<<"$("$dir/bin/sluice-load" free-ports 6 | tr '\n' ' ')"

# The shipped configuration files; the environment below overrides only where things
# are (local endpoints, dummy credentials that neither server checks, loopback
# addresses) and a few timings.
gateway_cfg=deploy/k8s/overlays/dev/gateway.yaml
transform_cfg=deploy/k8s/base/config/transform.yaml
common=(
  SLUICE_STREAM_KINESIS_REGION=us-east-1
  SLUICE_STREAM_KINESIS_ENDPOINT="$kinesis"
  SLUICE_STREAM_KINESIS_CREDENTIALS_ACCESS_KEY_ID=local
  SLUICE_STREAM_KINESIS_CREDENTIALS_SECRET_ACCESS_KEY=local
  SLUICE_LOG_FORMAT=text
  SLUICE_SHUTDOWN_DRAIN_DELAY=0s
)
# Every listener of the dev overlay on loopback: its file's (HTTP, gRPC, lumberjack,
# plain RELP) and the plain syslog its component adds by environment (free-ports finds
# a free TCP port; UDP takes the same number, as the pods' 5514 does).
env "${common[@]}" \
  "$dir/bin/sluice" gateway -c "$gateway_cfg" --http "127.0.0.1:$http" --grpc "127.0.0.1:$grpc" --lumberjack "127.0.0.1:$lj" \
  --relp "127.0.0.1:$relp" --syslog-tcp "127.0.0.1:$syslog" --syslog-udp "127.0.0.1:$syslog" \
  >"$dir/gateway.log" 2>&1 &
pids+=($!)
env "${common[@]}" \
  SLUICE_HTTP_ADDR="127.0.0.1:$ops" \
  SLUICE_STREAM_LEASES_DYNAMODB_REGION=us-east-1 \
  SLUICE_STREAM_LEASES_DYNAMODB_ENDPOINT="$dynamo" \
  SLUICE_STREAM_LEASES_DYNAMODB_CREDENTIALS_ACCESS_KEY_ID=local \
  SLUICE_STREAM_LEASES_DYNAMODB_CREDENTIALS_SECRET_ACCESS_KEY=local \
  SLUICE_STREAM_CONSUMER_IDLE_WAIT=200ms \
  SLUICE_SINK_SEARCH_ADDRESSES="[$search]" \
  "$dir/bin/sluice" transform -c "$transform_cfg" \
  >"$dir/transform.log" 2>&1 &
pids+=($!)

# The container's health check, here on loopback: both roles answer /readyz.
for url in "http://127.0.0.1:$http/readyz" "http://127.0.0.1:$ops/readyz"; do
  for _ in $(seq 1 100); do
    "$dir/bin/sluice" healthcheck -q --url "$url" 2>/dev/null && break
    sleep 0.2
  done
  "$dir/bin/sluice" healthcheck --url "$url" || { log "not ready: $url"; tail -20 "$dir"/*.log >&2; exit 1; }
done

cat >&2 <<MSG
stack.sh: up.
  gateway:    HTTP 127.0.0.1:$http  gRPC 127.0.0.1:$grpc  lumberjack 127.0.0.1:$lj   (log $dir/gateway.log)
              RELP 127.0.0.1:$relp  syslog TCP and UDP 127.0.0.1:$syslog (plain, as in the dev overlay)
  transform:  127.0.0.1:$ops/metrics   (log $dir/transform.log)
  documents:  $search/logs-*/_search   (dead letters: Kinesis stream sluice-dead-letters, sluice replay)
  try:        curl -s 127.0.0.1:$http/v1/events -H 'Content-Type: application/x-ndjson' --data-binary '{"message":"deny tcp","fields":{"log_type":"firewall"}}'
MSG

if ! $smoke; then
  log "Ctrl-C stops everything"
  wait "${pids[0]}"
  exit
fi

# Smoke: events of four types over HTTP, and syslog messages (the log type syslog, the
# receiver's default) over TCP and UDP, through gateway -> Kinesis -> leases ->
# transform -> OpenSearch.
body=$'{"message":"Nov 26 07:00:00 fw01 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.7 DST=10.1.2.3 PROTO=TCP SPT=443 DPT=51234","fields":{"log_type":"firewall"}}\n{"message":"ET SCAN Nmap","event":{"dataset":"ids"}}\n{"message":"blocked SQLi","fields":{"log_type":"waf"}}\n{"message":"something else","fields":{"log_type":"custom"}}\n'
want=0
for _ in 1 2 3 4 5; do
  out=$(curl -sS --fail-with-body "127.0.0.1:$http/v1/events" -H 'Content-Type: application/x-ndjson' --data-binary "$body")
  [[ "$out" == *'"accepted":4'* ]] || { log "gateway answered: $out"; exit 1; }
  want=$((want + 4))
done
# Syslog: 5 lines on one TCP connection (LF framing), 5 datagrams. UDP has no
# acknowledgement: on loopback with the listener bound (it is, /readyz answered) they
# arrive, and the count below says so.
for i in 1 2 3 4 5; do
  printf '<38>Nov 26 07:00:0%d host01 sshd[42]: Accepted publickey for ops from 10.1.2.%d over tcp\n' "$i" "$i"
done >"/dev/tcp/127.0.0.1/$syslog"
for i in 1 2 3 4 5; do
  printf '<38>Nov 26 07:00:1%d host01 sshd[42]: Accepted publickey for ops from 10.1.3.%d over udp' "$i" "$i" >"/dev/udp/127.0.0.1/$syslog"
done
want=$((want + 10))
log "sent $want events; waiting until they are searchable"
count() { # documents in a data stream pattern, after a refresh
  curl -sS -X POST "$search/$1/_refresh" >/dev/null 2>&1 || true
  curl -sS "$search/$1/_count" 2>/dev/null | sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}
got=0
for _ in $(seq 1 150); do
  got=$(count 'logs-*')
  ((${got:-0} >= want)) && break
  sleep 0.2
done
if ((${got:-0} != want)); then
  log "$got of $want documents in OpenSearch"; tail -30 "$dir"/*.log >&2; exit 1
fi
for t in firewall ids waf custom; do
  n=$(count "logs-$t-default")
  ((${n:-0} == 5)) || { log "logs-$t-default holds ${n:-0} documents, want 5"; exit 1; }
done
n=$(count "logs-syslog-default")
((${n:-0} == 10)) || { log "logs-syslog-default holds ${n:-0} documents, want 10 (5 over TCP, 5 over UDP)"; exit 1; }
log "ok: $got documents of firewall, ids, waf, custom and syslog (TCP and UDP) searchable in OpenSearch"
