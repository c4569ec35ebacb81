#!/usr/bin/env bash
# Runs the benchmarks (bench/README.md) against setlist-sim on 127.0.0.1,
# prints a Markdown report and keeps it in bench/RESULTS.md.
# Usage: scripts/bench.sh [setlist-bench options, e.g. --only AB, --quick]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
build_dir="$root/build-release"
export CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
# Only what the benchmarks run: the tests need not be built for them.
cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)" --target setlist setlist-sim setlist-bench bench-download
results="$root/bench/RESULTS.md"
for a in "$@"; do
  # A partial or toy run must not overwrite the kept full results.
  case "$a" in --only|--quick|--songs|--keys|--seq-songs|--scale|--scale-songs|--no-*) results="$build_dir/bench-results.md" ;; esac
done
"$build_dir/bench/setlist-bench" --results "$results" "$@"
echo "bench: report kept in ${results#"$root"/}" >&2
