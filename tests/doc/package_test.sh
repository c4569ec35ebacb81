#!/usr/bin/env bash
# Packs the programs of this build tree with CPack (as scripts/package.sh
# does from its Release tree) and checks the .deb with
# `scripts/package.sh --check`: declared dependencies, a clean-PATH run of
# both programs from the unpacked files, and README's install commands
# producing the example album against the packaged simulator.
# Usage: package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1" src="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log" >&2; exit 1; }
"$src/scripts/package.sh" --check "$(ls "$tmp"/setlist_*_amd64.deb)"
