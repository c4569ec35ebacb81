#!/usr/bin/env bash
# scripts/container/Dockerfile, read without a container engine: only known
# instructions; Debian 12 slim; the package of this version, installed with
# apt (so its declared dependencies come from Debian); a non-root user.
# Usage: dockerfile_test.sh SOURCE_DIR
# shellcheck disable=SC2016  # ${SETLIST_VERSION} in the patterns is the Dockerfile's own
set -euo pipefail
src="$1"
file="$src/scripts/container/Dockerfile"
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
# Instructions: comments dropped, continuation lines joined.
instr="$(grep -v '^[[:space:]]*#' "$file" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -v '^[[:space:]]*$')"
while read -r word _; do
  case "$word" in
    FROM | ARG | COPY | RUN | USER | WORKDIR | ENTRYPOINT | CMD | ENV | LABEL) ;;
    *) bad "unknown instruction $word" ;;
  esac
done <<<"$instr"
[ "$(head -n 1 <<<"$instr")" = "FROM debian:12-slim" ] || bad "the base is not debian:12-slim"
version="$(sed -n 's/^project(setlist VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
grep -qx "ARG SETLIST_VERSION=$version" <<<"$instr" || bad "ARG SETLIST_VERSION is not $version"
grep -q '^COPY setlist_${SETLIST_VERSION}_amd64.deb ' <<<"$instr" || bad "the package is not copied in"
grep -q '^RUN .*apt-get install .*/tmp/setlist_${SETLIST_VERSION}_amd64.deb' <<<"$instr" ||
  bad "the package is not installed with apt-get"
user="$(sed -n 's/^USER //p' <<<"$instr" | tail -n 1)"
if [ -z "$user" ] || [ "$user" = root ] || [ "$user" = 0 ]; then bad "the last USER is not a non-root user"; fi
grep -q "useradd .*$user" <<<"$instr" || bad "user $user is not created"
for k in ENTRYPOINT CMD; do
  sed -n "s/^$k //p" <<<"$instr" | python3 -c 'import json,sys; v=json.load(sys.stdin); assert isinstance(v, list)' ||
    bad "$k is not a JSON array (exec form)"
done
[ "$(sed -n 's/^ENTRYPOINT //p' <<<"$instr")" = '["setlist"]' ] || bad "the entry point is not setlist"
[ "$fail" = 0 ] && echo "Dockerfile: debian:12-slim, setlist $version's package installed by apt, user $user"
exit "$fail"
