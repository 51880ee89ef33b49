#!/usr/bin/env bash
# Times the export of a trained model: a 5 s, 1280x720, 30 fps MP4 of 20k particles with velocity
# arrows. The model is trained first with `fmplay train` (not timed); the timed part is the whole
# `fmplay render --model` process: GL context, particle integration, 150 offscreen frames,
# overlays and H.264 encoding. Writes {"description", "seconds", "frames", ...} for
# bench/make_report.py --export (bench/run_bench.sh reads it through FMPLAY_EXPORT_JSON).
# Usage: bench/export_bench.sh [OUT.json]   (default: bench/export_bench.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
json=${1:-$root/bench/export_bench.json}
fmplay=${FMPLAY:-$root/build/fmplay}
[ -x "$fmplay" ] || "$root/scripts/build.sh" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== training the model (not timed)" >&2
"$fmplay" train --target moons --source normal --steps 3000 --width 128 --depth 3 --engine cpu \
    --quiet --out "$work/run" >&2

load_before=$(cut -d' ' -f1 /proc/loadavg)
echo "== exporting (timed)" >&2
start=$(date +%s.%N)
"$fmplay" render --model "$work/run/model.json" --engine cpu --resolution 720p --fps 30 --duration 5 \
    --particles 20000 --views particles,arrows,targets,grid --out "$work/clip.mp4" --profile --quiet \
    2> "$work/profile.txt"
end=$(date +%s.%N)
load_after=$(cut -d' ' -f1 /proc/loadavg)
cat "$work/profile.txt" >&2
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of default=nw=1:nk=1 "$work/clip.mp4")
seconds=$(python3 -c "print(round($end - $start, 3))")
profile=$(grep '^profile:' "$work/profile.txt" | sed 's/^profile: //' || true)
python3 - "$json" <<PY
import json, sys
json.dump({
    "description": "fmplay render of a trained model (3x128 SiLU, moons): 5 s 1280x720 30 fps H.264, "
                   "20k particles + arrows, $(nproc) cores, llvmpipe; load average $load_before before, $load_after after",
    "seconds": $seconds,
    "frames": $frames,
    "profile": "$profile",
    "load_average": [$load_before, $load_after],
}, open(sys.argv[1], "w"), indent=1)
PY
echo "export: $seconds s for $frames frames (load average $load_before -> $load_after); wrote $json" >&2
