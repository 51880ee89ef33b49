#!/usr/bin/env bash
# The window under Xvfb for a given time, switching every setting, importing, drawing, exporting
# and resetting in cycles (--script), with a "soak:" line a minute (frames, median and p95 frame
# time, resident memory, heap in use, training steps). Ends with the memory figures docs/RELIABILITY.md quotes.
# Usage: bench/soak.sh [MINUTES=60] [OUT_DIR=out/soak]      (needs build/fmplay: scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-60}
out=$(mkdir -p "${2:-$root/out/soak}" && cd "${2:-$root/out/soak}" && pwd)
fmplay="${FMPLAY:-$root/build/fmplay}"
data="$root/tests/data"

# One cycle of actions, one every `gap` frames (~3 s at the ~25 fps of llvmpipe on 2 cores).
actions=(
    "target=8gaussians" "views=particles,arrows,targets,grid" "solver=rk4" "steps=8" "path=vp"
    "coupling=ot" "time=0.3" "play=1" "views=paths,trails,heatmap,sources" "lr=0.003" "batch=512"
    "import_text=FLOW" "target=drawn" "draw_which=target" "drawmode=on" "draw=-1,-1,1,1"
    "erase=0,0,1,1" "undo=1" "redo=1" "import_csv=$data/header.csv"
    "import_image=$data/import/valid_gray.png" "export_csv=$out/drawn.csv" "clear=1" "drawmode=off"
    "source=uniform" "target=moons" "export=$out/clip.mp4" "figure=$out/figure.png" "reset=1"
    "width=64" "depth=2" "coupling=independent" "path=condot" "solver=midpoint" "steps=20"
    "views=particles,exact,targets,grid" "source=normal" "train=off" "train=on" "batch=256"
    "lr=0.002" "width=128" "depth=3" "views=particles,targets,grid,bymode")
gap=80
frames=$((minutes * 60 * 60))  # an upper bound (60 fps); --seconds ends the run
script=""
frame=100
while [ "$frame" -lt "$frames" ]; do
    for a in "${actions[@]}"; do
        script+="$frame:$a;"
        frame=$((frame + gap))
    done
done

log="$out/soak.log"
echo "soak: $minutes min, a cycle of ${#actions[@]} actions every $((gap * ${#actions[@]})) frames; log in $log" >&2
xvfb-run -a -s "-screen 0 1600x1000x24" "$fmplay" --frames "$frames" --seconds "$((minutes * 60))" \
    --report-every 60 --report --width 1400 --height 860 --script "${script%;}" >"$log" 2>&1
python3 - "$log" <<'PY'
import re, sys
rows = [tuple(float(x) for x in m.groups()) for m in
        re.finditer(r"soak: t=(\S+) s frames=(\d+) median=(\S+) ms p95=(\S+) ms rss=(\S+) MB heap=(\S+) MB", open(sys.argv[1]).read())]
if len(rows) < 3:
    sys.exit("soak: too few report lines in " + sys.argv[1])
warm = [r for r in rows if r[0] > 300] or rows[len(rows) // 2:]  # after 5 minutes of warm-up
t = [r[0] / 3600 for r in warm]; rss = [r[4] for r in warm]
n = len(t); mt = sum(t) / n; mr = sum(rss) / n
slope = sum((a - mt) * (b - mr) for a, b in zip(t, rss)) / max(1e-12, sum((a - mt) ** 2 for a in t))
k = max(1, n // 6)
first, last = sum(rss[:k]) / k, sum(rss[-k:]) / k
med = sorted(r[2] for r in rows); p95 = sorted(r[3] for r in rows)
print(f"soak: {rows[-1][0] / 60:.0f} min, {sum(r[1] for r in rows):.0f} frames")
heap = [r[5] for r in warm]
hfirst, hlast = sum(heap[:k]) / k, sum(heap[-k:]) / k
print(f"memory after warm-up: resident {min(rss):.0f}..{max(rss):.0f} MB, first sixth {first:.0f} MB, last sixth {last:.0f} MB, trend {slope:+.1f} MB/hour")
print(f"heap in use after warm-up: {min(heap):.0f}..{max(heap):.0f} MB, first sixth {hfirst:.0f} MB, last sixth {hlast:.0f} MB")
print(f"frame time per minute: median {med[len(med) // 2]:.1f} ms (range {med[0]:.1f}..{med[-1]:.1f}), p95 {p95[len(p95) // 2]:.1f} ms (worst minute {p95[-1]:.1f})")
PY
tail -n 20 "$log" | grep -E '^(frames|training steps|training resets|dataset swaps|divergences):' || true
