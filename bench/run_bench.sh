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
    fm_args=(--widths 128 --batches 256,4096 --particles 100000 --seconds 0.5)
    torch_args=(--widths 128 --batches 256,4096 --acts silu --infer-n 100000 --infer-acts silu
                --gemm 1024 --target-time 0.5 --repeats 2)
else
    fm_args=(--seconds 2)
    torch_args=(--acts silu --infer-acts silu --target-time 2 --repeats 3)
fi

echo "== fmplay bench (2 threads)" >&2
"$root/build/fmplay" bench --threads 2 --json "${fm_args[@]}" | tee "$out/fmplay.jsonl" >&2
echo "== PyTorch baseline (2 threads)" >&2
THREADS=2 bash "$peers/run_torch_baseline.sh" "${torch_args[@]}" | tee "$out/torch.txt" >&2
python3 "$root/bench/make_report.py" "$out/fmplay.jsonl" "$out/torch.txt" \
    ${FMPLAY_EXPORT_JSON:+--export "$FMPLAY_EXPORT_JSON"} > "$root/BENCHMARKS.md.tmp"
mv "$root/BENCHMARKS.md.tmp" "$root/BENCHMARKS.md"
echo "wrote $root/BENCHMARKS.md" >&2
