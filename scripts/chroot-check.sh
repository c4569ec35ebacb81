#!/usr/bin/env bash
# Issue #17's "done when", on a clean Debian 12: installs the built package
# into a fresh minimal Debian 12 (bookworm) root and, as a non-root user with
# a clean PATH and no build tree, runs README's commands copied from README.md.
#
#   scripts/chroot-check.sh DIR [DEB]      (also: scripts/package.sh --chroot-check DIR [DEB])
#
#   DIR  an absent or empty folder: the Debian root is made there and removed
#        at the end (SETLIST_CHROOT_KEEP=1 keeps it, unmounted, to look inside)
#   DEB  the package (default build-package/setlist_*_amd64.deb from scripts/package.sh)
#
# Steps: debootstrap --variant=minbase bookworm (from a tarball cached under
# ${SETLIST_CHROOT_CACHE:-~/.cache/setlist}, so only the first run downloads),
# `apt-get install ./setlist_*.deb` inside it (apt pulls in the dependencies
# the package declares, and only those), then as user `listener` with
# `env -i PATH=/usr/bin:/bin`: `setlist --version`, `setlist --help`,
# `setlist-sim --help`, every fenced block after a <!-- package-check -->
# line in README.md verbatim (the example album against setlist-sim on a
# loopback port 0), and `setlist verify out/demo-album`.
# Needs root (debootstrap, chroot, mount) and Debian's mirror (the first
# URI for bookworm in /etc/apt/sources.list*, or SETLIST_DEBIAN_MIRROR).
# Not in CTest: it takes minutes and needs root and the network.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
usage() { echo "usage: scripts/chroot-check.sh DIR [DEB]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
[ "$(id -u)" = 0 ] || { echo "chroot check: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
dir="$1"
deb="${2:-}"
if [ -z "$deb" ]; then
  deb="$(ls "$root"/build-package/setlist_*_amd64.deb 2>/dev/null | head -n 1 || true)"
  [ -n "$deb" ] || { echo "chroot check: no build-package/setlist_*_amd64.deb; run scripts/package.sh first" >&2; exit 2; }
fi
deb="$(readlink -f "$deb")"
[ -f "$deb" ] || { echo "chroot check: no such package: $deb" >&2; exit 2; }
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
  echo "chroot check: $dir is not empty; give an absent or empty folder" >&2
  exit 2
fi
mkdir -p "$dir"
dir="$(readlink -f "$dir")"
[ "$dir" != / ] || usage

"$root/scripts/install-deps.sh" --chroot-check   # debootstrap, only for this check

mirror="${SETLIST_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # deb822 (URIs: + Suites:) or one-line (deb URI bookworm ...) sources.
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }
         $1 == "URIs:" { uri = $2 }
         $1 == "Suites:" && uri != "" { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print uri; exit } }' || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi
mirror="${mirror%/}"
cache_dir="${SETLIST_CHROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/setlist}"
tarball="$cache_dir/bookworm-minbase-amd64.tgz"
mkdir -p "$cache_dir"

