# shellcheck shell=bash
# Sourced by the scripts that run a server as an unprivileged user (search-server.sh
# for OpenSearch and Elasticsearch, lookupdb.sh for PostgreSQL). That user must be able
# to enter every directory above the server's files, which a directory made by
# `mktemp -d` (mode 0700), a home directory or a $TMPDIR inside one forbids: the
# server's files then go to a directory of their own under one the user can enter.
#
#   can_enter USER DIR        whether USER can reach DIR (always, when not root: the
#                             server then runs as oneself)
#   enterable_tmp USER NAME   makes a fresh directory NAME.XXXXXX, mode 755, under the
#                             first of $TMPDIR, /tmp and /var/tmp that USER can enter,
#                             and prints its path

can_enter() {
  [[ $(id -u) -eq 0 ]] || return 0
  runuser -u "$1" -- test -x "$2" 2>/dev/null
}

enterable_tmp() {
  local user=$1 name=$2 base dir
  for base in "${TMPDIR:-}" /tmp /var/tmp; do
    [[ -n "$base" && -d "$base" ]] || continue
    can_enter "$user" "$base" || continue
    dir=$(mktemp -d "$base/$name.XXXXXX") || continue
    chmod 755 "$dir"
    echo "$dir"
    return 0
  done
  printf '%s: no temporary directory that %s can enter (tried TMPDIR, /tmp, /var/tmp)\n' "$(basename "$0")" "$user" >&2
  return 1
}
