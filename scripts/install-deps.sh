#!/usr/bin/env bash
# Installs every Debian package lockpipe needs to build, test, benchmark and run its demo.
# Idempotent and quiet when everything is already there. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev
  # required libraries
  libssl-dev openssl libcurl4-openssl-dev libboost-program-options-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
  libopencv-dev opencv-data
  # the field's standard libraries we build on
  nlohmann-json3-dev libcpp-httplib-dev libsqlite3-dev sqlite3 libtomlplusplus-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev openjdk-17-jdk-headless time curl jq bc
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
