#!/usr/bin/env bash
# The benchmark suite in one command: builds sluice and sluice-load, starts every
# subject and baseline as its own process on free 127.0.0.1 ports (kinesalite through
# scripts/kinesis.sh, dynalite through scripts/dynalite.sh, OpenSearch through
# scripts/opensearch.sh, rsyslogd with a configuration of this run), drives each with
# cmd/sluice-load, and prints one table: scenario, subject, baseline, ratio.
# BENCHMARKS.md explains the figures.
#
# Servers reused when set (as scripts/test.sh and CI set them): SLUICE_TEST_OPENSEARCH_URL
# (else scripts/opensearch.sh starts one, which takes a minute or more the first time),
# SLUICE_TEST_DYNAMODB_ENDPOINT (else scripts/dynalite.sh starts one) and
# SLUICE_TEST_RSYSLOGD (else scripts/rsyslog.sh install finds rsyslogd, installing
# Debian's packages when missing). kinesalite is always a fresh instance of this run.
# Every stream, table, data stream and template a run makes has a name of its own, and
# the data streams and templates are deleted again.
#
#   scripts/bench.sh                 every scenario, 10 s each
#   scripts/bench.sh --short         2 s each: proves the suite works (CI, scripts/test.sh)
#   scripts/bench.sh --duration 30s --connections 8
#
# Options:
#   --short           2 s per scenario (1 s per grok engine and per search client and
#                     request size, fewer events in the whole chain), fewer connections
#   --race            build with the race detector (reuses go test -race's build cache;
#                     figures are then meaningless, but races under load fail the run)
#   --duration D      time each scenario sends (default 10s)
#   --connections N   connections per scenario (default 4; the Kinesis scenario uses 4N)
#   --results DIR     keep the JSON summaries, subject logs and table in DIR
#   --only LIST       run only these scenarios, comma-separated: lumberjack, http, grpc,
#                     bulk, ids, syslog, relp, otlp, kinesis, dev, grok, search, chain
#   --profile         each sluice process writes CPU, peak live heap, heap and
#                     allocation profiles of its run (SLUICE_PROFILE_DIR) to
#                     RESULTS/profiles/NN-ROLE/, for `go tool pprof -top
#                     RESULTS/profiles/NN-subject/cpu-*.pprof`
#
# Scenarios (each subject and baseline is measured from /proc by sluice-load):
#   lumberjack -> discard stream   sluice gateway, stream.kind discard; baseline: go-lumber's
#                                  stock server/v2 (`sluice-load baseline-lumberjack`)
#   HTTP NDJSON -> discard stream  sluice gateway; baseline: Benthos (scripts/benthos.sh)
#                                  with scripts/benthos/http-discard.yaml: split the lines,
#                                  parse each as JSON, drop them, answer with a status
#   gRPC PushStream -> discard     sluice gateway; no baseline yet
#   _bulk -> discard stream        sluice gateway; no baseline yet
#   OTLP/gRPC logs -> discard      sluice gateway (LogsService/Export); baseline: an
#                                  OpenTelemetry Collector (scripts/otelcol.sh) with its
#                                  otlp receiver and the nop exporter, the same calls
#   event ids: content hash        sluice gateway, HTTP NDJSON -> discard stream with
#                                  gateway.routing.id content (a hash of every event's
#                                  bytes); baseline: the same with stream_position (no id)
#   syslog TCP -> discard stream   sluice gateway --syslog-tcp: octet-counted BSD lines of
#                                  ~200 bytes, timed until its metric
#                                  sluice_syslog_messages_total{result="accepted"} counts
#                                  every one written (syslog acknowledges nothing);
#                                  baseline: rsyslogd's imtcp writing one LF per message
#                                  (omfile), timed until the file has every one
#   RELP -> discard stream         sluice gateway --relp: the same messages as RELP
#                                  transactions, a window of 128, each acknowledged by its
#                                  rsp 200; baseline: rsyslogd's imrelp into the same kind
#                                  of file, timed until it has every one acknowledged
#   HTTP -> gateway -> Kinesis     sluice gateway on kinesalite (its CPU is not counted)
#   OTLP/gRPC logs -> Kinesis      sluice gateway on kinesalite; baseline: an OpenTelemetry
#                                  Collector (scripts/otelcol.sh kinesis) with its otlp
#                                  receiver and contrib's awskinesis exporter, sending
#                                  queue off (it answers once its records are put), the
#                                  same calls
#   sluice dev, HTTP -> file sink  the whole chain, timed until the sink holds every event:
#                                  the durable embedded stream (sync always, and sync
#                                  interval); baseline: the in-memory embedded stream
#   grok / transform pipeline      `sluice-load grok`, one process per engine on the same
#                                  generated iptables lines: sluice's grok (the firewall
#                                  sample pipeline's expression) and the whole firewall
#                                  pipeline; baselines: github.com/elastic/go-grok and
#                                  github.com/vjeantet/grok on the same expression. The
#                                  captures of 500 lines are compared (grok-compare): a
#                                  difference fails the scenario
#   sink -> OpenSearch _bulk       `sluice-load index`: sluice's sink/search against
#                                  go-elasticsearch's esutil.BulkIndexer, same documents,
#                                  request size (1 MiB, 5 MiB) and workers (2), into
#                                  OpenSearch (count checked) and into `sluice-load
#                                  null-bulk` (a null endpoint: the clients' own CPU)
#   whole chain                    lumberjack -> sluice gateway -> kinesalite -> sluice
#                                  transform (dynalite leases, firewall pipeline) ->
#                                  OpenSearch: open loop for a fixed number of events, and
#                                  at a fixed rate (2,000/s, and a 20/s trickle) for
#                                  acknowledgement-to-searchable latency; no baseline (no
#                                  Logstash on this machine)
#
# Exit status: non-zero when any scenario failed (sluice-load found a problem: nothing
# acknowledged, parsed or indexed, errors, a subject that died or did not stop cleanly, a
# sink or search engine that never held every event, grok captures that differ between
# sluice and a library). The figures themselves are never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

