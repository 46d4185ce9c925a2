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

kinesis_version=v0.130.0
kinesis_dir="$PWD/.cache/otelcol-kinesis"
kinesis_bin="$kinesis_dir/otelcol-kinesis"

log() { printf 'otelcol.sh: %s\n' "$*" >&2; }

# manifest: the first Collector's ocb manifest (paths relative to its directory, where
# the builder runs).
manifest() {
  cat <<MANIFEST
dist:
  name: otelcol-sluice
  description: OpenTelemetry Collector for sluice's tests
  output_path: build
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
}

# manifest_kinesis: the second Collector's.
manifest_kinesis() {
  cat <<MANIFEST
dist:
  name: otelcol-kinesis
  description: OpenTelemetry Collector, the peer of sluice's OTLP -> Kinesis benchmark
  output_path: build
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $kinesis_version
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/awskinesisexporter $kinesis_version
MANIFEST
}

# built DIR NAME MANIFEST: whether DIR/NAME is there, built from MANIFEST (the one
# DIR/manifest.yaml held for the last build), so that a changed manifest rebuilds.
built() { [[ -x "$1/$2" && "$(cat "$1/manifest.yaml" 2>/dev/null)" == "$3" ]]; }

# build DIR VERSION NAME MANIFEST: runs the builder of VERSION on MANIFEST and puts the
# binary at DIR/NAME; the manifest is written last, as the mark of a finished build.
build() {
  local d="$1" version="$2" name="$3" manifest="$4"
  mkdir -p "$d"
  rm -f "$d/manifest.yaml"
  log "building the Collector builder $version"
  GOBIN="$d/bin" go install "go.opentelemetry.io/collector/cmd/builder@$version" >&2
  rm -rf "$d/build"
  printf '%s\n' "$manifest" >"$d/manifest.new.yaml"
  log "building the Collector $name ($version) into $d/$name"
  (cd "$d" && bin/builder --config manifest.new.yaml) >&2
  cp "$d/build/$name" "$d/$name"
  mv -f "$d/manifest.new.yaml" "$d/manifest.yaml"
}

case "${1:-}" in
install)
  m=$(manifest)
  built "$dir" otelcol-sluice "$m" || build "$dir" "$core" otelcol-sluice "$m"
  echo "export SLUICE_TEST_OTELCOL=$bin"
  ;;
env)
  built "$dir" otelcol-sluice "$(manifest)" || { log "not built: run scripts/otelcol.sh install"; exit 1; }
  echo "export SLUICE_TEST_OTELCOL=$bin"
  ;;
kinesis)
  m=$(manifest_kinesis)
  built "$kinesis_dir" otelcol-kinesis "$m" || build "$kinesis_dir" "$kinesis_version" otelcol-kinesis "$m"
  echo "$kinesis_bin"
  ;;
*)
  echo "usage: scripts/otelcol.sh install|env|kinesis" >&2
  exit 2
  ;;
esac
