#!/usr/bin/env bash
# A Kinesis-compatible server for tests: kinesalite (npm, pinned), in memory, bound to
# 127.0.0.1 only.
#
#   scripts/kinesis.sh start   installs kinesalite into .cache/kinesalite if needed,
#                              starts it on a free loopback port in the background and
#                              prints its endpoint (http://127.0.0.1:PORT) on stdout
#   scripts/kinesis.sh stop    stops the server that start started, by its PID
#
# Runtime files (PID, port, log) go to $SLUICE_KINESIS_RUN_DIR, .cache/kinesalite/run by
# default; give each concurrent run its own directory so that one run never stops
# another's server. Tests read the endpoint from SLUICE_TEST_KINESIS_ENDPOINT
# (scripts/test.sh exports it). The mechanics are in scripts/npm-server.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

name=kinesalite
version=3.3.3
run="${SLUICE_KINESIS_RUN_DIR:-$PWD/.cache/kinesalite/run}"
# leveldown (optional) is only for on-disk stores; the tests keep streams in memory.
npm_opts=(--omit=optional)
# Streams become ACTIVE (and reshard) in a few milliseconds instead of 500 ms, and the
# account shard limit is lifted so that every test can make its own streams.
cli_opts=(--createStreamMs 10 --deleteStreamMs 10 --updateStreamMs 10 --shardLimit 100000)

# shellcheck source=scripts/npm-server.sh
source scripts/npm-server.sh
npm_server_main "$@"
