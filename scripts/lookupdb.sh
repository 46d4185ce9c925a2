#!/usr/bin/env bash
# The lookup databases of the enrichment tests (transform/enrich): Redis and PostgreSQL
# from Debian's packages, bound to 127.0.0.1 only, with their data in a temporary
# directory.
#
#   eval "$(scripts/lookupdb.sh start)"   installs redis-server and postgresql if missing
#                                         (apt-get update once, then apt-get install),
#                                         starts both, waits until they answer and prints
#                                         on stdout:
#                                           export SLUICE_TEST_REDIS_ADDR=127.0.0.1:PORT
#                                           export SLUICE_TEST_POSTGRES_DSN=postgres://...
#   scripts/lookupdb.sh stop              stops both (Redis by PID, PostgreSQL with
#                                         pg_ctl) and removes their data (clean: the same)
#   scripts/lookupdb.sh env               prints the exports of running servers again
#
# start is idempotent: when the servers of this run directory are already up, it only
# prints their exports; stale state (a server that died) is cleaned up and started
# anew. Ports: 16379 (Redis) and 15432 (PostgreSQL) unless SLUICE_LOOKUPDB_REDIS_PORT or
# SLUICE_LOOKUPDB_POSTGRES_PORT say otherwise; a port already taken by something else
# moves the server to the next free port. Logs go to stderr. Runtime files (PIDs, ports,
# logs, the path of the data directory) go to $SLUICE_LOOKUPDB_RUN_DIR,
# .cache/lookupdb/run by default: give concurrent runs their own directory.
#
# PostgreSQL refuses to run as root: as root, the script creates the system user
# sluice-lookupdb if missing and runs initdb and pg_ctl as that user with runuser. The
# cluster trusts connections from 127.0.0.1 (a throwaway test server on loopback only).
# The data directory is made under the first of $TMPDIR, /tmp and /var/tmp that this
# user can enter (scripts/enterable.sh), so a $TMPDIR closed to other users works too.
#
# From scripts/test.sh (an assignment, not eval "$(...)" directly, so that set -e stops
# the run when start fails):
#   export SLUICE_LOOKUPDB_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-lookupdb-run.XXXXXX")
#   trap 'scripts/lookupdb.sh stop; rm -rf "$SLUICE_LOOKUPDB_RUN_DIR"' EXIT
#   lookupdb_env=$(scripts/lookupdb.sh start)
#   eval "$lookupdb_env"
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/enterable.sh
source scripts/enterable.sh

run="${SLUICE_LOOKUPDB_RUN_DIR:-$PWD/.cache/lookupdb/run}"
redis_port_base="${SLUICE_LOOKUPDB_REDIS_PORT:-16379}"
pg_port_base="${SLUICE_LOOKUPDB_POSTGRES_PORT:-15432}"
pg_user=sluice-lookupdb
pg_db=sluice_test

log() { printf 'lookupdb.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

# pg_bin prints the bin directory of the newest installed PostgreSQL server, if any.
pg_bin() {
  local d
  # shellcheck disable=SC2012 # version-named directories: ls and sort -V suffice
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
    echo "$d"
  fi
}

redis_bin() { command -v redis-server || { [[ -x /usr/bin/redis-server ]] && echo /usr/bin/redis-server; } || true; }

install() {
  local want=()
  [[ -n "$(redis_bin)" ]] || want+=(redis-server)
  [[ -n "$(pg_bin)" ]] || want+=(postgresql)
  command -v redis-cli >/dev/null || [[ " ${want[*]} " == *" redis-server "* ]] || want+=(redis-tools)
  if [[ ${#want[@]} -eq 0 ]]; then
    return
  fi
  [[ $(id -u) -eq 0 ]] || die "missing ${want[*]}; run as root to install them, or install them (apt-get install ${want[*]})"
  command -v apt-get >/dev/null || die "missing ${want[*]} and no apt-get to install them"
  log "installing ${want[*]} (Debian packages)"
  # Keep the packages' own services (Redis on 6379, the main PostgreSQL cluster) from
  # starting during installation: the tests run their own servers.
  local policy=/usr/sbin/policy-rc.d added=""
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
  } || rc=$?
  [[ -z "$added" ]] || rm -f "$policy"
  [[ $rc -eq 0 ]] || die "apt-get install ${want[*]} failed (exit $rc)"
  [[ -n "$(redis_bin)" ]] || die "redis-server is still missing after installation"
  [[ -n "$(pg_bin)" ]] || die "the PostgreSQL server is still missing after installation"
}

# in_use reports whether something accepts connections on 127.0.0.1:$1.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints the first port from $1 on that nothing listens on.
free_port() {
  local p=$1
  while in_use "$p"; do
    p=$((p + 1))
    ((p < $1 + 100)) || die "no free port in $1..$((p - 1))"
  done
  echo "$p"
}

# alive reports whether the process of a PID file runs (a zombie, which nobody reaped
# yet, does not).
alive() {
  [[ -f "$1" ]] || return 1
  local pid state
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ "$state" != Z ]]
}

# redis_ping reports whether Redis answers PING with PONG on 127.0.0.1:$1.
redis_ping() {
  local answer
  answer=$( (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf 'PING\r\n' >&3
    read -r -t 2 a <&3 && echo "$a"
  ) 2>/dev/null || true)
  [[ "$answer" == +PONG* ]]
}

# as_pg runs a command as the PostgreSQL user (as root) or as oneself.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$pg_user" -- "$@"
  else
    "$@"
  fi
}

