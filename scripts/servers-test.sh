#!/usr/bin/env bash
# Starts each server script (kinesis, dynalite, s3, lookupdb, opensearch, elasticsearch) the
# way a fresh machine would meet it at its worst: $TMPDIR and the run directory both
# inside a fresh 0700 temporary directory, which the unprivileged users of PostgreSQL
# and the search engines cannot enter. Each server must start, answer on 127.0.0.1,
# and leave nothing running and none of its files behind after `clean`.
#
#   scripts/servers-test.sh [NAME...]   the servers to test (default: all five)
#
# Prints one line per server and "N passed, N failed"; exits 1 if any failed. Stops what
# it started by the scripts' own stop (by PID) however it ends. scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

names=("$@")
if ((${#names[@]} == 0)); then
  names=(kinesis dynalite s3 lookupdb opensearch elasticsearch)
fi

log() { printf 'servers-test.sh: %s\n' "$*" >&2; }

# run_var NAME: the variable of a script's run directory.
run_var() { printf 'SLUICE_%s_RUN_DIR' "$(tr '[:lower:]' '[:upper:]' <<<"$1")"; }

# answers NAME OUTPUT: whether the server that start printed OUTPUT for serves.
answers() {
  local name=$1 out=$2
  case "$name" in
  s3)
    curl -sf -m 5 -o /dev/null "$out/"
    ;;
  kinesis | dynalite)
    # Any HTTP answer: both servers answer a bare POST with an error document.
    [[ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' -X POST "$out")" != 000 ]]
    ;;
  opensearch | elasticsearch)
    curl -sf -m 5 "$out/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null
    ;;
  lookupdb)
    (
      eval "$out"
      exec 3<>"/dev/tcp/${SLUICE_TEST_REDIS_ADDR%:*}/${SLUICE_TEST_REDIS_ADDR#*:}"
      printf 'PING\r\n' >&3
      read -r -t 2 a <&3 && [[ "$a" == +PONG* ]] || exit 1
      if command -v psql >/dev/null; then
        psql "$SLUICE_TEST_POSTGRES_DSN" -tAc 'select 1' | grep -qx 1
      fi
    )
    ;;
  esac
}

# ports_of OUTPUT: the loopback ports in what start printed (one per line).
ports_of() { sed -n 's|.*127\.0\.0\.1:\([0-9]*\).*|\1|p' <<<"$1"; }

root=""
current=""
on_exit() {
  if [[ -n "$current" ]]; then scripts/"$current".sh clean >/dev/null 2>&1 || true; fi
  if [[ -n "$root" ]]; then rm -rf "$root"; fi
}
trap on_exit EXIT

passed=0
failed=0
failures=()
for name in "${names[@]}"; do
  [[ -x "scripts/$name.sh" ]] || { log "no scripts/$name.sh"; exit 2; }
  root=$(mktemp -d) # 0700, like every mktemp -d
  mkdir -m 700 "$root/tmp"
  run=$(TMPDIR="$root/tmp" mktemp -d -t "$name-run.XXXXXX")
  var=$(run_var "$name")
  problem=""
  current=$name
  if out=$(env TMPDIR="$root/tmp" "$var=$run" "scripts/$name.sh" start); then
    if ! answers "$name" "$out"; then
      problem="started but does not answer ($out)"
    fi
  else
    problem="start failed"
  fi
  own=""
  [[ -f "$run/engine-dir" ]] && own=$(cat "$run/engine-dir")
  [[ -f "$run/datadir" ]] && own=$(cat "$run/datadir")
  ports=$(ports_of "${out:-}")
  env TMPDIR="$root/tmp" "$var=$run" "scripts/$name.sh" clean >/dev/null || problem="${problem:+$problem; }clean failed"
  current=""
  for p in $ports; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      problem="${problem:+$problem; }still listening on 127.0.0.1:$p after clean"
    fi
  done
  if [[ -n "$own" && -e "$own" ]]; then
    problem="${problem:+$problem; }its files in $own are still there after clean"
  fi
  rm -rf "$root"
  root=""
  if [[ -z "$problem" ]]; then
    passed=$((passed + 1))
    echo "ok    $name: started from a 0700 TMPDIR and run directory${own:+ (files in $own)}, answered, cleaned up"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL  $name: $problem"
  fi
done
echo "$passed passed, $failed failed"
if ((failed > 0)); then
  log "failed: ${failures[*]}"
  exit 1
fi