short=0
race=0
profile=0
duration=10s
connections=4
results=""
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
  --short) short=1 ;;
  --race) race=1 ;;
  --profile) profile=1 ;;
  --duration) duration="$2"; shift ;;
  --connections) connections="$2"; shift ;;
  --results) results="$2"; shift ;;
  --only) only="$2"; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
scenarios=(lumberjack http grpc bulk ids syslog relp otlp kinesis dev grok search chain)
if [[ -n "$only" ]]; then
  IFS=, read -r -a wanted <<<"$only"
  for w in "${wanted[@]}"; do
    if [[ " ${scenarios[*]} " != *" $w "* ]]; then
      echo "bench.sh: --only: unknown scenario \"$w\" (want some of: ${scenarios[*]})" >&2
      exit 2
    fi
  done
fi
grok_duration=$duration  # per grok engine
index_duration=$duration # per search client and request size
if [[ $short == 1 ]]; then
  duration=2s
  connections=2
  grok_duration=1s
  index_duration=1s
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
if [[ -z "$results" ]]; then
  results="$work/results"
fi
mkdir -p "$results" "$work/bin"
results=$(cd "$results" && pwd)
export SLUICE_KINESIS_RUN_DIR="$work/kinesis"
export SLUICE_DYNALITE_RUN_DIR="$work/dynalite"
export SLUICE_OPENSEARCH_RUN_DIR="$work/opensearch"
search_url="${SLUICE_TEST_OPENSEARCH_URL:-}"
dynamodb_endpoint="${SLUICE_TEST_DYNAMODB_ENDPOINT:-}"
rsyslogd="${SLUICE_TEST_RSYSLOGD:-}"
started_opensearch=0
started_dynalite=0
bg_pids=() # background processes of this script (null endpoint, sluice transform)
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  scripts/kinesis.sh stop || true
  if [[ $started_dynalite == 1 ]]; then scripts/dynalite.sh stop || true; fi
  if [[ $started_opensearch == 1 ]]; then scripts/opensearch.sh clean || true; fi
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
chain_n=0

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
  last_summary="$results/$base.json"
  local profile_dir=""
  if [[ $profile == 1 ]]; then
    profile_dir="$results/profiles/$base"
  fi
  if SLUICE_PROFILE_DIR="$profile_dir" "$load" run --label "$label" --role "$role" --duration "$duration" --connections "$connections" \
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
  local label="HTTP NDJSON -> discard stream" p benthos
  read -r -a p <<<"$(ports)"
  run_load "$label" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]}")" \
    --transport http --addr "127.0.0.1:${p[0]}"
  if ! benthos=$(scripts/benthos.sh); then
    failed+=("$label (baseline: scripts/benthos.sh failed)")
    return
  fi
  read -r -a p <<<"$(ports)"
  # Benthos answers with a status only: a 2xx acknowledges the request's events.
  run_load "$label" baseline "env SLUICE_BENCH_HTTP_ADDR=127.0.0.1:${p[0]} $benthos -c $PWD/scripts/benthos/http-discard.yaml" \
    --transport http --http-ack status --addr "127.0.0.1:${p[0]}"
}

