#!/usr/bin/env bash
# Times scripts/demo.sh's cold build (issue #17: the demo's first album in
# under 90 s on 2 cores): the exact build demo.sh does, into a fresh folder,
# with ccache off. Prints CPU seconds (user+sys of every compiler and linker),
# wall seconds, the load average before and after (wall is only meaningful on
# an idle machine), and the ten slowest steps from .ninja_log.
#   bench/demo_build.sh [--album]   --album: also run the demo album (a whole
#                                   demo.sh, simulator included) and time it
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export CCACHE_DISABLE=1
export DEMO_USE_INSTALLED=0  # time the build even where the .deb is installed
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${1:-}" = --album ]; then
  DEMO_BUILD_DIR="$tmp/build" DEMO_OUT="$tmp/album" \
    /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$root/scripts/demo.sh" >"$tmp/log" 2>&1 ||
    { tail -n 30 "$tmp/log" >&2; exit 1; }
  grep -E '^demo: (built|first album)' "$tmp/log"
else
  DEMO_BUILD_DIR="$tmp/build" DEMO_BUILD_ONLY=1 \
    /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$root/scripts/demo.sh" >"$tmp/log" 2>&1 ||
    { tail -n 30 "$tmp/log" >&2; exit 1; }
fi
if grep -q 'unity build failed' "$tmp/log"; then
  grep -B 20 'unity build failed' "$tmp/log" >&2
  echo "demo_build: the unity build failed (the time includes both builds)" >&2
  exit 1
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
read -r wall user sys <"$tmp/time"
echo "demo build: $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", u + s }') CPU-s (user $user, sys $sys)," \
  "$wall s wall, $(nproc) cores, load $load_before before, $load_after after"
echo "slowest steps (wall s, ninja):"
awk 'NR > 1 { printf "%8.1f  %s\n", ($2 - $1) / 1000, $4 }' "$tmp/build/.ninja_log" | sort -rn | head -n 10
