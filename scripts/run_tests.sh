#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite: installs packages, builds, runs ctest,
# then the sanitized half (scripts/run_sanitized.sh: the core and the loaders under ASan + UBSan, and the
# fuzz targets). Without a display the suite runs under Xvfb; OpenGL comes from Mesa's llvmpipe when there
# is no GPU. FMPLAY_SKIP_SANITIZED=1 runs ctest alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup_deps.sh" --test
"$root/scripts/build.sh"
cd "$root/build"
if [ -z "${DISPLAY:-}" ]; then
    # -noreset: Xvfb otherwise restarts whenever its last client leaves, and a window opening
    # during that restart fails to connect.
    xvfb-run -a -s "-screen 0 1600x1000x24 -noreset" ctest --output-on-failure -j2 "$@"
else
    ctest --output-on-failure -j2 "$@"
fi
if [ "${FMPLAY_SKIP_SANITIZED:-0}" != 1 ]; then
    "$root/scripts/run_sanitized.sh"
fi