scenario_grpc() {
  local p
  read -r -a p <<<"$(ports)"
  run_load "gRPC PushStream -> discard stream" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]}")" \
    --transport grpc --addr "127.0.0.1:${p[1]}"
}

scenario_otlp() {
  local label="OTLP/gRPC logs -> discard stream" p otelcol
  read -r -a p <<<"$(ports)"
  run_load "$label" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]}")" \
    --transport otlp --addr "127.0.0.1:${p[1]}"
  if ! otelcol=$(scripts/otelcol.sh install); then
    failed+=("$label (baseline: scripts/otelcol.sh failed)")
    return
  fi
  otelcol=${otelcol#export SLUICE_TEST_OTELCOL=}
  read -r -a p <<<"$(ports)"
  cat >"$work/otelcol-nop.yaml" <<EOF
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:${p[0]}"}}}
exporters:
  nop: {}
service:
  telemetry: {metrics: {level: none}, logs: {level: warn}}
  pipelines:
    logs: {receivers: [otlp], exporters: [nop]}
EOF
  run_load "$label" baseline "$otelcol --config $work/otelcol-nop.yaml" \
    --transport otlp --addr "127.0.0.1:${p[0]}"
}

scenario_ids() {
  local label="event ids: content hash, HTTP NDJSON -> discard stream" p mode
  for mode in content stream_position; do
    sed "s/^gateway:/gateway:\n  routing: {id: $mode}/" "$work/gateway-discard.yaml" >"$work/gateway-ids-$mode.yaml"
  done
  read -r -a p <<<"$(ports)"
  run_load "$label" subject "$(gateway_cmd "$work/gateway-ids-content.yaml" "${p[@]}")" \
    --transport http --addr "127.0.0.1:${p[0]}"
  read -r -a p <<<"$(ports)"
  run_load "$label" baseline "$(gateway_cmd "$work/gateway-ids-stream_position.yaml" "${p[@]}")" \
    --transport http --addr "127.0.0.1:${p[0]}"
}

scenario_bulk() {
  local p
  read -r -a p <<<"$(ports)"
  run_load "_bulk -> discard stream" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]}")" \
    --transport bulk --addr "127.0.0.1:${p[0]}"
}

