#!/usr/bin/env bash
# An OpenSearch server for the search sink's tests: the integ-test-zip distribution
# (no security plugin) from Maven Central, single node, bound to 127.0.0.1 only.
#
#   scripts/opensearch.sh start   fetches OpenSearch into .cache/opensearch if needed,
#                                 starts it as an unprivileged user on a free loopback
#                                 port, waits for yellow or green cluster health and
#                                 prints its endpoint (http://127.0.0.1:PORT) on stdout
#   scripts/opensearch.sh stop    stops the server that start started, by its PID
#
# Runtime files (PID, config, data, logs) go to $SLUICE_OPENSEARCH_RUN_DIR,
# .cache/opensearch/run by default; give each concurrent run its own directory. stop
# keeps the data directory and start reuses it, so a stop and a start are a restart of
# the same engine with its indices (remove the run directory for an empty one). With
# SLUICE_OPENSEARCH_PORT set, start listens on that HTTP port and fails if it is taken,
# so that a restarted engine comes back where its clients expect it. The
# engine refuses to run as root, so start creates the system user sluice-search (when
# run as root) and starts the engine as that user with runuser. It needs Java 17
# (OpenSearch 2.19 runs on 11 to 21; 3.x would need 21): JAVA_HOME is taken as set, or
# the first Java 17 under /usr/lib/jvm. Tests read the endpoint from
# SLUICE_TEST_OPENSEARCH_URL (scripts/test.sh exports it).
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.19.6
artifact="org.opensearch.distribution.integ-test-zip:opensearch:$version:zip"
home="$PWD/.cache/opensearch"
dist="$home/opensearch-$version"
run="${SLUICE_OPENSEARCH_RUN_DIR:-$home/run}"
user=sluice-search

log() { printf 'opensearch.sh: %s\n' "$*" >&2; }

