#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite: installs packages, builds, runs ctest.
# Without a display the suite runs under Xvfb; OpenGL comes from Mesa's llvmpipe when there is no GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup_deps.sh" --test
"$root/scripts/build.sh"
cd "$root/build"
if [ -z "${DISPLAY:-}" ]; then
    exec xvfb-run -a -s "-screen 0 1600x1000x24" ctest --output-on-failure -j2 "$@"
else
    exec ctest --output-on-failure -j2 "$@"
fi
