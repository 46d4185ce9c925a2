# shellcheck shell=bash
# shellcheck disable=SC2154 # the variables below: set by the sourcing script
# Sourced by scripts/opensearch.sh and scripts/elasticsearch.sh: install a search
# engine's integ-test-zip from Maven Central, start it single-node on 127.0.0.1 as an
# unprivileged user, stop it by its PID. The sourcing script sets, then calls
# search_server_main "$@":
#
#   name        the engine (opensearch, elasticsearch): .cache/$name, bin/$name
#   version     its pinned version
#   group       the Maven group of the integ-test-zip (the artifact is $name)
#   run         the runtime directory (PID, config, data, logs); one per concurrent run
#   port        the fixed HTTP port, or empty for a free one
#   port_var    the variable that sets port (for error messages)
#   env_prefix  the engine's variable prefix: PATH_CONF, TMPDIR, JAVA_OPTS follow it
#   java_var    the variable through which the engine takes its Java (JAVA_HOME, ...)
#   heap        the JVM heap options
#   jvm_sed     sed expressions that point jvm.options' relative files into the
#               engine's directory, written @ENGINE_DIR@ (array)
#   settings    extra -E settings (array)
#
# start fetches the zip into the Maven repository ($SLUICE_MAVEN_REPO, else ~/.m2) and
# unpacks it under .cache/$name if needed, starts the engine on a free loopback port
# (or $port), waits for yellow or green cluster health and prints http://127.0.0.1:PORT
# on stdout. stop stops the engine start started, by its PID. The data directory stays
# between a stop and a start: that is a restart of the same engine with its indices.
# Both engines refuse to run as root: as root, start creates the system user
# sluice-search and runs the engine as that user with runuser. The engine runs on the
# first Java 17 under /usr/lib/jvm, or on $JAVA_HOME when set.
#
# The engine's files (config, data, logs, tmp and its PID file) go to the run directory
# when the engine's user can enter it, else to a directory of their own under $TMPDIR,
# /tmp or /var/tmp (scripts/enterable.sh) whose path the run directory's engine-dir
# keeps: a run directory inside a 0700 directory (mktemp -d, a home) works too. clean
# stops the engine and removes that directory.

# shellcheck source=scripts/enterable.sh
source scripts/enterable.sh

home="$PWD/.cache/$name"
dist="$home/$name-$version"
artifact="$group:$name:$version:zip"
user=sluice-search
script=$(basename "$0")

log() { printf '%s: %s\n' "$script" "$*" >&2; }

