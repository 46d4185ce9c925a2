#!/usr/bin/env bash
# The test servers of scripts/test.sh, started once for a developer loop, so that one
# package's tests run against real servers in seconds:
#
#   scripts/servers.sh up               starts kinesalite, dynalite, moto (S3), Redis and PostgreSQL,
#                                       OpenSearch and Elasticsearch on 127.0.0.1,
#                                       installs rsyslog (each test runs its own) and
#                                       prints their exports
#   eval "$(scripts/servers.sh env)"    then, for example:
#   go test ./stream/kinesis/ -run TestReader
#   scripts/servers.sh down             stops them and removes their files
#
# `up NAME...` starts only those (kinesis, dynalite, s3, lookupdb, opensearch,
# elasticsearch, rsyslog). Runtime directories are .cache/servers/NAME; the exports are
# kept in .cache/servers/env. scripts/test.sh starts its own servers in fresh
# directories and never touches these.
set -euo pipefail
cd "$(dirname "$0")/.."

root="$PWD/.cache/servers"
envfile="$root/env"

# name, the variable holding its run directory, the variable its start output goes to
# (empty: it prints export lines itself).
servers=(
  "kinesis SLUICE_KINESIS_RUN_DIR SLUICE_TEST_KINESIS_ENDPOINT"
  "dynalite SLUICE_DYNALITE_RUN_DIR SLUICE_TEST_DYNAMODB_ENDPOINT"
  "s3 SLUICE_S3_RUN_DIR SLUICE_TEST_S3_ENDPOINT"
  "lookupdb SLUICE_LOOKUPDB_RUN_DIR"
  "opensearch SLUICE_OPENSEARCH_RUN_DIR SLUICE_TEST_OPENSEARCH_URL"
  "elasticsearch SLUICE_ELASTICSEARCH_RUN_DIR SLUICE_TEST_ELASTICSEARCH_URL"
  "rsyslog SLUICE_RSYSLOG_RUN_DIR"
)

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

wanted() { # wanted NAME ARGS...: whether NAME is among ARGS, or ARGS is empty
  local name=$1
  shift
  [[ $# -eq 0 ]] && return 0
  local a
  for a in "$@"; do [[ $a == "$name" ]] && return 0; done
  return 1
}

up() {
  if [[ -s "$envfile" ]]; then
    echo "servers.sh: already up (scripts/servers.sh down first to start again):" >&2
    cat "$envfile"
    return
  fi
  local known=" kinesis dynalite s3 lookupdb opensearch elasticsearch rsyslog " a
  for a in "$@"; do
    [[ $known == *" $a "* ]] || { echo "servers.sh: no server $a (one of:$known)" >&2; exit 2; }
  done
  mkdir -p "$root"
  local s name run_var out_var started
  : >"$envfile.tmp" # a run that was killed may have left one
  for s in "${servers[@]}"; do
    read -r name run_var out_var <<<"$s"
    wanted "$name" "$@" || continue
    mkdir -p "$root/$name"
    export "$run_var=$root/$name"
    echo "export $run_var=$root/$name" >>"$envfile.tmp"
    if ! started=$("scripts/$name.sh" start); then
      echo "servers.sh: $name did not start; stopping the others" >&2
      mv "$envfile.tmp" "$envfile"
      down
      exit 1
    fi
    if [[ -n $out_var ]]; then
      echo "export $out_var=$started" >>"$envfile.tmp"
    else
      printf '%s\n' "$started" >>"$envfile.tmp"
    fi
  done
  mv "$envfile.tmp" "$envfile"
  cat "$envfile"
}

down() {
  local s name run_var out_var
  for s in "${servers[@]}"; do
    read -r name run_var out_var <<<"$s"
    [[ -d "$root/$name" ]] || continue
    export "$run_var=$root/$name"
    "scripts/$name.sh" clean || echo "servers.sh: $name: clean failed" >&2
    rm -rf "${root:?}/$name"
  done
  rm -f "$envfile" "$envfile.tmp"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  env)
    [[ -s "$envfile" ]] || { echo "servers.sh: not up (scripts/servers.sh up)" >&2; exit 1; }
    cat "$envfile"
    ;;
  down) down ;;
  *) usage ;;
esac
