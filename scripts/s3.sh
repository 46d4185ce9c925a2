#!/usr/bin/env bash
# An S3-compatible server for the archive sink's tests (sink/archive): moto's server
# (PyPI, pinned below, installed into a venv under .cache/s3), in memory, bound to
# 127.0.0.1 only, on a free port. moto implements PutObject, multipart uploads
# (CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload,
# ListMultipartUploads), ListObjectsV2 and DeleteObject as S3 does, starts in about a
# second and needs no Java, Docker or cloud account.
#
#   scripts/s3.sh start   installs moto into .cache/s3/venv if needed, starts it in the
#                         background and prints its endpoint (http://127.0.0.1:PORT)
#   scripts/s3.sh stop    stops the server that start started, by its PID (clean: the same;
#                         the server keeps its data in memory)
#   scripts/s3.sh env     starts it unless running and prints
#                         export SLUICE_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#                         (eval "$(scripts/s3.sh env)" before go test ./sink/archive/)
#
# Runtime files (PID, port, log) go to $SLUICE_S3_RUN_DIR, .cache/s3/run by default; give
# each concurrent run its own directory so that one run never stops another's server.
set -euo pipefail
cd "$(dirname "$0")/.."

moto_version=5.2.6
home="$PWD/.cache/s3"
venv="$home/venv"
run="${SLUICE_S3_RUN_DIR:-$home/run}"

log() { printf 's3.sh: %s\n' "$*" >&2; }

install() {
  if [[ -x "$venv/bin/moto_server" && "$(cat "$venv/.version" 2>/dev/null)" == "$moto_version" ]]; then
    return
  fi
  command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
  log "installing moto[server] $moto_version into $venv"
  rm -rf "$venv"
  mkdir -p "$home"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version" >&2
  echo "$moto_version" >"$venv/.version"
}

free_port() {
  "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

alive() { [[ -f "$run/pid" ]] && kill -0 "$(cat "$run/pid")" 2>/dev/null; }

start() {
  install
  mkdir -p "$run"
  if alive; then
    log "already running (PID $(cat "$run/pid")); stop it first"
    exit 1
  fi
  local attempt port
  for attempt in 1 2 3; do
    port=$(free_port)
    nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$run/log" 2>&1 </dev/null &
    echo $! >"$run/pid"
    for _ in $(seq 1 100); do
      # moto answers a bare GET on / with its (empty) bucket list.
      if curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/"; then
        echo "$port" >"$run/port"
        log "moto $moto_version listening on 127.0.0.1:$port (PID $(cat "$run/pid"), log $run/log)"
        echo "http://127.0.0.1:$port"
        return
      fi
      alive || break
      sleep 0.1
    done
    log "moto did not start on port $port (attempt $attempt):"
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

env_() {
  local endpoint
  if alive && [[ -s "$run/port" ]]; then
    endpoint="http://127.0.0.1:$(cat "$run/port")"
  else
    endpoint=$(start)
  fi
  echo "export SLUICE_TEST_S3_ENDPOINT=$endpoint"
}

case "${1:-}" in
start) start ;;
stop | clean) stop ;;
env) env_ ;;
*)
  echo "usage: $0 start|stop|clean|env" >&2
  exit 2
  ;;
esac