install() {
  if [[ -x "$dist/bin/opensearch" ]]; then
    return
  fi
  local want=()
  command -v mvn >/dev/null || want+=(maven)
  command -v unzip >/dev/null || want+=(unzip)
  if ((${#want[@]} > 0)); then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
      log "missing ${want[*]}: install them (apt-get install ${want[*]})"
      exit 1
    fi
    log "installing ${want[*]} from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
  fi
  log "fetching $artifact from Maven Central"
  # Maven's local repository: the default unless SLUICE_MAVEN_REPO names another.
  local repo="${SLUICE_MAVEN_REPO:-$HOME/.m2/repository}"
  mvn -q -B dependency:get -Dmaven.repo.local="$repo" -Dartifact="$artifact" -Dtransitive=false >&2
  local zip="$repo/org/opensearch/distribution/integ-test-zip/opensearch/$version/opensearch-$version.zip"
  [[ -f "$zip" ]] || { log "downloaded zip not found at $zip"; exit 1; }
  mkdir -p "$home"
  rm -rf "$dist.tmp"
  mkdir -p "$dist.tmp"
  unzip -q "$zip" -d "$dist.tmp"
  mv "$dist.tmp/opensearch-$version" "$dist"
  rmdir "$dist.tmp"
  chmod -R a+rX "$dist"
}

java_home() {
  if [[ -n "${JAVA_HOME:-}" ]]; then
    echo "$JAVA_HOME"
    return
  fi
  local d
  for d in /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/*17*; do
    if [[ -x "$d/bin/java" ]]; then
      echo "$d"
      return
    fi
  done
  log "no Java 17 found under /usr/lib/jvm; set JAVA_HOME"
  exit 1
}

ensure_user() {
  [[ $(id -u) -eq 0 ]] || return 0
  id "$user" >/dev/null 2>&1 && return 0
  useradd --system --no-create-home --shell /usr/sbin/nologin "$user" 2>/dev/null ||
    id "$user" >/dev/null 2>&1 || { log "cannot create user $user"; exit 1; }
}

# The engine writes its own PID file, as its user, into the run directory's tmp/.
alive() { [[ -f "$run/tmp/pid" ]] && kill -0 "$(cat "$run/tmp/pid")" 2>/dev/null; }

# The HTTP and transport ports: a random block of 100 in 20000-59999, so that the engine
# takes the first free one of each range and concurrent runs rarely meet; the HTTP port
# is $SLUICE_OPENSEARCH_PORT instead when that is set.
start() {
  install
  ensure_user
  mkdir -p "$run"
  if alive; then
    log "already running (PID $(cat "$run/tmp/pid")); stop it first"
    exit 1
  fi
  local jh
  jh=$(java_home)
  # The run directory holds a copy of the config (the engine writes its keystore
  # there), data, logs and tmp, all owned by the engine's user. The data of an earlier
  # start stays: this start restarts that engine.
  rm -rf "$run/config" "$run/logs" "$run/tmp"
  cp -r "$dist/config" "$run/config"
  mkdir -p "$run/data" "$run/logs" "$run/tmp"
  # jvm.options names gc.log, heap dumps and error files relative to the engine's home,
  # which its user cannot write: point them into the run directory.
  sed -i -e "s|logs/|$run/logs/|g" -e "s|HeapDumpPath=data|HeapDumpPath=$run/data|" "$run/config/jvm.options"
  chmod 755 "$run"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R "$user" "$run/config" "$run/data" "$run/logs" "$run/tmp"
  fi
  local base=$((20000 + (RANDOM % 400) * 100))
  local http_ports="$base-$((base + 99))"
  if [[ -n "${SLUICE_OPENSEARCH_PORT:-}" ]]; then
    if ! [[ "$SLUICE_OPENSEARCH_PORT" =~ ^[0-9]{1,5}$ ]] || ((10#$SLUICE_OPENSEARCH_PORT < 1 || 10#$SLUICE_OPENSEARCH_PORT > 65535)); then
      log "SLUICE_OPENSEARCH_PORT=$SLUICE_OPENSEARCH_PORT is not a TCP port (1-65535)"
      exit 1
    fi
    http_ports=$SLUICE_OPENSEARCH_PORT
  fi
  rm -f "$run/tmp/pid"
  local cmd=(env OPENSEARCH_PATH_CONF="$run/config" OPENSEARCH_TMPDIR="$run/tmp" JAVA_HOME="$jh"
    OPENSEARCH_JAVA_OPTS="-Xms512m -Xmx1g"
    "$dist/bin/opensearch" -p "$run/tmp/pid"
    -E cluster.name=sluice-test -E node.name=sluice-test
    -E network.host=127.0.0.1 -E discovery.type=single-node
    -E http.port="$http_ports" -E transport.port="$((base + 100))-$((base + 199))"
    -E path.data="$run/data" -E path.logs="$run/logs"
    -E cluster.routing.allocation.disk.threshold_enabled=false)
  if [[ $(id -u) -eq 0 ]]; then
    cmd=(runuser -u "$user" -- "${cmd[@]}")
  fi
  (cd "$run" && exec nohup "${cmd[@]}" >"$run/stdout" 2>&1 </dev/null) &
  local launcher=$!
  local port=""
  for _ in $(seq 1 900); do
    if [[ -z "$port" ]]; then
      port=$(sed -n 's/.*AbstractHttpServerTransport.*publish_address {127\.0\.0\.1:\([0-9]*\)}.*/\1/p' "$run/stdout" 2>/dev/null | head -1)
    fi
    if [[ -n "$port" ]] &&
      curl -sf -m 2 "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
      echo "$port" >"$run/port"
      log "opensearch $version listening on 127.0.0.1:$port (PID $(cat "$run/tmp/pid"), log $run/stdout)"
      echo "http://127.0.0.1:$port"
      return
    fi
    # The launcher (runuser, or the engine itself) exits only when the engine does.
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.1
  done
  log "opensearch did not become healthy:"
  tail -20 "$run/stdout" >&2 || true
  stop
  exit 1
}

stop() {
  if [[ ! -f "$run/tmp/pid" ]]; then
    return
  fi
  local pid
  pid=$(cat "$run/tmp/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "PID $pid did not stop on SIGTERM; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$run/tmp/pid" "$run/port"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
