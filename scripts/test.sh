#!/usr/bin/env bash
# Installs dependencies if missing, builds, and runs the whole CTest suite
# (unit, simulator and integration tests). Exits non-zero on any failure.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   ASan + UBSan build in build-sanitize/
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"

build_dir="$root/build"
extra=()
if [ "${1:-}" = "--sanitize" ]; then
  build_dir="$root/build-sanitize"
  extra=(-DSETLIST_SANITIZE=ON)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

start=$(date +%s)
"$root/scripts/build.sh" "$build_dir" RelWithDebInfo "${extra[@]}"
echo "build: $(( $(date +%s) - start )) s"

cd "$build_dir"
# Each test gets its own temp dir and port-0 servers, so they can run in parallel.
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" --timeout 300
