#!/usr/bin/env bash
# Bench F2 (#19): A's makespan (200 songs, 400 takes) with the analysis of
# every take on and off. The simulator as in A at time scale 1/1 (20 s ± 5 s
# generation, generate 10/s burst 10, get 20/s burst 20), serving real MP3
# tones (--real-audio, 20..40 s each) so that every take is decoded and
# measured; setlist with A's flags. "Off" sets SETLIST_BENCH_NO_ANALYSIS=1
# (src/engine/analyze.cpp: no decoding, no loudness tags). Prints one
# Markdown row per run: wall time, setlist's CPU, 429s.
# Usage: bench/analysis_makespan.sh BUILD_DIR [SONGS] [REPEATS]
set -euo pipefail
build="${1:?build dir with setlist and setlist-sim}"
songs="${2:-200}"
repeats="${3:-1}"
work="$(mktemp -d)"
trap 'kill "$sim_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

{
  printf 'album:\n  title: Bench Album\n  artist: The Benchmarks\n'
  printf 'defaults:\n  tags: indie pop, dreamy\n  model: chirp-v3-5\nsongs:\n'
  for i in $(seq 1 "$songs"); do
    printf '  - title: Track %d\n    lyrics: |\n      [Verse]\n      Streetlights count to %d\n' "$i" "$i"
  done
} >"$work/album.yaml"

run_once() {  # $1: on|off
  "$build/setlist-sim" --port 0 --cdn-port 0 --latency 20s --latency-jitter 5s --generate-rate 10 \
    --generate-burst 10 --get-rate 20 --get-burst 20 --duration 20s..40s --seed 2026 --real-audio \
    --stats-file "$work/stats-$1.json" >"$work/sim-$1.out" 2>&1 &
  sim_pid=$!
  for _ in $(seq 1 100); do grep -q '^listening on ' "$work/sim-$1.out" 2>/dev/null && break; sleep 0.1; done
  local url
  url="$(sed -n 's/^listening on //p' "$work/sim-$1.out" | head -1)"
  local env=(AIML_API_KEY=bench-key)
  [ "$1" = off ] && env+=(SETLIST_BENCH_NO_ANALYSIS=1)
  local t0 t1
  t0="$(date +%s.%N)"
  env "${env[@]}" /usr/bin/time -f '%U %S' -o "$work/time-$1" "$build/setlist" run "$work/album.yaml" \
    -o "$work/out-$1" --base-url "$url" -q --submit-rate 10/s --submit-burst 9 --poll-rate 19/s --poll-burst 19 \
    --max-in-flight "$songs" --poll-interval 1s --poll-interval-max 2s --retry-base 500ms \
    --download-concurrency 8 >"$work/run-$1.out" 2>&1 || { echo "run $1 failed" >&2; cat "$work/run-$1.out" >&2; }
  t1="$(date +%s.%N)"
  kill -INT "$sim_pid"
  wait "$sim_pid" 2>/dev/null || true
  local cpu throttled analysed
  cpu="$(awk '{printf "%.2f", $1 + $2}' "$work/time-$1")"
  throttled="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("rate_limited", 0))' \
    "$work/stats-$1.json" 2>/dev/null || echo '?')"
  analysed="$(/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(sum(1 for s in r["songs"] for c in s["clips"] if c.get("analysis")))' "$work/out-$1/report.json")"
  printf '| %s | %s | %.2f s | %s s | %s | %s |\n' "$1" "$songs" "$(echo "$t1 - $t0" | bc)" "$cpu" "$throttled" \
    "$analysed"
  rm -rf "$work/out-$1"
}

echo "| analysis | songs | makespan (wall) | setlist CPU | 429s | takes analysed |"
echo "|---|---|---|---|---|---|"
for _ in $(seq 1 "$repeats"); do
  run_once on
  run_once off
done
