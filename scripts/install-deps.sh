#!/usr/bin/env bash
# Installs every build and test dependency of setlist from Debian packages.
# Idempotent: when everything is present it only runs dpkg-query and exits.
# --chroot-check adds debootstrap (scripts/chroot-check.sh).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # libraries (Boost 1.81: Asio/Beast headers, JSON and URL compiled libs)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libyaml-cpp-dev libssl-dev libsqlite3-dev
  libfmt-dev libcli11-dev libtag1-dev
  # audio analysis (#19): libsndfile decodes MP3/WAV/FLAC (MP3 through mpg123)
  # and encodes the simulator's audio; libebur128 is the reference EBU R128
  # implementation (integrated loudness, loudness range, true peak)
  libsndfile1-dev libebur128-dev
  # tests
  libgtest-dev libgmock-dev openssl procps
  # output tests: an independent ID3 reader and a headless browser for report.html
  eyed3 chromium
  # WAV tags read back by independent readers (mutagen; ffprobe from ffmpeg),
  # and real encoder output (ffmpeg) for the audio file check
  python3-mutagen ffmpeg
  # benchmarks (and their smoke test): the peers a user would script by hand
  curl jq
  # bench/manifest_bench.sh: PyYAML's C loader as the yardstick, GNU time for peak RSS
  python3-yaml time bc
  # the man page and package checks (tests/doc/): groff and man render setlist(1),
  # dpkg-dev has dpkg-shlibdeps for CPack
  groff-base man-db dpkg-dev
)
# scripts/chroot-check.sh (a clean Debian 12 root for the package): only when asked.
if [ "${1:-}" = --chroot-check ]; then
  PACKAGES+=(debootstrap)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
