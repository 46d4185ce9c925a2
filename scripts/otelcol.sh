#!/usr/bin/env bash
# OpenTelemetry Collectors built with the Collector builder (ocb) from the Go module
# proxy. The first is the real OTLP client and trace backend of the tests: a filelog
# receiver reading a file and the otlp / otlphttp exporters sending its logs to sluice
# (cmd/sluice: TestCollectorSendsLogs); the otlp receiver taking sluice's spans and the
# debug exporter printing them (TestTraceAcrossTiers); and the baseline of
# scripts/bench.sh's OTLP scenario (its otlp receiver into the nop exporter). Spans go to
# the debug exporter, not contrib's file exporter: a module that one needs is not served
# by the module proxy here. The second is the peer of bench.sh's OTLP -> Kinesis
# scenario: the otlp receiver and contrib's awskinesis exporter, at v0.130.0, the newest
# release whose awskinesisexporter the module proxy here serves (v0.165.x: 403). Each is
# built once into .cache/ (a few minutes on 2 cores; the modules land in the Go module
# cache).
#
#   scripts/otelcol.sh install   builds the first if needed and prints
#                                  export SLUICE_TEST_OTELCOL=<the binary>
#   scripts/otelcol.sh env       the same export (fails when not built)
#   scripts/otelcol.sh kinesis   builds the second if needed and prints its path
set -euo pipefail
cd "$(dirname "$0")/.."

core=v0.165.0
contrib=v0.165.1
dir="$PWD/.cache/otelcol"
bin="$dir/otelcol-sluice"
stamp="$core $contrib nop"

kinesis_version=v0.130.0
kinesis_dir="$PWD/.cache/otelcol-kinesis"
kinesis_bin="$kinesis_dir/otelcol-kinesis"

log() { printf 'otelcol.sh: %s\n' "$*" >&2; }
# built DIR BIN STAMP: whether BIN is there, built from what STAMP names.
built() { [[ -x "$2" && "$(cat "$1/.version" 2>/dev/null)" == "$3" ]]; }

# ocb DIR VERSION NAME: runs the builder of VERSION on DIR/manifest.yaml and puts the
# binary at DIR/NAME.
ocb() {
  local d="$1" version="$2" name="$3"
  log "building the Collector builder $version"
  GOBIN="$d/bin" go install "go.opentelemetry.io/collector/cmd/builder@$version" >&2
  rm -rf "$d/build"
  "$d/bin/builder" --config "$d/manifest.yaml" >&2
  cp "$d/build/$name" "$d/$name"
}

build() {
  mkdir -p "$dir"
  cat >"$dir/manifest.yaml" <<MANIFEST
dist:
  name: otelcol-sluice
  description: OpenTelemetry Collector for sluice's tests
  output_path: $dir/build
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $core
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver $contrib
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlpexporter $core
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $core
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $core
  - gomod: go.opentelemetry.io/collector/exporter/nopexporter $core
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor $core
MANIFEST
  log "building the Collector ($core, filelog $contrib) into $bin"
  ocb "$dir" "$core" otelcol-sluice
  echo "$stamp" >"$dir/.version"
}

build_kinesis() {
  mkdir -p "$kinesis_dir"
  cat >"$kinesis_dir/manifest.yaml" <<MANIFEST
dist:
  name: otelcol-kinesis
  description: OpenTelemetry Collector, the peer of sluice's OTLP -> Kinesis benchmark
  output_path: $kinesis_dir/build
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $kinesis_version
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/awskinesisexporter $kinesis_version
MANIFEST
  log "building the Collector ($kinesis_version, awskinesis exporter) into $kinesis_bin"
  ocb "$kinesis_dir" "$kinesis_version" otelcol-kinesis
  echo "$kinesis_version" >"$kinesis_dir/.version"
}

case "${1:-}" in
install)
  built "$dir" "$bin" "$stamp" || build
  echo "export SLUICE_TEST_OTELCOL=$bin"
  ;;
env)
  built "$dir" "$bin" "$stamp" || { log "not built: run scripts/otelcol.sh install"; exit 1; }
  echo "export SLUICE_TEST_OTELCOL=$bin"
  ;;
kinesis)
  built "$kinesis_dir" "$kinesis_bin" "$kinesis_version" || build_kinesis
  echo "$kinesis_bin"
  ;;
*)
  echo "usage: scripts/otelcol.sh install|env|kinesis" >&2
  exit 2
  ;;
esac
