#!/usr/bin/env bash
# The Python of the stream format's reference reader (scripts/stream-format-ref.py):
# a venv under .cache/pyref with zstandard and aws-kinesis-agg (the KPL de-aggregator
# AWS publishes) from PyPI, pinned below, so that a test can check that what sluice's
# producer writes reads back with third-party tools (stream/kinesis: TestThirdPartyReader).
#
#   scripts/pyref.sh install   installs the venv if needed and prints
#                                export SLUICE_TEST_PYREF_PYTHON=<its python>
#   scripts/pyref.sh env       the same export (fails when not installed)
set -euo pipefail
cd "$(dirname "$0")/.."

pins=(zstandard==0.25.0 aws-kinesis-agg==1.2.3 protobuf==7.36.2 six==1.17.0)
venv="$PWD/.cache/pyref/venv"
stamp="${pins[*]}"

log() { printf 'pyref.sh: %s\n' "$*" >&2; }

installed() { [[ -x "$venv/bin/python" && "$(cat "$venv/.pins" 2>/dev/null)" == "$stamp" ]]; }

case "${1:-}" in
install)
  if ! installed; then
    log "installing ${pins[*]} into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" >&2
    echo "$stamp" >"$venv/.pins"
  fi
  echo "export SLUICE_TEST_PYREF_PYTHON=$venv/bin/python"
  ;;
env)
  installed || { log "not installed: run scripts/pyref.sh install"; exit 1; }
  echo "export SLUICE_TEST_PYREF_PYTHON=$venv/bin/python"
  ;;
*)
  echo "usage: scripts/pyref.sh install|env" >&2
  exit 2
  ;;
esac
