#!/usr/bin/env bash
# An OpenSearch server for the search sink's tests: the integ-test-zip distribution
# (no security plugin) from Maven Central, single node, bound to 127.0.0.1 only.
#
#   scripts/opensearch.sh start   fetches OpenSearch into .cache/opensearch if needed,
#                                 starts it as an unprivileged user on a free loopback
#                                 port, waits for yellow or green cluster health and
#                                 prints its endpoint (http://127.0.0.1:PORT) on stdout
#   scripts/opensearch.sh stop    stops the server that start started, by its PID
#   scripts/opensearch.sh clean   stop, then remove the engine's files (data included)
#
# The mechanics, shared with scripts/elasticsearch.sh, are in scripts/search-server.sh.
#
# Runtime files (PID, config, data, logs) go to $SLUICE_OPENSEARCH_RUN_DIR,
# .cache/opensearch/run by default; give each concurrent run its own directory. When
# the engine's user cannot enter it (a run directory inside a 0700 mktemp directory,
# say), the engine's files go to a directory of their own under $TMPDIR, /tmp or
# /var/tmp instead (scripts/enterable.sh), named in the run directory's engine-dir.
# stop keeps the data directory and start reuses it, so a stop and a start are a
# restart of the same engine with its indices; `clean` stops the engine and removes its
# files (remove the run directory too for an empty one). With
# SLUICE_OPENSEARCH_PORT set, start listens on that HTTP port and fails if it is taken,
# so that a restarted engine comes back where its clients expect it. The
# engine refuses to run as root, so start creates the system user sluice-search (when
# run as root) and starts the engine as that user with runuser. It needs Java 17
# (OpenSearch 2.19 runs on 11 to 21; 3.x would need 21): JAVA_HOME is taken as set, or
# the first Java 17 under /usr/lib/jvm. Tests read the endpoint from
# SLUICE_TEST_OPENSEARCH_URL (scripts/test.sh exports it).
set -euo pipefail
cd "$(dirname "$0")/.."

name=opensearch
version=2.19.6
group=org.opensearch.distribution.integ-test-zip
run="${SLUICE_OPENSEARCH_RUN_DIR:-$PWD/.cache/opensearch/run}"
port="${SLUICE_OPENSEARCH_PORT:-}"
port_var=SLUICE_OPENSEARCH_PORT
env_prefix=OPENSEARCH
java_var=JAVA_HOME
heap="-Xms512m -Xmx1g"
# jvm.options names logs/gc.log, logs/hs_err_pid%p.log and HeapDumpPath=data.
# @ENGINE_DIR@ is the directory of the engine's files (the run directory, or its own).
jvm_sed=(-e "s|logs/|@ENGINE_DIR@/logs/|g" -e "s|HeapDumpPath=data|HeapDumpPath=@ENGINE_DIR@/data|")
settings=()

# shellcheck source=scripts/search-server.sh
source scripts/search-server.sh
search_server_main "$@"
