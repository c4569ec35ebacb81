#!/usr/bin/env bash
# Manifest loading at scale (bench/RESULTS.md section M): generates a manifest
# of N songs (default 150,000, about 50 MB) with lyrics, then measures, median
# of three each, the wall time and peak RSS of
#   - `setlist validate` on it,
#   - PyYAML's C loader (yaml.CSafeLoader) reading the same file,
#   - `setlist plan` on it (nothing sent, no key read), and when its first
#     table row reaches the pipe beside when plan ends (the rows stream:
#     printed as planned, once the manifest has been checked),
#   - `setlist validate` and `setlist plan` on a 10,000-song manifest.
# Usage: bench/manifest_bench.sh [BUILD_DIR] [SONGS]
# Needs python3 with python3-yaml (scripts/install-deps.sh) and GNU time's
# numbers, read here from /usr/bin/time -f.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
songs="${2:-150000}"
setlist="$build/setlist"
[ -x "$setlist" ] || { echo "manifest_bench: no $setlist (build it first)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

gen() {  # gen SONGS FILE
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import random, sys
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20)
words = ("night city light river heart fire road home rain dream gold stone wind shadow morning "
         "ocean dance silver echo summer winter falling rising broken open slow wild quiet "
         "electric burning distant golden hollow").split()
def line():
    return " ".join(rng.choice(words) for _ in range(rng.randint(4, 7))).capitalize()
with open(out, "w") as f:
    f.write("album:\n  title: Manifest bench\n  artist: setlist\n"
            "defaults:\n  tags: [synthwave, night drive]\n"
            "songs:\n")
    for i in range(n):
        # A verse and a chorus, about 300 bytes: what a 50 MB manifest of 150,000 songs holds.
        verse = [line() for _ in range(4)]
        chorus = [line() for _ in range(2)]
        f.write(f"  - title: \"{rng.choice(words).capitalize()} {i}\"\n")
        if i % 3 == 0:
            f.write(f"    tags: \"{rng.choice(words)}, {rng.choice(words)}\"\n")
        f.write("    lyrics: |\n      [Verse]\n")
        for l in verse:
            f.write(f"      {l}\n")
        f.write("      [Chorus]\n")
        for l in chorus:
            f.write(f"      {l}\n")
EOF
}

measure() {  # measure LABEL CMD...: prints "LABEL wall_s peak_MiB" (median of three)
  local label="$1"
  shift
  local walls=() rss=()
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>"$work/err" || {
      local rc=$?
      # validate and plan exit 0 on a good manifest; anything else is a bench failure.
      echo "manifest_bench: $label failed ($rc):" >&2
      head -5 "$work/err" >&2
      exit 1
    }
    read -r w m <"$work/t"
    walls+=("$w")
    rss+=("$m")
  done
  local mw mr
  mw=$(printf '%s\n' "${walls[@]}" | sort -g | sed -n 2p)
  mr=$(printf '%s\n' "${rss[@]}" | sort -g | sed -n 2p)
  printf '%-34s %8.2f s %8.1f MiB\n' "$label" "$mw" "$(echo "$mr / 1024" | bc -l)"
}

first_row() {  # first_row LABEL CMD...: seconds to the first row on stdout and to the end (median of three)
  local label="$1"
  shift
  local firsts=() ends=() f e
  for _ in 1 2 3; do
    read -r f e < <(/usr/bin/python3 - "$@" <<'EOF'
import subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
first = None
for n, line in enumerate(p.stdout):
    if n == 1:  # the line after the header: the first song's row
        first = time.monotonic() - t0
rc = p.wait()
end = time.monotonic() - t0
if rc != 0 or first is None:
    sys.exit(f"manifest_bench: {sys.argv[1:]} failed ({rc})")
print(f"{first:.2f} {end:.2f}")
EOF
)
    firsts+=("$f")
    ends+=("$e")
  done
  printf '%-34s first row %6.2f s, end %6.2f s\n' "$label" \
    "$(printf '%s\n' "${firsts[@]}" | sort -g | sed -n 2p)" "$(printf '%s\n' "${ends[@]}" | sort -g | sed -n 2p)"
}

gen "$songs" "$work/big.yaml"
gen 10000 "$work/ten.yaml"
bytes=$(stat -c %s "$work/big.yaml")
echo "manifest: $songs songs, $(echo "$bytes / 1048576" | bc -l | xargs printf '%.1f') MiB"
measure "setlist validate ($songs)" "$setlist" validate "$work/big.yaml"
measure "python3 yaml.CSafeLoader ($songs)" /usr/bin/python3 -c \
  'import sys, yaml; yaml.load(open(sys.argv[1]), Loader=yaml.CSafeLoader)' "$work/big.yaml"
measure "setlist plan ($songs)" "$setlist" plan "$work/big.yaml" -o "$work/out"
first_row "setlist plan ($songs), streamed" "$setlist" plan "$work/big.yaml" -o "$work/out"
measure "setlist validate (10000)" "$setlist" validate "$work/ten.yaml"
measure "setlist plan (10000)" "$setlist" plan "$work/ten.yaml" -o "$work/out10"
