#!/usr/bin/env bash
# Configures and builds setlist. Usage: scripts/build.sh [BUILD_DIR] [BUILD_TYPE] [extra cmake args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${1:-$root/build}"
build_type="${2:-RelWithDebInfo}"
shift $(( $# > 2 ? 2 : $# ))
# ccache: share cached objects between build folders.
export CCACHE_NOHASHDIR=1
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
# SETLIST_BUILD_TARGETS: "--target a b c" to build only those.
# shellcheck disable=SC2086
cmake --build "$build_dir" -j "$jobs" ${SETLIST_BUILD_TARGETS:-}
