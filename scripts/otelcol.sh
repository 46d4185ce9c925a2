#!/usr/bin/env bash
# An OpenTelemetry Collector built with the Collector builder (ocb) from the Go module
# proxy, the real OTLP client and trace backend of the tests: a filelog receiver reading
# a file and the otlp / otlphttp exporters sending its logs to sluice (cmd/sluice:
# TestCollectorSendsLogs); the otlp receiver taking sluice's spans and the debug
# exporter printing them (TestTraceAcrossTiers); and the baseline of scripts/bench.sh's
# OTLP scenario (its otlp receiver into the nop exporter). Spans go to the debug
# exporter, not contrib's file exporter: a module that one needs is not served by the
# module proxy here. Built once into .cache/otelcol (a few minutes on 2 cores; the modules land in the Go
# module cache).
#
#   scripts/otelcol.sh install   builds it if needed and prints
#                                  export SLUICE_TEST_OTELCOL=<the binary>
#   scripts/otelcol.sh env       the same export (fails when not built)
set -euo pipefail
cd "$(dirname "$0")/.."

core=v0.165.0
contrib=v0.165.1
dir="$PWD/.cache/otelcol"
bin="$dir/otelcol-sluice"
stamp="$core $contrib nop"

log() { printf 'otelcol.sh: %s\n' "$*" >&2; }
built() { [[ -x "$bin" && "$(cat "$dir/.version" 2>/dev/null)" == "$stamp" ]]; }

build() {
  mkdir -p "$dir"
  log "building the Collector builder $core"
  GOBIN="$dir/bin" go install "go.opentelemetry.io/collector/cmd/builder@$core" >&2
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
  rm -rf "$dir/build"
  "$dir/bin/builder" --config "$dir/manifest.yaml" >&2
  cp "$dir/build/otelcol-sluice" "$bin"
  echo "$stamp" >"$dir/.version"
}

case "${1:-}" in
install)
  built || build
  echo "export SLUICE_TEST_OTELCOL=$bin"
  ;;
env)
  built || { log "not built: run scripts/otelcol.sh install"; exit 1; }
  echo "export SLUICE_TEST_OTELCOL=$bin"
  ;;
*)
  echo "usage: scripts/otelcol.sh install|env" >&2
  exit 2
  ;;
esac
