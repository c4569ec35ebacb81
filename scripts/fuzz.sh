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
CC=clang CXX=clang++ "$root/scripts/build.sh" "$build" RelWithDebInfo \
  -DSETLIST_LIBFUZZER=ON -DSETLIST_SANITIZE=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
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
