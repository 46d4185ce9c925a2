# shellcheck shell=bash
# shellcheck disable=SC2154 # name, version, run, npm_opts, cli_opts: set by the sourcing script
# Sourced by scripts/kinesis.sh and scripts/dynalite.sh: start and stop a test server
# from an npm package, pinned, in memory, bound to 127.0.0.1 only (scripts/loopback.js),
# on a free port. The sourcing script sets, then calls npm_server_main "$@":
#
#   name      the npm package (kinesalite, dynalite)
#   version   its pinned version
#   run       the runtime directory (PID, port, log); one per concurrent run
#   npm_opts  extra npm install options (array)
#   cli_opts  the server's command-line options besides --port (array)
#
# start installs the package into .cache/$name if needed, starts the server in the
# background, waits until it answers HTTP and prints http://127.0.0.1:PORT on stdout;
# stop stops the server start started, by its PID; clean is stop (the server keeps its
# data in memory), as for every server script.

home="$PWD/.cache/$name"
script=$(basename "$0")

log() { printf '%s: %s\n' "$script" "$*" >&2; }

install() {
  local pkg="$home/node_modules/$name/package.json"
  if [[ -f "$pkg" ]] && grep -q "\"version\": \"$version\"" "$pkg"; then
    return
  fi
  command -v npm >/dev/null || { log "npm is required (Node.js 18 or later)"; exit 1; }
  log "installing $name $version into $home"
  mkdir -p "$home"
  npm install --prefix "$home" --no-audit --no-fund --loglevel=error "${npm_opts[@]}" "$name@$version" >&2
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

alive() { [[ -f "$run/pid" ]] && kill -0 "$(cat "$run/pid")" 2>/dev/null; }

start() {
  install
  mkdir -p "$run"
  if alive; then
    log "already running (PID $(cat "$run/pid")); stop it first"
    exit 1
  fi
  local attempt port host bound
  for attempt in 1 2 3; do
    port=$(free_port)
    rm -f "$run/port"
    LOOPBACK_NAME="$name" LOOPBACK_PORT_FILE="$run/port" nohup node --require "$PWD/scripts/loopback.js" \
      "$home/node_modules/$name/cli.js" --port "$port" "${cli_opts[@]}" \
      >"$run/log" 2>&1 </dev/null &
    echo $! >"$run/pid"
    for _ in $(seq 1 100); do
      if [[ -s "$run/port" ]]; then
        read -r host bound <"$run/port"
        if [[ "$host" != "127.0.0.1" ]]; then
          log "$name listens on $host, not 127.0.0.1: stopping it"
          stop
          exit 1
        fi
        # Any HTTP answer (both say 400 or 403 to a bare GET) means it serves.
        if curl -s -o /dev/null -m 2 "http://127.0.0.1:$bound/"; then
          log "$name $version listening on 127.0.0.1:$bound (PID $(cat "$run/pid"), log $run/log)"
          echo "http://127.0.0.1:$bound"
          return
        fi
      fi
      alive || break
      sleep 0.1
    done
    log "$name did not start on port $port (attempt $attempt):"
    tail -5 "$run/log" >&2 || true
    stop
  done
  exit 1
}

stop() {
  [[ -f "$run/pid" ]] || return 0
  local pid
  pid=$(cat "$run/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "PID $pid did not stop on SIGTERM; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$run/pid" "$run/port"
}

npm_server_main() {
  case "${1:-}" in
  start) start ;;
  stop | clean) stop ;;
  *)
    echo "usage: $0 start|stop|clean" >&2
    exit 2
    ;;
  esac
}
