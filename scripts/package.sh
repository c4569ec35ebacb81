#!/usr/bin/env bash
# Builds the Debian package and proves it works without a build tree.
#   scripts/package.sh                 build Release into build-package/, make
#                                      build-package/setlist_<version>_amd64.deb, then --check it
#   scripts/package.sh --chroot-check DIR [DEB]
#                                      the same on a clean Debian 12 root made in DIR
#                                      (debootstrap, apt-get install, README's commands
#                                      as a non-root user): scripts/chroot-check.sh
#   scripts/package.sh --check DEB     check a built package (what CI and the test suite call):
#     1. its control file names the package, version and architecture, and
#        declares a dependency on the Debian package of every shared library
#        the two programs load;
#     2. its files, unpacked into a temporary root (dpkg -x), include the man
#        page, the bash completion and the examples, and from a clean PATH
#        `setlist --version` and `setlist-sim --help` run with no build tree;
#     3. README's "Install" commands, copied from README.md (the block after
#        its <!-- package-check --> marker) with /usr/ pointing into that
#        root, produce the example album against the packaged simulator.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

check() {
  local deb="$1" fail=0
  bad() { echo "package check: FAIL: $*" >&2; fail=1; }
  [ -f "$deb" ] || { echo "package check: no such file: $deb" >&2; return 1; }
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN

  # 1. The control file.
  local version
  version="$(sed -n 's/^project(setlist VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
  [ "$(dpkg-deb -f "$deb" Package)" = setlist ] || bad "Package is not setlist"
  [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || bad "Version $(dpkg-deb -f "$deb" Version), not $version"
  [ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || bad "Architecture is not amd64"
  [ "$(basename "$deb")" = "setlist_${version}_amd64.deb" ] || bad "file name $(basename "$deb")"
  local depends
  depends="$(dpkg-deb -f "$deb" Depends)"
  echo "package check: Depends: $depends"
  dpkg -x "$deb" "$tmp/root"
  local declared indirect
  declared="$(tr ',' '\n' <<<"$depends" | awk '{print $1}')"
  # shellcheck disable=SC2086  # one argument per package
  indirect="$(dpkg-query -W -f='${Depends}\n' $declared 2>/dev/null | tr ',|' '\n\n' | awk '{print $1}' | sed 's/:.*//' || true)"
  local prog lib path pkg
  for prog in setlist setlist-sim; do
    [ -x "$tmp/root/usr/bin/$prog" ] || { bad "usr/bin/$prog missing"; continue; }
    # Every library the program links (NEEDED; what those load is their
    # packages' business), its Debian package, named in Depends.
    while read -r lib path; do
      [ -n "$path" ] || { bad "$prog needs $lib, which is not found"; continue; }
      pkg="$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1 || true)"
      [ -n "$pkg" ] || pkg="$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1 || true)"
      [ -n "$pkg" ] || { bad "no Debian package owns $path ($prog needs $lib)"; continue; }
      # Named in Depends, or by one named there (libtag1v5 -> libtag1v5-vanilla).
      grep -qxF "$pkg" <<<"$declared" || grep -qxF "$pkg" <<<"$indirect" ||
        bad "$prog loads $lib from $pkg, which Depends does not name"
    done < <(ldd "$tmp/root/usr/bin/$prog" | awk '$2 == "=>" { print $1, ($3 == "not" ? "" : $3) }' |
      grep -F -f <(objdump -p "$tmp/root/usr/bin/$prog" | awk '$1 == "NEEDED" { print $2 " " }'))
  done

  # 2. The files, and the programs from a clean PATH.
  local f
  for f in usr/share/man/man1/setlist.1 usr/share/bash-completion/completions/setlist \
    usr/share/setlist/jobs/demo-album.yaml usr/share/setlist/jobs/sim/happy.yaml usr/share/doc/setlist/README.md; do
    [ -f "$tmp/root/$f" ] || [ -f "$tmp/root/$f.gz" ] || bad "$f missing"
  done
  local clean=(env -i "PATH=$tmp/root/usr/bin:/usr/bin:/bin" "HOME=$tmp/home" LANG=C.UTF-8)
  mkdir -p "$tmp/home" "$tmp/work"
  local out
  [ "$("${clean[@]}" bash -c 'command -v setlist')" = "$tmp/root/usr/bin/setlist" ] || bad "setlist is not the packaged one"
  out="$("${clean[@]}" setlist --version)" || bad "setlist --version failed"
  grep -qE "^setlist $version \(git ([0-9a-f]{12}(-dirty)?|unknown)\)$" <<<"$out" || bad "setlist --version said: $out"
  echo "package check: $out"
  out="$("${clean[@]}" setlist-sim --help)" || bad "setlist-sim --help failed"
  grep -q "^Usage: setlist-sim" <<<"$out" || bad "setlist-sim --help does not name itself"
  out="$(MANWIDTH=80 man -l "$tmp/root/usr/share/man/man1/setlist.1"* 2>&1 | head -n 5)" || true
  grep -q "setlist - generate whole albums" <<<"$out" || bad "man page does not render: $out"

  # 3. README's commands, verbatim but for where the package's /usr/ is.
  # Every fenced block that follows a <!-- package-check --> line, in order.
  local block
  block="$(awk '/^<!-- package-check -->/ {want=1; next}
                /^```/ {if (inside) {inside=0} else if (want) {inside=1; want=0}; next}
                inside' "$root/README.md")"
  [ -n "$block" ] || bad "README.md has no block after <!-- package-check -->"
  block="${block//\/usr\//$tmp/root/usr/}"
  echo "package check: running README's commands in a clean environment:"
  sed 's/^/    /' <<<"$block"
  # A background program the commands leave behind is stopped at the end.
  if (cd "$tmp/work" && timeout 300 "${clean[@]}" bash -euo pipefail -c \
    "trap 'kill \$(jobs -p) 2>/dev/null || true' EXIT"$'\n'"$block" >"$tmp/readme.out" 2>&1); then
    local album="$tmp/work/out/demo-album"
    [ -f "$album/report.html" ] || bad "README's commands made no $album/report.html"
    local want got
    want="$(grep -c '^  - title:' "$tmp/root/usr/share/setlist/jobs/demo-album.yaml")"
    got="$(find "$album" -maxdepth 1 \( -name '*.mp3' -o -name '*.wav' \) | wc -l)"
    [ "$got" -ge "$want" ] || bad "the album has $got audio files for $want songs"
    echo "package check: README's commands made the demo album: $got audio files, report.html"
  else
    bad "README's commands failed:"
    cat "$tmp/readme.out" >&2
  fi
  [ "$fail" = 0 ] && echo "package check: $deb is good"
  return "$fail"
}

if [ "${1:-}" = --chroot-check ]; then
  shift
  exec "$root/scripts/chroot-check.sh" "$@"
fi
if [ "${1:-}" = --check ]; then
  [ $# -eq 2 ] || { echo "usage: scripts/package.sh --check DEB" >&2; exit 2; }
  check "$(readlink -f "$2")"
  exit $?
fi
[ $# -eq 0 ] || { echo "usage: scripts/package.sh [--check DEB | --chroot-check DIR [DEB]]" >&2; exit 2; }

"$root/scripts/install-deps.sh"
build="$root/build-package"
export CCACHE_NOHASHDIR=1
# Release, installed under /usr; only the programs and the man page (no tests).
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)"
(cd "$build" && cpack -G DEB >/dev/null)
deb="$(ls "$build"/setlist_*_amd64.deb)"
check "$deb"
echo "package: $deb"