start=$(date +%s)
mounted=()
cleanup() {
  local status=$? m i
  [ "$status" = 0 ] || echo "chroot check: stopped with status $status (logs in $cache_dir)" >&2
  # Processes the commands left in the root (none, normally), then the mounts,
  # innermost first; the folder is removed only with nothing mounted inside.
  for i in $(seq $(( ${#mounted[@]} - 1 )) -1 0); do
    m="${mounted[$i]}"
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "chroot check: could not unmount $m" >&2
  done
  if awk -v d="$dir/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    echo "chroot check: something is still mounted under $dir; left in place" >&2
  elif [ "${SETLIST_CHROOT_KEEP:-0}" = 1 ]; then
    echo "chroot check: kept $dir"
  else
    rm -rf --one-file-system "$dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. A minimal Debian 12, from the cached tarball of its packages.
if [ ! -s "$tarball" ]; then
  echo "chroot check: downloading Debian 12 minbase from $mirror into $tarball (once)"
  work="$(mktemp -d "$cache_dir/work.XXXXXX")"
  debootstrap --variant=minbase --arch=amd64 --make-tarball="$tarball.part" bookworm "$work" "$mirror" \
    >"$cache_dir/make-tarball.log" 2>&1 || { tail -n 20 "$cache_dir/make-tarball.log" >&2; rm -rf "$work"; exit 1; }
  rm -rf "$work"
  mv "$tarball.part" "$tarball"
fi
echo "chroot check: debootstrap --variant=minbase bookworm into $dir"
debootstrap --variant=minbase --arch=amd64 --unpack-tarball="$tarball" bookworm "$dir" "$mirror" \
  >"$cache_dir/debootstrap.log" 2>&1 || { tail -n 20 "$cache_dir/debootstrap.log" >&2; exit 1; }
echo "chroot check: Debian $(cat "$dir/etc/debian_version") root made in $(( $(date +%s) - start )) s"

# What a fresh Debian 12 lists: the release, its updates and security.
cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror}-security bookworm-security main
EOF
# /proc for apt and dpkg's scripts; /dev only if debootstrap could not make its nodes.
mount -t proc proc "$dir/proc" && mounted+=("$dir/proc")
if [ ! -c "$dir/dev/null" ]; then
  mount --bind /dev "$dir/dev" && mounted+=("$dir/dev")
fi
cp /etc/resolv.conf "$dir/etc/resolv.conf"   # Debian's mirror by name

# 2. The package, with what it declares and nothing else (no Recommends).
cp "$deb" "$dir/tmp/"
in_root=(chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8)
"${in_root[@]}" apt-get update -qq
echo "chroot check: apt-get install ./$(basename "$deb")"
"${in_root[@]}" sh -c "cd /tmp && apt-get install -y -qq --no-install-recommends ./$(basename "$deb")" \
  >"$cache_dir/apt-install.log" 2>&1 || { tail -n 30 "$cache_dir/apt-install.log" >&2; exit 1; }
grep -E '^(Setting up|Unpacking) ' "$cache_dir/apt-install.log" | sed -n 's/^Setting up \([^ ]*\).*/\1/p' |
  tr '\n' ' ' | fold -s -w 100 | sed 's/^/    installed: /'
echo
"${in_root[@]}" useradd --create-home --shell /bin/bash listener

# 3. As the user, from a clean PATH, in an empty home: README's commands verbatim.
block="$(awk '/^<!-- package-check -->/ {want=1; next}
              /^```/ {if (inside) {inside=0} else if (want) {inside=1; want=0}; next}
              inside' "$root/README.md")"
[ -n "$block" ] || { echo "chroot check: README.md has no block after <!-- package-check -->" >&2; exit 1; }
cat >"$dir/home/listener/check.sh" <<EOF
set -euo pipefail
cd "\$HOME"
echo "+ command -v setlist setlist-sim"; command -v setlist setlist-sim
echo "+ setlist --version"; setlist --version
echo "+ setlist --help | head -n 3"; setlist --help >help.txt; head -n 3 help.txt
echo "+ setlist-sim --help | head -n 1"; setlist-sim --help >sim-help.txt; head -n 1 sim-help.txt
echo "+ README's commands:"
mkdir readme && cd readme
trap 'kill \$(jobs -p) 2>/dev/null || true' EXIT
$block
echo "+ setlist verify out/demo-album"; setlist verify out/demo-album
EOF
chmod 644 "$dir/home/listener/check.sh"
uid="$("${in_root[@]}" id -u listener)"
echo "chroot check: as listener (uid $uid), env -i PATH=/usr/bin:/bin, README's commands:"
sed 's/^/    /' <<<"$block"
fail=0
chroot --userspec="$uid:$uid" "$dir" env -i PATH=/usr/bin:/bin HOME=/home/listener LANG=C.UTF-8 \
  timeout 300 bash /home/listener/check.sh >"$cache_dir/user.log" 2>&1 || fail=1
sed 's/^/    | /' "$cache_dir/user.log"
album="$dir/home/listener/readme/out/demo-album"
want="$(grep -c '^  - title:' "$dir/usr/share/setlist/jobs/demo-album.yaml")"
got="$(find "$album" -maxdepth 1 \( -name '*.mp3' -o -name '*.wav' \) 2>/dev/null | wc -l)"
[ -f "$album/report.html" ] || { echo "chroot check: FAIL: no report.html in the album" >&2; fail=1; }
[ "$got" -ge "$want" ] || { echo "chroot check: FAIL: $got audio files for $want songs" >&2; fail=1; }
[ -f "$dir/etc/ssl/certs/ca-certificates.crt" ] ||
  { echo "chroot check: FAIL: no CA certificates: the real API's HTTPS could not be verified" >&2; fail=1; }
if [ "$fail" = 0 ]; then
  echo "chroot check: PASS: $(basename "$deb") on Debian $(cat "$dir/etc/debian_version"): $got audio files," \
    "report.html, verify clean, $(( $(date +%s) - start )) s in all"
else
  echo "chroot check: FAIL after $(( $(date +%s) - start )) s (logs in $cache_dir)" >&2
fi
exit "$fail"