print_env() {
  echo "export SLUICE_TEST_REDIS_ADDR=127.0.0.1:$(cat "$run/redis.port")"
  echo "export SLUICE_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:$(cat "$run/pg.port")/$pg_db?sslmode=disable'"
}

pg_alive() {
  [[ -f "$run/datadir" ]] || return 1
  local bin
  bin=$(pg_bin)
  [[ -n "$bin" ]] && as_pg "$bin/pg_ctl" -D "$(cat "$run/datadir")/pg" status >/dev/null 2>&1
}

start_redis() {
  local dir=$1 port bin
  bin=$(redis_bin)
  port=$(free_port "$redis_port_base")
  mkdir -p "$dir/redis"
  # No persistence: the data of a test run is thrown away with it.
  nohup "$bin" --bind 127.0.0.1 --port "$port" --protected-mode yes --dir "$dir/redis" \
    --save '' --appendonly no --daemonize no --logfile '' \
    >"$run/redis.log" 2>&1 </dev/null &
  echo $! >"$run/redis.pid"
  echo "$port" >"$run/redis.port"
  for _ in $(seq 1 100); do
    if redis_ping "$port"; then
      log "redis listening on 127.0.0.1:$port (PID $(cat "$run/redis.pid"), log $run/redis.log)"
      return
    fi
    alive "$run/redis.pid" || break
    sleep 0.1
  done
  tail -5 "$run/redis.log" >&2 || true
  die "redis did not start on 127.0.0.1:$port"
}

start_pg() {
  local dir=$1 port bin
  bin=$(pg_bin)
  port=$(free_port "$pg_port_base")
  if [[ $(id -u) -eq 0 ]]; then
    chown "$pg_user" "$dir"
  fi
  as_pg mkdir -p "$dir/pg" "$dir/pgsock"
  as_pg "$bin/initdb" -D "$dir/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$run/initdb.log" 2>&1 || {
    tail -20 "$run/initdb.log" >&2
    die "initdb failed"
  }
  echo "$port" >"$run/pg.port"
  # The unix socket goes to the data's own directory: /var/run/postgresql may not exist
  # or not be writable. fsync off: a test server's data is thrown away anyway.
  as_pg "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pgsock -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >&2 || {
    tail -20 "$dir/pg.log" >&2 || true
    die "postgresql did not start on 127.0.0.1:$port"
  }
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$pg_db" >&2 ||
    die "createdb $pg_db failed"
  log "postgresql listening on 127.0.0.1:$port (data $dir/pg, log $dir/pg.log)"
}

start() {
  install
  mkdir -p "$run"
  if [[ -f "$run/datadir" && -f "$run/redis.port" ]] && alive "$run/redis.pid" &&
    redis_ping "$(cat "$run/redis.port")" && pg_alive; then
    log "already running (data $(cat "$run/datadir"))"
    print_env
    return
  fi
  if [[ -f "$run/datadir" || -f "$run/redis.pid" ]]; then
    log "cleaning up the state of an earlier run"
    stop
  fi
  if [[ $(id -u) -eq 0 ]]; then
    id -u "$pg_user" >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pg_user"
  fi
  local dir
  dir=$(enterable_tmp "$pg_user" sluice-lookupdb)
  echo "$dir" >"$run/datadir"
  start_redis "$dir"
  start_pg "$dir"
  print_env
}

stop() {
  mkdir -p "$run"
  if [[ -f "$run/redis.pid" ]]; then
    local pid
    pid=$(cat "$run/redis.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        log "redis (PID $pid) did not stop on SIGTERM; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$run/redis.pid" "$run/redis.port"
  fi
  if [[ -f "$run/datadir" ]]; then
    local dir bin
    dir=$(cat "$run/datadir")
    bin=$(pg_bin)
    if [[ -n "$bin" && -f "$dir/pg/postmaster.pid" ]]; then
      as_pg "$bin/pg_ctl" -D "$dir/pg" -m fast -w -t 30 stop >&2 || {
        # pg_ctl could not stop it: the postmaster's PID is the first line of its pid file.
        local pid
        pid=$(head -1 "$dir/pg/postmaster.pid" 2>/dev/null || true)
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
          log "postgresql (PID $pid) did not stop with pg_ctl; sending SIGKILL"
          kill -9 "$pid" 2>/dev/null || true
        fi
      }
    fi
    case "$dir" in
    */sluice-lookupdb.*) rm -rf "$dir" ;;
    esac
    rm -f "$run/datadir" "$run/pg.port"
  fi
}

case "${1:-}" in
start) start ;;
stop | clean) stop ;;
env)
  [[ -f "$run/redis.port" && -f "$run/pg.port" ]] || die "not running"
  print_env
  ;;
*)
  echo "usage: $0 start|stop|clean|env" >&2
  exit 2
  ;;
esac