# rsyslogd_path sets rsyslogd: SLUICE_TEST_RSYSLOGD, or what scripts/rsyslog.sh install
# finds (it installs Debian's packages when missing, and starts no service).
rsyslogd_path() {
  if [[ -n "$rsyslogd" ]]; then
    return 0
  fi
  log "rsyslog (scripts/rsyslog.sh install)"
  local env
  if ! env=$(scripts/rsyslog.sh install); then
    return 1
  fi
  eval "$env"
  rsyslogd="$SLUICE_TEST_RSYSLOGD"
}

# rsyslog_baseline NAME MODULE PORT: writes the configuration of an rsyslogd of its own,
# the baseline of a syslog scenario, to $work/rsyslog-NAME/rsyslog.conf and prints the
# command that runs it. Nothing is read from /etc and only MODULE is loaded (no imuxsock,
# no imklog, no system socket); rsyslog's own messages go to rsyslogd.log beside it.
# The input writes one LF per message to $work/rsyslog-NAME/messages: the least output
# that still shows what arrived (sluice's subject drops its events into the discard
# stream), counted by `sluice-load run --received-file`. Everything else, the in-memory
# main queue included, is rsyslog's default.
rsyslog_baseline() {
  local name="$1" module="$2" port="$3" dir="$work/rsyslog-$1"
  rm -rf "$dir"
  mkdir -p "$dir/work"
  cat >"$dir/rsyslog.conf" <<EOF
# bench.sh $name baseline: rsyslogd -n -f $dir/rsyslog.conf -i $dir/rsyslogd.pid
global(workDirectory="$dir/work" processInternalMessages="on" net.enableDNS="off")
module(load="$module")
template(name="lf" type="string" string="\n")
input(type="$module" name="in" address="127.0.0.1" port="$port" ruleset="baseline")
ruleset(name="baseline") {
  action(type="omfile" name="count" file="$dir/messages" template="lf")
}
# rsyslog's own messages (the default ruleset, which no input uses)
action(type="omfile" file="$dir/rsyslogd.log")
EOF
  echo "$rsyslogd -n -f $dir/rsyslog.conf -i $dir/rsyslogd.pid"
}

# syslog_scenario LABEL TRANSPORT FLAG NAME MODULE: the subject is sluice gateway with
# the receiver of --FLAG, timed until its /metrics counts every message; the baseline
# rsyslogd with MODULE, timed until its file has every message; the same load into both.
syslog_scenario() {
  local label="$1" transport="$2" flag="$3" name="$4" module="$5" p port cmd
  read -r -a p <<<"$("$load" free-ports 4 | tr '\n' ' ')"
  run_load "$label" subject "$(gateway_cmd "$work/gateway-discard.yaml" "${p[@]:0:3}") --$flag 127.0.0.1:${p[3]}" \
    --transport "$transport" --addr "127.0.0.1:${p[3]}" --received-metrics "http://127.0.0.1:${p[0]}/metrics"
  if ! rsyslogd_path; then
    echo "bench.sh: $label: no rsyslogd for the baseline (scripts/rsyslog.sh install failed)" >&2
    record_failure "$label" baseline "$results/rsyslog-$name.json"
    return
  fi
  port=$("$load" free-ports 1)
  cmd=$(rsyslog_baseline "$name" "$module" "$port")
  run_load "$label" baseline "$cmd" \
    --transport "$transport" --addr "127.0.0.1:$port" --received-file "$work/rsyslog-$name/messages"
  cp "$work/rsyslog-$name/rsyslog.conf" "$results/rsyslog-$name.conf"
  cp "$work/rsyslog-$name/rsyslogd.log" "$results/rsyslog-$name.log" 2>/dev/null || true
  rm -f "$work/rsyslog-$name/messages"
}

scenario_syslog() {
  syslog_scenario "syslog TCP -> discard stream" syslog-tcp syslog-tcp syslog imtcp
}

