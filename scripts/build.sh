#!/usr/bin/env bash
# Configures and builds fmplay (Release, native vector instructions) into build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE="${FMPLAY_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$root/build" -j"$(nproc)"
