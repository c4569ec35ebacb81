#!/usr/bin/env bash
# Generates the demo album against a local setlist-sim. With `setlist` and
# `setlist-sim` installed on PATH (the .deb: README, "Install") it uses them
# and builds nothing; otherwise it installs dependencies if missing and
# builds only those two programs (-O1 without debug info, a unity build, in
# build-demo/). Then it starts the simulator on a free loopback port, runs
# `setlist run jobs/demo-album.yaml -o out/demo-album`, stops the simulator,
# and says where the album and its report.html are and how to put the
# programs on PATH for README's commands.
#   DEMO_USE_INSTALLED=0   build this checkout even when setlist is installed
#   DEMO_NO_FALLBACK=1     fail when the unity build fails (CI)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# DEMO_BUILD_DIR, DEMO_BUILD_ONLY=1: for bench/demo_build.sh (a cold build timed).
build="${DEMO_BUILD_DIR:-$root/build-demo}"
start=$(date +%s)
installed=0
if [ "${DEMO_USE_INSTALLED:-1}" != 0 ] && [ "${DEMO_BUILD_ONLY:-0}" != 1 ] &&
  command -v setlist >/dev/null 2>&1 && command -v setlist-sim >/dev/null 2>&1; then
  installed=1
  setlist_bin="$(command -v setlist)"
  sim_bin="$(command -v setlist-sim)"
  echo "demo: using the installed $setlist_bin ($("$setlist_bin" --version | head -n 1)) and $sim_bin;"
  echo "      nothing is built (DEMO_USE_INSTALLED=0 scripts/demo.sh builds this checkout instead)"
else
  "$root/scripts/install-deps.sh"
  # No tests, fuzzers or benchmarks: BUILD_TESTING=OFF leaves them unconfigured,
  # and only the two targets are built. -O1, no debug info: the programs wait on
  # the network, and the coroutine-heavy sources compile much faster than at
  # -O3 (scripts/package.sh and scripts/bench.sh build the optimized ones).
  # A unity build (CMakeLists.txt, "unity build") parses the shared headers
  # once per group of sources: about half the CPU of a build per source.
  # -O0 with the Asio/Beast/JSON headers precompiled was tried and cost more
  # CPU, not less (bench/RESULTS.md, "Demo cold build").
  demo_build() {
    SETLIST_BUILD_TARGETS="--target setlist setlist-sim" "$root/scripts/build.sh" "$build" Release \
      -DBUILD_TESTING=OFF "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" "$@"
  }
  if ! demo_build -DCMAKE_UNITY_BUILD=ON; then
    # Two sources of one group that define the same name at file scope break
    # the unity build only: say so, and build source by source.
    echo "demo: the unity build failed (above); building source by source instead" >&2
    [ "${DEMO_NO_FALLBACK:-0}" = 1 ] && exit 1  # CI (.ci/run): a clash is an error
    demo_build -DCMAKE_UNITY_BUILD=OFF
  fi
  setlist_bin="$build/setlist"
  sim_bin="$build/setlist-sim"
  echo "demo: built setlist and setlist-sim in $(( $(date +%s) - start )) s"
fi
[ "${DEMO_BUILD_ONLY:-0}" = 1 ] && exit 0

out="${DEMO_OUT:-$root/out/demo-album}"
tmp="$(mktemp -d)"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Port 0: the kernel picks a free port; the simulator prints it first.
"$sim_bin" --port 0 --cdn-port 0 --scenario "$root/jobs/sim/happy.yaml" \
  --stats-file "$tmp/stats.json" >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
base_url=""
for _ in $(seq 1 200); do
  base_url="$(sed -n 's/^listening on //p' "$tmp/sim.out" | head -n 1)"
  [ -n "$base_url" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$tmp/sim.err" >&2; echo "demo: setlist-sim did not start" >&2; exit 1; }
  sleep 0.05
done
[ -n "$base_url" ] || { echo "demo: setlist-sim did not print its address" >&2; exit 1; }
echo "demo: setlist-sim at $base_url"

# The simulator accepts any key; a real run reads AIML_API_KEY from your environment.
# Its songs take about 3 s (happy.yaml) where the real API takes a minute or
# more, so the demo polls every second rather than the models' 10 s.
status=0
AIML_API_KEY="${AIML_API_KEY:-demo-key-for-the-simulator}" \
  "$setlist_bin" run "$root/jobs/demo-album.yaml" -o "$out" --base-url "$base_url" \
  --poll-interval 1s --poll-interval-max 2s || status=$?
if [ "$installed" = 1 ]; then
  echo "demo: first album $(( $(date +%s) - start )) s after the demo started (nothing built)"
else
  echo "demo: first album $(( $(date +%s) - start )) s after the build started"
fi

echo
echo "demo: the album is in $out"
if command -v tree >/dev/null 2>&1; then tree -a -I '.setlist' "$out"; else (cd "$out" && find . -path ./.setlist -prune -o -type f -print | sort); fi
echo
echo "demo: data for scripts: $out/report.json"
echo "demo: open $out/report.html in a browser"
if [ "$installed" = 1 ]; then
  echo "demo: the programs are the installed $setlist_bin and $sim_bin, already on PATH;"
  echo "      run README's commands from $root"
else
  echo "demo: the programs are $build/setlist and $build/setlist-sim; for README's commands,"
  echo "      run from $root with them on PATH:"
  echo "    export PATH=\"$build:\$PATH\""
fi
exit "$status"