scenario_relp() {
  syslog_scenario "RELP -> discard stream" relp relp relp imrelp
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
    --transport http --addr "127.0.0.1:${p[0]}" --connections $((connections * 4)) \
    --kinesis-endpoint "$endpoint" --kinesis-streams "$(IFS=,; echo "${streams[*]}")"
  scenario_otlp_kinesis "$endpoint" "$(IFS=,; echo "${streams[*]}")"
  scripts/kinesis.sh stop
}

# scenario_otlp_kinesis ENDPOINT STREAMS: OTLP/gRPC logs into Kinesis on kinesalite at
# ENDPOINT (sluice's gateway writes to STREAMS, comma-separated), sluice's gateway and an
# OpenTelemetry Collector taking the same calls. Each answers a
# call once its records are in the stream: the Collector's sending queue is off, so its
# exporter puts before the receiver answers. The Collector's awskinesis exporter puts one
# record per resource of a request, its OTLP protobuf uncompressed, to one stream;
# sluice's gateway routes each event to its log type's stream, in aggregated records
# compressed with zstd (its defaults, both).
scenario_otlp_kinesis() {
  local endpoint="$1" stream_list="$2" label="OTLP/gRPC logs -> gateway -> Kinesis (kinesalite)" otelcol p
  read -r -a p <<<"$(ports)"
  run_load "$label" subject "$(gateway_cmd "$work/gateway-kinesis.yaml" "${p[@]}")" \
    --transport otlp --addr "127.0.0.1:${p[1]}" --connections $((connections * 4)) \
    --kinesis-endpoint "$endpoint" --kinesis-streams "$stream_list"
  if ! otelcol=$(scripts/otelcol.sh kinesis); then
    failed+=("$label (baseline: scripts/otelcol.sh kinesis failed)")
    return
  fi
  if ! "$load" kinesis-streams --endpoint "$endpoint" --shards 4 sluice-otlp-peer; then
    failed+=("$label (baseline: stream not created)")
    return
  fi
  read -r -a p <<<"$(ports)"
  cat >"$work/otelcol-kinesis.yaml" <<EOF
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:${p[0]}"}}}
exporters:
  awskinesis:
    aws: {stream_name: sluice-otlp-peer, kinesis_endpoint: "$endpoint", region: us-east-1}
    encoding: {name: otlp_proto}
    sending_queue: {enabled: false}
service:
  telemetry: {metrics: {level: none}, logs: {level: warn}}
  pipelines:
    logs: {receivers: [otlp], exporters: [awskinesis]}
EOF
  run_load "$label" baseline \
    "env AWS_ACCESS_KEY_ID=sluice-bench AWS_SECRET_ACCESS_KEY=sluice-bench $otelcol --config $work/otelcol-kinesis.yaml" \
    --transport otlp --addr "127.0.0.1:${p[0]}" --connections $((connections * 4)) \
    --kinesis-endpoint "$endpoint" --kinesis-streams sluice-otlp-peer --kinesis-format otlp
}

scenario_dev() {
  local p data="$work/dev-data" label="sluice dev: HTTP -> embedded stream -> transform -> file sink" mode
  # The subject is the default, the durable stream with sync always (group commit);
  # the baseline the in-memory stream (stream.embedded.durable: false), whose events
  # are lost in a crash. A second subject row: sync interval.
  for mode in always interval memory; do
    {
      echo "log:"
      echo "  level: warn"
      echo "stream:"
      echo "  embedded:"
      if [[ $mode == memory ]]; then
        echo "    durable: false"
        echo "    max_bytes: 256MiB"
      else
        echo "    sync: $mode"
      fi
    } >"$work/dev-$mode.yaml"
    read -r -a p <<<"$(ports)"
    local role=subject l="$label"
    if [[ $mode == memory ]]; then role=baseline; fi
    if [[ $mode == interval ]]; then l="$label (sync interval)"; fi
    run_load "$l" "$role" \
      "$sluice dev -c $work/dev-$mode.yaml --data-dir $data --http 127.0.0.1:${p[0]} --grpc 127.0.0.1:${p[1]} --lumberjack 127.0.0.1:${p[2]}" \
      --transport http --addr "127.0.0.1:${p[0]}" --sink-dir "$data" --sink-timeout 60s
    if [[ $mode == memory ]]; then
      # The same in-memory run is the baseline of the sync interval row too.
      relabel "$last_summary" "$label (sync interval)" baseline
    fi
    rm -rf "$data"
  done
}

