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
# another's server. kinesalite binds all interfaces by itself: a Node preload rewrites
# the host of every listen call to 127.0.0.1. Tests read the endpoint from
# SLUICE_TEST_KINESIS_ENDPOINT (scripts/test.sh exports it).
set -euo pipefail
cd "$(dirname "$0")/.."

version=3.3.3
home="$PWD/.cache/kinesalite"
run="${SLUICE_KINESIS_RUN_DIR:-$home/run}"

log() { printf 'kinesis.sh: %s\n' "$*" >&2; }

install() {
  local pkg="$home/node_modules/kinesalite/package.json"
  if [[ -f "$pkg" ]] && grep -q "\"version\": \"$version\"" "$pkg"; then
    return
  fi
  command -v npm >/dev/null || { log "npm is required (Node.js 18 or later)"; exit 1; }
  log "installing kinesalite $version into $home"
  mkdir -p "$home"
  # leveldown (optional) is only for on-disk stores; the tests keep streams in memory.
  npm install --prefix "$home" --no-audit --no-fund --omit=optional --loglevel=error \
    "kinesalite@$version" >&2
}

# The preload: every net.Server of the process listens on 127.0.0.1, and the port it
# got is written to $LOOPBACK_PORT_FILE once it listens.
# It also keeps the server up when a client drops a connection mid-request.
write_preload() {
  cat >"$home/loopback.js" <<'EOF'
'use strict';
const fs = require('fs');
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !first._handle && first.fd === undefined) {
    args[0] = Object.assign({}, first, { host: '127.0.0.1' });
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] === 'string') args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  }
  if (process.env.LOOPBACK_PORT_FILE) {
    this.once('listening', () => {
      const addr = this.address();
      fs.writeFileSync(process.env.LOOPBACK_PORT_FILE, addr.address + ' ' + addr.port + '\n');
    });
  }
  return listen.apply(this, args);
};
// The server throws from a request's 'error' event when a client goes away in the
// middle of a request (a worker killed with SIGKILL, a request cancelled at its
// deadline), which would end the whole server and fail every later test. That error
// concerns one connection only: log it and go on.
process.on('uncaughtException', (err) => {
  if (err && err.code === 'ECONNRESET') {
    console.error('kinesalite: a client went away mid-request: ' + err.message);
    return;
  }
  console.error(err);
  process.exit(1);
});
EOF
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

alive() { [[ -f "$run/pid" ]] && kill -0 "$(cat "$run/pid")" 2>/dev/null; }

start() {
  install
  write_preload
  mkdir -p "$run"
  if alive; then
    log "already running (PID $(cat "$run/pid")); stop it first"
    exit 1
  fi
  for attempt in 1 2 3; do
    local port
    port=$(free_port)
    rm -f "$run/port"
    # Streams become ACTIVE (and reshard) in a few milliseconds instead of 500 ms, and
    # the account shard limit is lifted so that every test can make its own streams.
    LOOPBACK_PORT_FILE="$run/port" nohup node --require "$home/loopback.js" \
      "$home/node_modules/kinesalite/cli.js" --port "$port" \
      --createStreamMs 10 --deleteStreamMs 10 --updateStreamMs 10 --shardLimit 100000 \
      >"$run/log" 2>&1 </dev/null &
    echo $! >"$run/pid"
    for _ in $(seq 1 100); do
      if [[ -s "$run/port" ]]; then
        read -r host bound <"$run/port"
        if [[ "$host" != "127.0.0.1" ]]; then
          log "kinesalite listens on $host, not 127.0.0.1: stopping it"
          stop
          exit 1
        fi
        # Any HTTP answer (kinesalite says 403 or 400 to a bare GET) means it serves.
        if curl -s -o /dev/null -m 2 "http://127.0.0.1:$bound/"; then
          echo "$bound" >"$run/endpoint-port"
          log "kinesalite $version listening on 127.0.0.1:$bound (PID $(cat "$run/pid"), log $run/log)"
          echo "http://127.0.0.1:$bound"
          return
        fi
      fi
      alive || break
      sleep 0.1
    done
    log "kinesalite did not start on port $port (attempt $attempt):"
    tail -5 "$run/log" >&2 || true
    stop
  done
  exit 1
}

stop() {
  if [[ ! -f "$run/pid" ]]; then
    return
  fi
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
  rm -f "$run/pid" "$run/port" "$run/endpoint-port"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
