#!/usr/bin/env bash
# Coverage-guided fuzzing with clang's libFuzzer (plus ASan and UBSan).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# New inputs found are kept in build-fuzz/corpus/<target>/; crashes are written
# to build-fuzz/ as crash-* files, which reproduce with ./build-fuzz/tests/fuzz_X FILE.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
"$root/scripts/install-deps.sh"
command -v clang++ >/dev/null || { echo "fuzz: clang++ is needed (apt-get install clang)" >&2; exit 2; }
build="$root/build-fuzz"
# Only the fuzz targets (they link setlist_parsers alone). Release: clang 14
# cannot compile the coroutine engine with sanitizers, which they do not need.
export CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DSETLIST_LIBFUZZER=ON -DSETLIST_SANITIZE=ON >/dev/null
targets=()
for src in "$root"/tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"
status=0
for bin in "$build"/tests/fuzz_*; do
  name="$(basename "$bin")"
  target="${name#fuzz_}"
  seeds="$root/tests/fuzz/corpus/$target"
  [ "$target" = manifest ] && seeds="$root/jobs"
  mkdir -p "$build/corpus/$target"
  echo "fuzz: $name for ${seconds}s"
  (cd "$build" && "$bin" -max_total_time="$seconds" -max_len=65536 "$build/corpus/$target" "$seeds") || status=1
done
exit $status