# record_failure LABEL ROLE FILE: a run that wrote no summary still gets a failed row.
record_failure() {
  failed+=("$1 ($2)")
  if ! [[ -s "$3" ]]; then
    printf '{"label":"%s","role":"%s","ok":false}\n' "$1" "$2" >"$3"
  fi
}

# grok_run LABEL ROLE ENGINE: one `sluice-load grok` process on the shared line file; its
# captures go to $results/captures-ENGINE.ndjson, its summary's path to $summary.
grok_run() {
  local label="$1" role="$2" engine="$3" base
  n=$((n + 1))
  base=$(printf '%02d-%s' "$n" "$role")
  log "$label ($role: $engine)"
  if ! "$load" grok --engine "$engine" --input "$work/firewall.lines" --duration "$grok_duration" \
    --label "$label" --role "$role" --captures "$results/captures-$engine.ndjson" \
    >"$results/$base.json" 2>"$results/$base.log"; then
    echo "bench.sh: $label ($role: $engine) FAILED:" >&2
    tail -5 "$results/$base.log" >&2 || true
    record_failure "$label" "$role" "$results/$base.json"
  fi
  summary="$results/$base.json"
}

# relabel SUMMARY LABEL ROLE: a copy of a summary under another scenario, so that one
# measurement serves as the subject or baseline of two rows.
relabel() {
  n=$((n + 1))
  local out
  out=$(printf '%s/%02d-%s.json' "$results" "$n" "$3")
  sed -e "s|^  \"label\": .*|  \"label\": \"$2\",|" -e "s|^  \"role\": .*|  \"role\": \"$3\",|" "$1" >"$out"
}

scenario_grok() {
  local g e
  "$load" lines --shape firewall --events 4096 --seed 1 >"$work/firewall.lines"
  local le="grok, firewall expression: sluice vs elastic/go-grok"
  local lv="grok, firewall expression: sluice vs vjeantet/grok"
  local lp="firewall sample pipeline (the whole sample) vs elastic/go-grok (its first grok alone)"
  grok_run "$le" subject sluice-grok
  g=$summary
  grok_run "$le" baseline elastic-go-grok
  e=$summary
  grok_run "$lv" baseline vjeantet-grok
  relabel "$g" "$lv" subject
  grok_run "$lp" subject pipeline
  relabel "$e" "$lp" baseline
  # Apples to apples: the libraries must take the same fields with the same values.
  for engine in elastic-go-grok vjeantet-grok; do
    if ! "$load" grok-compare "$results/captures-sluice-grok.ndjson" "$results/captures-$engine.ndjson" >&2; then
      failed+=("grok captures of sluice and $engine differ")
    fi
  done
}

# opensearch_url sets search_url: SLUICE_TEST_OPENSEARCH_URL, or a server of this run.
opensearch_url() {
  if [[ -n "$search_url" ]]; then
    return 0
  fi
  log "opensearch (scripts/opensearch.sh)"
  if ! search_url=$(scripts/opensearch.sh start); then
    return 1
  fi
  started_opensearch=1
}

# index_run LABEL ROLE CLIENT URL BULK [--null]: one `sluice-load index` process.
index_run() {
  local label="$1" role="$2" client="$3" url="$4" bulk="$5" base
  shift 5
  n=$((n + 1))
  base=$(printf '%02d-%s' "$n" "$role")
  log "$label ($role: $client)"
  if ! "$load" index --client "$client" --url "$url" --bulk-bytes "$bulk" --workers 2 --duration "$index_duration" \
    --label "$label" --role "$role" "$@" >"$results/$base.json" 2>"$results/$base.log"; then
    echo "bench.sh: $label ($role: $client) FAILED:" >&2
    tail -5 "$results/$base.log" >&2 || true
    record_failure "$label" "$role" "$results/$base.json"
  fi
}

