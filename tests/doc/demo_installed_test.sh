#!/usr/bin/env bash
# scripts/demo.sh with setlist and setlist-sim on PATH (as the .deb installs
# them): it says it uses them, builds nothing, and makes the album with them.
# The build tools on PATH are stubs that leave a mark, so a demo that builds
# anyway fails here at once instead of compiling.
# Usage: demo_installed_test.sh SETLIST SETLIST_SIM SOURCE_DIR
set -euo pipefail
setlist="$1"
sim="$2"
src="$3"
tmp="$(mktemp -d)"
trap '/bin/rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
/bin/mkdir -p "$tmp/bin"
/bin/ln -s "$setlist" "$tmp/bin/setlist"
/bin/ln -s "$sim" "$tmp/bin/setlist-sim"
for tool in cmake ninja apt-get sudo; do
  printf '#!/bin/sh\necho "%s $*" >>"%s/built"\nexit 1\n' "$tool" "$tmp" >"$tmp/bin/$tool"
  /bin/chmod +x "$tmp/bin/$tool"
done
status=0
PATH="$tmp/bin:/usr/bin:/bin" DEMO_OUT="$tmp/album" DEMO_BUILD_DIR="$tmp/build" \
  "$src/scripts/demo.sh" >"$tmp/log" 2>&1 || status=$?
[ "$status" = 0 ] || bad "demo.sh exited $status"
[ ! -e "$tmp/built" ] || bad "demo.sh ran build tools: $(/bin/cat "$tmp/built")"
[ ! -e "$tmp/build" ] || bad "demo.sh made a build folder"
grep -q "^demo: using the installed $tmp/bin/setlist (setlist " "$tmp/log" || bad "no 'using the installed setlist' line"
grep -q '^demo: first album .* (nothing built)$' "$tmp/log" || bad "no 'first album ... (nothing built)' line"
[ -f "$tmp/album/report.html" ] || bad "no report.html in the album"
n="$(find "$tmp/album" -maxdepth 1 -name '*.mp3' | wc -l)"
[ "$n" -ge 6 ] || bad "$n MP3 files in the album, expected 6 or more"
if [ "$fail" != 0 ]; then
  /bin/cat "$tmp/log" >&2
  exit 1
fi
echo "demo.sh used the installed programs: $n MP3 files, nothing built"
