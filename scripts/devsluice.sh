# shellcheck shell=bash
# Runs `sluice dev` for a client test (scripts/schemathesis.sh, scripts/openapi-client.sh):
# sourced, it defines dev_start and dev_stop and sets a trap that stops sluice dev and
# removes $dev_run_dir when the script exits.
#
#   dev_start NAME EXTRA_YAML   builds sluice once, then starts sluice dev on free
#                               loopback ports with a data directory of its own and
#                               EXTRA_YAML appended to its configuration; sets dev_dir
#                               (its directory: sluice.yaml, sluice.log, data/) and
#                               dev_base (its HTTP URL); returns 1 if it did not start
#   dev_stop NAME STATUS        stops it; when STATUS is not 0, prints its warnings
dev_run_dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-devclient.XXXXXX")
dev_pid=""
dev_dir=""
dev_base=""

# shellcheck disable=SC2317,SC2329 # run by the trap
dev_cleanup() {
  if [[ -n $dev_pid ]] && kill -0 "$dev_pid" 2>/dev/null; then
    kill "$dev_pid" 2>/dev/null || true
    wait "$dev_pid" 2>/dev/null || true
  fi
  rm -rf "$dev_run_dir"
}
trap dev_cleanup EXIT

dev_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

dev_start() {
  local name=$1 extra=$2 http_port grpc_port
  if [[ ! -x $dev_run_dir/sluice ]]; then
    go build -o "$dev_run_dir/sluice" ./cmd/sluice
  fi
  dev_dir="$dev_run_dir/${name// /-}"
  mkdir -p "$dev_dir/data"
  http_port=$(dev_free_port)
  grpc_port=$(dev_free_port)
  cat >"$dev_dir/sluice.yaml" <<YAML
http:
  addr: 127.0.0.1:$http_port
grpc:
  addr: 127.0.0.1:$grpc_port
lumberjack:
  addr: ""
sink:
  file:
    dir: $dev_dir/data
stream:
  embedded:
    # A client test, not a durability test: no fsync per batch.
    sync: none
$extra
YAML
  "$dev_run_dir/sluice" dev -c "$dev_dir/sluice.yaml" >"$dev_dir/sluice.log" 2>&1 &
  dev_pid=$!
  dev_base="http://127.0.0.1:$http_port"
  for _ in $(seq 1 100); do
    if curl -fsS "$dev_base/readyz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$dev_pid" 2>/dev/null; then
      echo "sluice dev ($name) exited:" >&2
      cat "$dev_dir/sluice.log" >&2
      dev_pid=""
      return 1
    fi
    sleep 0.1
  done
  echo "sluice dev ($name) not ready at $dev_base after 10 s:" >&2
  tail -n 20 "$dev_dir/sluice.log" >&2
  return 1
}

dev_stop() {
  local name=$1 status=$2
  kill "$dev_pid" 2>/dev/null || true
  wait "$dev_pid" 2>/dev/null || true
  dev_pid=""
  if [[ $status -ne 0 ]]; then
    echo "sluice dev's warnings ($name):" >&2
    grep -E 'level=(WARN|ERROR)' "$dev_dir/sluice.log" | tail -n 20 >&2 || true
  fi
}