install() {
  if [[ -x "$dist/bin/$name" ]]; then
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
  local zip="$repo/${group//.//}/$name/$version/$name-$version.zip"
  [[ -f "$zip" ]] || { log "downloaded zip not found at $zip"; exit 1; }
  mkdir -p "$home"
  rm -rf "$dist.tmp"
  mkdir -p "$dist.tmp"
  unzip -q "$zip" -d "$dist.tmp"
  mv "$dist.tmp/$name-$version" "$dist"
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

# known_dir prints the directory of the engine's files of an earlier start: its own
# (engine-dir), or the run directory.
known_dir() {
  if [[ -f "$run/engine-dir" ]]; then
    cat "$run/engine-dir"
  else
    echo "$run"
  fi
}

# engine_dir prints the directory of the engine's files for a start: the one of an
# earlier start (its data is kept), the run directory if the engine's user can enter
# it, or a new one of their own.
engine_dir() {
  if [[ -f "$run/engine-dir" && -d "$(cat "$run/engine-dir")" ]]; then
    cat "$run/engine-dir"
    return
  fi
  if can_enter "$user" "$run"; then
    echo "$run"
    return
  fi
  local d
  d=$(enterable_tmp "$user" "sluice-$name") || exit 1
  echo "$d" >"$run/engine-dir"
  log "$user cannot enter $run: the engine's files go to $d"
  echo "$d"
}

# The engine writes its own PID file, as its user, into its directory's tmp/.
alive() { [[ -f "$(known_dir)/tmp/pid" ]] && kill -0 "$(cat "$(known_dir)/tmp/pid")" 2>/dev/null; }

# The HTTP and transport ports: a random block of 100 in 20000-59999, so that the engine
# takes the first free one of each range and concurrent runs rarely meet; the HTTP port
# is $port instead when that is set.
start() {
  install
  ensure_user
  mkdir -p "$run"
  chmod 755 "$run"
  if alive; then
    log "already running (PID $(cat "$(known_dir)/tmp/pid")); stop it first"
    exit 1
  fi
  if ! can_enter "$user" "$dist"; then
    log "$user cannot enter $dist (the repository is inside a directory closed to other users): clone it where others can enter"
    exit 1
  fi
  local jh eng
  jh=$(java_home)
  eng=$(engine_dir)
  # The engine's directory holds a copy of the config (the engine writes its keystore
  # there), data, logs and tmp, all owned by the engine's user. The data of an earlier
  # start stays: this start restarts that engine.
  rm -rf "$eng/config" "$eng/logs" "$eng/tmp"
  cp -r "$dist/config" "$eng/config"
  mkdir -p "$eng/data" "$eng/logs" "$eng/tmp"
  # jvm.options names gc.log, heap dumps and error files relative to the engine's home
  # or working directory, which its user cannot write: point them into its directory.
  sed -i "${jvm_sed[@]}" "$eng/config/jvm.options"
  sed -i "s|@ENGINE_DIR@|$eng|g" "$eng/config/jvm.options"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R "$user" "$eng/config" "$eng/data" "$eng/logs" "$eng/tmp"
  fi
  local base=$((20000 + (RANDOM % 400) * 100))
  local http_ports="$base-$((base + 99))"
  if [[ -n "$port" ]]; then
    if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
      log "$port_var=$port is not a TCP port (1-65535)"
      exit 1
    fi
    http_ports=$port
  fi
  rm -f "$eng/tmp/pid"
  local cmd=(env "${env_prefix}_PATH_CONF=$eng/config" "${env_prefix}_TMPDIR=$eng/tmp" "$java_var=$jh"
    "${env_prefix}_JAVA_OPTS=$heap"
    "$dist/bin/$name" -p "$eng/tmp/pid"
    -E cluster.name=sluice-test -E node.name=sluice-test
    -E network.host=127.0.0.1 -E discovery.type=single-node
    -E http.port="$http_ports" -E transport.port="$((base + 100))-$((base + 199))"
    -E path.data="$eng/data" -E path.logs="$eng/logs"
    -E cluster.routing.allocation.disk.threshold_enabled=false)
  local s
  for s in "${settings[@]}"; do
    cmd+=(-E "$s")
  done
  if [[ $(id -u) -eq 0 ]]; then
    cmd=(runuser -u "$user" -- "${cmd[@]}")
  fi
  (cd "$eng" && exec nohup "${cmd[@]}" >"$run/stdout" 2>&1 </dev/null) &
  local launcher=$!
  local bound=""
  for _ in $(seq 1 900); do
    if [[ -z "$bound" ]]; then
      bound=$(sed -n 's/.*AbstractHttpServerTransport.*publish_address {127\.0\.0\.1:\([0-9]*\)}.*/\1/p' "$run/stdout" 2>/dev/null | head -1)
    fi
    if [[ -n "$bound" ]] &&
      curl -sf -m 2 "http://127.0.0.1:$bound/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
      echo "$bound" >"$run/port"
      log "$name $version listening on 127.0.0.1:$bound (PID $(cat "$eng/tmp/pid"), log $run/stdout)"
      echo "http://127.0.0.1:$bound"
      return
    fi
    # The launcher (runuser, or the engine itself) exits only when the engine does.
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.1
  done
  log "$name did not become healthy:"
  tail -20 "$run/stdout" >&2 || true
  stop
  exit 1
}

stop() {
  local eng pid
  eng=$(known_dir)
  if [[ ! -f "$eng/tmp/pid" ]]; then
    return
  fi
  pid=$(cat "$eng/tmp/pid")
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
  rm -f "$eng/tmp/pid" "$run/port"
}

# clean stops the engine and removes its files: its own directory, or the engine's
# files in the run directory.
clean() {
  stop
  local eng
  eng=$(known_dir)
  if [[ "$eng" != "$run" ]]; then
    case "$eng" in
    */sluice-"$name".*) rm -rf "$eng" ;;
    esac
    rm -f "$run/engine-dir"
  else
    rm -rf "$run/config" "$run/data" "$run/logs" "$run/tmp"
  fi
}

search_server_main() {
  case "${1:-}" in
  start) start ;;
  stop) stop ;;
  clean) clean ;;
  *)
    echo "usage: $0 start|stop|clean" >&2
    exit 2
    ;;
  esac
}
