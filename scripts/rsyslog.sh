#!/usr/bin/env bash
# rsyslog from Debian's packages, the real syslog and RELP client (and baseline
# receiver) of the tests and benchmarks (internal/rsyslogtest). Nothing runs here: each
# test starts its own rsyslogd with its own configuration, pid file and work directory
# in its temporary directory, and stops it by PID. The system's rsyslog is never
# started, configured or used.
#
#   scripts/rsyslog.sh install   installs rsyslog, rsyslog-relp (omrelp, imrelp) and
#                                rsyslog-gnutls (the gtls TLS stream driver) if missing,
#                                with apt-get and without starting the packages' service,
#                                logs the path and version of rsyslogd on stderr and
#                                prints on stdout:
#                                  export SLUICE_TEST_RSYSLOGD=/usr/sbin/rsyslogd
#   scripts/rsyslog.sh start     the same (scripts/servers.sh calls start and clean on
#                                every server script)
#   scripts/rsyslog.sh env       prints the export again (fails when not installed)
#   scripts/rsyslog.sh stop      nothing to stop (clean: the same)
#
# The TLS driver is gtls (rsyslog-gnutls), rsyslog's long-standing default; Debian also
# has rsyslog-openssl (ossl), which the tests do not need. librelp brings its own TLS.
#
# Quick when everything is installed: it only checks the binary and the modules. When
# something is missing it installs first from the package lists at hand and runs
# apt-get update only if that fails. rsyslogd finds its modules in its compiled-in
# directory, so no module path is exported.
#
# From scripts/test.sh (an assignment, so that set -e stops the run when it fails):
#   rsyslog_env=$(scripts/rsyslog.sh install)
#   eval "$rsyslog_env"
set -euo pipefail

packages=(rsyslog rsyslog-relp rsyslog-gnutls)
# The loadable modules the tests use (omfwd and omfile are built in); each comes with
# one of the packages above.
modules=(imtcp imudp imrelp omrelp lmnsd_gtls impstats)

log() { printf 'rsyslog.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

rsyslogd_bin() {
  command -v rsyslogd 2>/dev/null || { [[ -x /usr/sbin/rsyslogd ]] && echo /usr/sbin/rsyslogd; } || true
}

# module_dir prints the directory rsyslogd loads its modules from (Debian's multiarch
# path), if there is one.
module_dir() {
  local d
  for d in /usr/lib/*/rsyslog /usr/lib/rsyslog; do
    [[ -f "$d/imtcp.so" ]] && { echo "$d"; return; }
  done
  true
}

# missing prints the packages to install: all of them when rsyslogd is missing, else
# those whose modules are.
missing() {
  if [[ -z "$(rsyslogd_bin)" ]]; then
    echo "${packages[*]}"
    return
  fi
  local dir want=()
  dir=$(module_dir)
  [[ -n "$dir" && -f "$dir/omrelp.so" && -f "$dir/imrelp.so" ]] || want+=(rsyslog-relp)
  [[ -n "$dir" && -f "$dir/lmnsd_gtls.so" ]] || want+=(rsyslog-gnutls)
  echo "${want[*]}"
}

# service_pid prints the PID of the packaged service, if its pid file names a running
# rsyslogd (the only one an installation could have started).
service_pid() {
  local f pid
  for f in /run/rsyslogd.pid /var/run/rsyslogd.pid; do
    [[ -f "$f" ]] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == rsyslogd ]] && { echo "$pid"; return; }
  done
  true
}

install() {
  local want
  read -r -a want <<<"$(missing)"
  if ((${#want[@]} > 0)); then
    [[ $(id -u) -eq 0 ]] || die "missing ${want[*]}; run as root to install them, or install them (apt-get install ${want[*]})"
    command -v apt-get >/dev/null || die "missing ${want[*]} and no apt-get to install them"
    log "installing ${want[*]} (Debian packages)"
    local before
    before=$(service_pid)
    # Keep the package's own service from starting: invoke-rc.d and deb-systemd-invoke
    # ask policy-rc.d, and 101 means "not allowed". The tests run their own instances.
    local policy=/usr/sbin/policy-rc.d added=""
    if [[ ! -e "$policy" ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      added=1
    fi
    local rc=0 apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -qq
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! "${apt[@]}" install --no-install-recommends "${want[@]}" >&2; then
      log "installing from the package lists at hand failed; apt-get update, then again"
      { "${apt[@]}" update >&2 && "${apt[@]}" install --no-install-recommends "${want[@]}" >&2; } || rc=$?
    fi
    [[ -z "$added" ]] || rm -f "$policy"
    [[ $rc -eq 0 ]] || die "apt-get install ${want[*]} failed (exit $rc)"
    local after
    after=$(service_pid)
    if [[ -n "$after" && "$after" != "$before" ]]; then
      # policy-rc.d was not asked (an unusual init): stop what the installation started.
      log "the installation started the system's rsyslogd (PID $after); stopping it"
      kill "$after" 2>/dev/null || true
    fi
    read -r -a want <<<"$(missing)"
    ((${#want[@]} == 0)) || die "still missing after installation: ${want[*]}"
  fi
  local bin dir m
  bin=$(rsyslogd_bin)
  dir=$(module_dir)
  for m in "${modules[@]}"; do
    [[ -f "$dir/$m.so" ]] || die "rsyslogd has no module $m ($dir/$m.so)"
  done
  log "$bin: $("$bin" -v 2>/dev/null | head -1 | sed 's/ *compiled with:.*//'), modules in $dir;" \
    "packages: $(dpkg-query -W -f '${Package} ${Version}, ' "${packages[@]}" 2>/dev/null | sed 's/, $//')"
  print_env
}

print_env() {
  local bin
  bin=$(rsyslogd_bin)
  [[ -n "$bin" ]] || die "rsyslogd is not installed (scripts/rsyslog.sh install)"
  echo "export SLUICE_TEST_RSYSLOGD=$bin"
}

case "${1:-}" in
install | start) install ;;
env) print_env ;;
stop | clean) ;;
*)
  echo "usage: $0 install|start|env|stop|clean" >&2
  exit 2
  ;;
esac
