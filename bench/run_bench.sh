#!/usr/bin/env bash
# Runs `fmplay bench` and our tuned PyTorch baseline back to back on this machine (2 threads each)
# and writes BENCHMARKS.md with the ratios. Usage: bench/run_bench.sh [--quick]
#   --quick: fewer rows and shorter timings (a smoke run; the committed BENCHMARKS.md uses the full run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${FMPLAY_PEERS:-$root/../shared/peers}
quick=0
[ "${1:-}" = "--quick" ] && quick=1
"$root/scripts/build.sh" >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ $quick = 1 ]; then
    fm_args=(--widths 128 --batches 256,4096 --particles 100000 --seconds 0.5 --cnf-seconds 3)
    torch_args=(--widths 128 --batches 256,4096 --acts silu --infer-n 100000 --infer-acts silu
                --gemm 1024 --target-time 0.5 --repeats 2)
else
    fm_args=(--seconds 2 --cnf-seconds 20)
    torch_args=(--acts silu --infer-acts silu --target-time 2 --repeats 3)
fi

echo "== fmplay bench (2 threads)" >&2
"$root/build/fmplay" bench --threads 2 --json "${fm_args[@]}" | tee "$out/fmplay.jsonl" >&2
echo "== PyTorch baseline (2 threads)" >&2
THREADS=2 bash "$peers/run_torch_baseline.sh" "${torch_args[@]}" | tee "$out/torch.txt" >&2
echo "== GUI frame times (20k particles, training on the CPU engine)" >&2
gui_frames=$([ $quick = 1 ] && echo 200 || echo 600)
if [ -n "${DISPLAY:-}" ]; then
    "$root/build/fmplay" --frames "$gui_frames" --width 1400 --height 860 --report | tee "$out/gui.txt" >&2
else
    xvfb-run -a -s "-screen 0 1600x1000x24" "$root/build/fmplay" --frames "$gui_frames" --width 1400 \
        --height 860 --report | tee "$out/gui.txt" >&2
fi
extra=(--gui "$out/gui.txt")
if [ -x "$root/bench/export_bench.sh" ]; then
    echo "== Video export (5 s, 1280x720, 30 fps, 20k particles and arrows)" >&2
    "$root/bench/export_bench.sh" "$out/export.json" >&2 && extra+=(--export "$out/export.json")
fi
python3 "$root/bench/make_report.py" "$out/fmplay.jsonl" "$out/torch.txt" "${extra[@]}" \
    > "$root/BENCHMARKS.md.tmp"
mv "$root/BENCHMARKS.md.tmp" "$root/BENCHMARKS.md"
echo "wrote $root/BENCHMARKS.md" >&2
