#!/usr/bin/env bash
# Installs the Debian 12 packages fmplay builds, runs and tests with; prints the apt-get line when not root.
# Usage: scripts/setup_deps.sh [--test]   (--test adds the packages the test suite needs: Xvfb, ffprobe,
# clang with its sanitizer and libFuzzer runtimes, glslangValidator)
set -euo pipefail

pkgs=(build-essential cmake pkg-config python3 python3-glad
      libeigen3-dev doctest-dev nlohmann-json3-dev libcli11-dev libstb-dev liblemon-dev
      libpng-dev libjpeg62-turbo-dev libgif-dev libmd4c-dev
      libimgui-dev libglfw3-dev libegl-dev libgl-dev libegl-mesa0 libgl1-mesa-dri
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev fonts-dejavu-core)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(xvfb xauth ffmpeg clang libclang-rt-14-dev glslang-tools)
fi

missing=()
for p in "${pkgs[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "fmplay: installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "fmplay: run this once, then try again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
