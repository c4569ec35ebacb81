#!/usr/bin/env bash
# Generates the demo album against a local setlist-sim: installs dependencies
# if missing, builds Release, starts the simulator on a free loopback port,
# runs `setlist run jobs/demo-album.yaml -o out/demo-album`, stops the
# simulator, and prints the output tree and the report's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build-release" Release

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
"$root/build-release/setlist-sim" --port 0 --cdn-port 0 --scenario "$root/jobs/sim/happy.yaml" \
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
status=0
AIML_API_KEY="${AIML_API_KEY:-demo-key-for-the-simulator}" \
  "$root/build-release/setlist" run "$root/jobs/demo-album.yaml" -o "$out" --base-url "$base_url" || status=$?

echo
echo "demo: output in $out"
if command -v tree >/dev/null 2>&1; then tree -a -I '.setlist' "$out"; else (cd "$out" && find . -path ./.setlist -prune -o -type f -print | sort); fi
echo "demo: data for scripts: $out/report.json"
echo "demo: open $out/report.html in a browser"
exit "$status"
