#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the running app: installs packages, builds, runs.
# With a display: the GUI. Without one: a headless demo that trains on moons and writes out/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup_deps.sh"
"$root/scripts/build.sh"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    exec "$root/build/fmplay" "$@"
else
    exec "$root/build/fmplay" demo --out "$root/out" "$@"
fi
