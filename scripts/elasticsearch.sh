#!/usr/bin/env bash
# An Elasticsearch server for the search sink's tests: the integ-test-zip distribution
# from Maven Central, single node, bound to 127.0.0.1 only. That distribution holds the
# server and, of X-Pack, only core and security (turned off here): no ILM, no data
# streams, no GET / (the tests use the daily index layout on it).
#
#   scripts/elasticsearch.sh start   fetches Elasticsearch into .cache/elasticsearch if
#                                    needed, starts it as an unprivileged user on a free
#                                    loopback port, waits for yellow or green cluster
#                                    health and prints its endpoint
#                                    (http://127.0.0.1:PORT) on stdout
#   scripts/elasticsearch.sh stop    stops the server that start started, by its PID
#   scripts/elasticsearch.sh clean   stop, then remove the engine's files (data included)
#
# The mechanics, shared with scripts/opensearch.sh, are in scripts/search-server.sh.
#
# Runtime files (PID, config, data, logs) go to $SLUICE_ELASTICSEARCH_RUN_DIR,
# .cache/elasticsearch/run by default; give each concurrent run its own directory (when
# the engine's user cannot enter it, the engine's files go to a directory of their own,
# as for scripts/opensearch.sh). stop keeps the data directory and start reuses it (a
# restart of the same engine); clean removes it. With
# SLUICE_ELASTICSEARCH_PORT set, start listens on that HTTP port and fails if it is
# taken. As root, the engine runs as the system user sluice-search (created if needed).
# Elasticsearch 8.19 runs on the installed Java 17: JAVA_HOME is taken as set, or the
# first Java 17 under /usr/lib/jvm. Tests read the endpoint from
# SLUICE_TEST_ELASTICSEARCH_URL (scripts/test.sh exports it).
set -euo pipefail
cd "$(dirname "$0")/.."

name=elasticsearch
version=8.19.21
group=org.elasticsearch.distribution.integ-test-zip
run="${SLUICE_ELASTICSEARCH_RUN_DIR:-$PWD/.cache/elasticsearch/run}"
port="${SLUICE_ELASTICSEARCH_PORT:-}"
port_var=SLUICE_ELASTICSEARCH_PORT
env_prefix=ES
java_var=ES_JAVA_HOME
heap="-Xms512m -Xmx512m"
# jvm.options names gc.log and hs_err_pid%p.log relative to the working directory and
# leaves the heap dump path at its default, the working directory.
# @ENGINE_DIR@ is the directory of the engine's files (the run directory, or its own).
jvm_sed=(-e "s|file=gc.log|file=@ENGINE_DIR@/logs/gc.log|" -e "s|ErrorFile=hs_err|ErrorFile=@ENGINE_DIR@/logs/hs_err|"
  -e "\$a -XX:HeapDumpPath=@ENGINE_DIR@/data")
# Without this the first start turns security on (TLS, passwords) and rewrites
# elasticsearch.yml to say so.
settings=(xpack.security.enabled=false)

# shellcheck source=scripts/search-server.sh
source scripts/search-server.sh
search_server_main "$@"