scenario_search() {
  local bulk port null_pid
  if opensearch_url; then
    for bulk in 1MiB 5MiB; do
      index_run "sink -> OpenSearch _bulk, $bulk requests, 2 workers" subject sluice "$search_url" "$bulk"
      index_run "sink -> OpenSearch _bulk, $bulk requests, 2 workers" baseline esutil "$search_url" "$bulk"
    done
  else
    failed+=("sink -> OpenSearch (no OpenSearch: scripts/opensearch.sh start failed)")
  fi
  port=$("$load" free-ports 1)
  "$load" null-bulk --addr "127.0.0.1:$port" 2>"$results/null-bulk.log" &
  null_pid=$!
  bg_pids+=("$null_pid")
  for bulk in 1MiB 5MiB; do
    index_run "sink -> null _bulk endpoint, $bulk requests, 2 workers" subject sluice "http://127.0.0.1:$port" "$bulk" --null
    index_run "sink -> null _bulk endpoint, $bulk requests, 2 workers" baseline esutil "http://127.0.0.1:$port" "$bulk" --null
  done
  kill "$null_pid" 2>/dev/null || true
  wait "$null_pid" 2>/dev/null || true
}

# chain_config FILE RUN KINESIS DYNAMODB: gateway and transform configuration of one whole
# chain run; every stream, the lease table and the data stream namespace are the run's own.
chain_config() {
  local file="$1" run="$2" kinesis="$3" dynamodb="$4"
  cat >"$file" <<EOF
http:
  addr: 127.0.0.1:0
gateway:
  auth:
    disabled: true
  routing:
    streams:
      firewall: $run-firewall
      ids: $run-ids
      waf: $run-waf
    default_stream: $run-default
    # sluice-load cycles a pool of events, so a long run sends each again: by
    # Filebeat's coordinates those are resends, indexed once. The chain counts every
    # send in the engine, so ids come from stream positions here.
    id: stream_position
stream:
  kind: kinesis
  kinesis:
    endpoint: $kinesis
    region: us-east-1
    credentials:
      access_key_id: sluice-bench
      secret_access_key: sluice-bench
    shard:
      bytes_per_second: 1GiB
      records_per_second: 1000000
  consumer:
    # Leases taken within a second or two of the start, not after the default 5 s.
    renew_period: 1s
    failover_time: 3s
    balance_period: 1s
  leases:
    store: dynamodb
    dynamodb:
      table: $run-leases
      region: us-east-1
      endpoint: $dynamodb
      credentials:
        access_key_id: sluice-bench
        secret_access_key: sluice-bench
sample_pipelines: true
sink:
  kind: search
  dead_letters:
    kind: kinesis
    stream: $run-dead-letters
  search:
    addresses: [$search_url]
    namespace: ${run//-/}
    lifecycle:
      mode: "off"
shutdown:
  drain_delay: 0s
log:
  level: warn
EOF
}

# chain_run LABEL KINESIS DYNAMODB LOAD_ARGS...: one whole chain run: its streams, a
# `sluice transform` in the background (its CPU added to the gateway's), the gateway as
# the subject of sluice-load, which waits until OpenSearch counts every acknowledged
# event; then the transform stops and the run's data stream is deleted.
chain_run() {
  local label="$1" kinesis="$2" dynamodb="$3" run p tp tpid cfg
  shift 3
  chain_n=$((chain_n + 1))
  run="benchchain$(date +%s)x$chain_n"
  cfg="$work/$run.yaml"
  chain_config "$cfg" "$run" "$kinesis" "$dynamodb"
  if ! "$load" kinesis-streams --endpoint "$kinesis" --shards 4 "$run-firewall" "$run-ids" "$run-waf" "$run-default" "$run-dead-letters"; then
    failed+=("$label (streams not created)")
    return
  fi
  log "$label: sluice transform"
  read -r -a tp <<<"$(ports)"
  local tprofile=""
  if [[ $profile == 1 ]]; then
    tprofile="$results/profiles/$run-transform"
  fi
  SLUICE_PROFILE_DIR="$tprofile" SLUICE_HTTP_ADDR="127.0.0.1:${tp[0]}" "$sluice" transform -c "$cfg" >"$results/$run-transform.log" 2>&1 &
  tpid=$!
  bg_pids+=("$tpid")
  sleep 3 # leases taken (balance_period 1s)
  if ! kill -0 "$tpid" 2>/dev/null; then
    failed+=("$label (sluice transform did not start)")
    echo "bench.sh: sluice transform did not start:" >&2
    tail -20 "$results/$run-transform.log" >&2 || true
    return
  fi
  read -r -a p <<<"$(ports)"
  run_load "$label" subject "$(gateway_cmd "$cfg" "${p[@]}")" \
    --transport lumberjack --addr "127.0.0.1:${p[2]}" \
    --search-url "$search_url" --search-index "logs-*-${run//-/}" --also-pid "$tpid" --sink-timeout 5m \
    --hop-metrics "http://127.0.0.1:${p[0]}/metrics" --hop-metrics "http://127.0.0.1:${tp[0]}/metrics" "$@"
  kill "$tpid" 2>/dev/null || true
  if ! wait "$tpid"; then
    failed+=("$label (sluice transform did not stop cleanly)")
    tail -20 "$results/$run-transform.log" >&2 || true
  fi
  "$load" search-cleanup --url "$search_url" --namespace "${run//-/}" || true
}

scenario_chain() {
  local kinesis events=100000 rate=2000
  if [[ $short == 1 ]]; then
    events=10000
    rate=1000
  fi
  if ! opensearch_url; then
    failed+=("whole chain (no OpenSearch: scripts/opensearch.sh start failed)")
    return
  fi
  if [[ -z "$dynamodb_endpoint" ]]; then
    log "dynalite (scripts/dynalite.sh)"
    if ! dynamodb_endpoint=$(scripts/dynalite.sh start); then
      failed+=("whole chain (dynalite did not start)")
      return
    fi
    started_dynalite=1
  fi
  log "kinesalite (a fresh instance for the whole chain)"
  if ! kinesis=$(scripts/kinesis.sh start); then
    failed+=("whole chain (kinesalite did not start)")
    return
  fi
  chain_run "whole chain: lumberjack -> gateway -> Kinesis -> transform -> OpenSearch, $events events open loop" \
    "$kinesis" "$dynamodb_endpoint" --events "$events"
  chain_run "whole chain: lumberjack -> gateway -> Kinesis -> transform -> OpenSearch, $rate events/s" \
    "$kinesis" "$dynamodb_endpoint" --rate "$rate" --batch 200 --connections 1
  # A trickle, as a small site sends: each batch is alone in the stream for a while,
  # so the waits between reads (the consumer's idle_wait) show in the latency.
  chain_run "whole chain: lumberjack -> gateway -> Kinesis -> transform -> OpenSearch, 20 events/s" \
    "$kinesis" "$dynamodb_endpoint" --rate 20 --batch 1 --connections 1
  scripts/kinesis.sh stop
}

for s in "${scenarios[@]}"; do
  if [[ -z "$only" || ",$only," == *",$s,"* ]]; then
    "scenario_$s"
  fi
done

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
} | tee "$results/table.md"

if [[ ${#failed[@]} -gt 0 ]]; then
  echo >&2
  echo "bench.sh: ${#failed[@]} run(s) failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
