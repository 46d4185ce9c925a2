#!/usr/bin/env bash
# Headless Chromium from Debian's packages, the real browser of the docs page's test
# (cmd/sluice/docs_e2e_test.go drives it with chromedp). Nothing runs here: each test
# starts its own browser with its own profile directory and stops it.
#
#   scripts/chromium.sh install   makes sure a Chromium is at hand and prints its path on
#                                 stdout (the only line on stdout; progress goes to stderr)
#   scripts/chromium.sh path      prints the path again (fails when there is none)
#
# Where the browser comes from, first that works:
#   1. $SLUICE_TEST_CHROMIUM, when it names an executable;
#   2. an installed chromium (/usr/bin/chromium, Debian's package);
#   3. as root with apt-get: apt-get install chromium (no recommends), from the package
#      lists at hand and after apt-get update only if that fails;
#   4. otherwise (not root, or SLUICE_CHROMIUM_EXTRACT=1): apt-get download of chromium
#      and of those of its dependencies that are not installed (as apt-get install would
#      choose them), into .cache/chromium/debs, unpacked with dpkg-deb -x into
#      .cache/chromium/root, then the .debs removed: no root needed, nothing installed
#      system-wide (about 500 MB). The path printed is .cache/chromium/chromium, a
#      wrapper that puts the unpacked libraries on LD_LIBRARY_PATH. A second run reuses
#      the cache.
#
# From scripts/test.sh (an assignment, so that set -e stops the run when it fails):
#   SLUICE_TEST_CHROMIUM=$(scripts/chromium.sh install)
#   export SLUICE_TEST_CHROMIUM
set -euo pipefail
cd "$(dirname "$0")/.."

cache="$PWD/.cache/chromium"

log() { printf 'chromium.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

# installed prints the path of a usable browser, if there is one.
installed() {
  if [[ -n "${SLUICE_TEST_CHROMIUM:-}" && -x "$SLUICE_TEST_CHROMIUM" ]]; then
    echo "$SLUICE_TEST_CHROMIUM"
  elif [[ "${SLUICE_CHROMIUM_EXTRACT:-}" != 1 && -x /usr/bin/chromium ]]; then
    echo /usr/bin/chromium
  elif [[ -x "$cache/chromium" && -x "$cache/root/usr/lib/chromium/chromium" ]]; then
    echo "$cache/chromium"
  fi
  true
}

apt_install() {
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o DPkg::Lock::Timeout=300)
  log "installing chromium (Debian package)"
  if ! "${apt[@]}" install --no-install-recommends chromium >&2; then
    log "installing from the package lists at hand failed; apt-get update, then again"
    if ! { "${apt[@]}" update >&2 && "${apt[@]}" install --no-install-recommends chromium >&2; }; then
      die "apt-get install chromium failed"
    fi
  fi
}

# extract downloads chromium and its missing dependencies and unpacks them under $cache.
extract() {
  command -v apt-get >/dev/null || die "no chromium, and no apt-get to fetch one"
  local debs="$cache/debs" root="$cache/root" pkgs=() p
  rm -rf "$debs"
  mkdir -p "$debs"
  # What apt-get install would add to this machine (a simulation, which needs no root):
  # chromium and those of its dependencies that are not installed.
  while read -r p; do pkgs+=("$p"); done < <(apt-get -s -qq install --no-install-recommends chromium 2>/dev/null |
    awk '/^Inst /{print $2}')
  ((${#pkgs[@]} > 0)) || die "apt-get finds no chromium to install (apt-get update first)"
  log "downloading ${#pkgs[*]} packages into $debs: ${pkgs[*]}"
  (cd "$debs" && apt-get download -q "${pkgs[@]}" >&2) || die "apt-get download failed"
  rm -rf "$root"
  mkdir -p "$root"
  for p in "$debs"/*.deb; do dpkg-deb -x "$p" "$root"; done
  rm -rf "$debs"
  [[ -x "$root/usr/lib/chromium/chromium" ]] || die "no usr/lib/chromium/chromium in the unpacked packages"
  # Every unpacked directory that holds shared libraries (some live in subdirectories,
  # such as pulseaudio's), for the dynamic linker.
  local libpath
  libpath=$(find "$root" -name '*.so*' \( -type f -o -type l \) -printf '%h\n' | sort -u | paste -sd:)
  cat >"$cache/chromium.tmp" <<EOF
#!/bin/sh
# Made by scripts/chromium.sh: Debian's chromium unpacked under $root.
export LD_LIBRARY_PATH="$libpath\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$root/usr/lib/chromium/chromium" "\$@"
EOF
  chmod 755 "$cache/chromium.tmp"
  mv "$cache/chromium.tmp" "$cache/chromium"
}

install() {
  local bin
  bin=$(installed)
  if [[ -z "$bin" ]]; then
    if [[ "${SLUICE_CHROMIUM_EXTRACT:-}" != 1 && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      apt_install
    else
      extract
    fi
    bin=$(installed)
    [[ -n "$bin" ]] || die "no chromium after installation"
  fi
  local version
  version=$("$bin" --headless --no-sandbox --version 2>/dev/null || true)
  [[ -n "$version" ]] || die "$bin does not run (--version failed)"
  log "$bin: $version"
  echo "$bin"
}

case "${1:-}" in
install) install ;;
path)
  bin=$(installed)
  [[ -n "$bin" ]] || die "no chromium (scripts/chromium.sh install)"
  echo "$bin"
  ;;
*)
  echo "usage: $0 install|path" >&2
  exit 2
  ;;
esac
