#!/usr/bin/env bash
# A DynamoDB-compatible server for the lease table tests: dynalite (npm, pinned), in
# memory, bound to 127.0.0.1 only.
#
#   scripts/dynalite.sh start   installs dynalite into .cache/dynalite if needed, starts
#                               it on a free loopback port in the background and prints
#                               its endpoint (http://127.0.0.1:PORT) on stdout
#   scripts/dynalite.sh stop    stops the server that start started, by its PID
#
# Runtime files (PID, port, log) go to $SLUICE_DYNALITE_RUN_DIR, .cache/dynalite/run by
# default; give each concurrent run its own directory so that one run never stops
# another's server. Tests read the endpoint from SLUICE_TEST_DYNAMODB_ENDPOINT
# (scripts/test.sh exports it). The mechanics are in scripts/npm-server.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

name=dynalite
version=4.0.0
run="${SLUICE_DYNALITE_RUN_DIR:-$PWD/.cache/dynalite/run}"
npm_opts=()
# Tables become ACTIVE at once instead of after 500 ms; no --path: data in memory.
cli_opts=(--createTableMs 0 --deleteTableMs 0 --updateTableMs 0)

# shellcheck source=scripts/npm-server.sh
source scripts/npm-server.sh
npm_server_main "$@"
