#!/usr/bin/env bash
# On the GPU machine: the shared GPU check (GL engine vs PyTorch CUDA, test_gl_engine, the 1M export), then every
# other GL agreement test on the real driver, under its strict debug log. Prepare here, from the project root:
#     bash ../shared/gpu/make_bundle.sh test_gl_wide test_gl_transfers test_gl_sinkhorn test_divergence \
#         test_likelihood_engine test_gpu_particles test_sde_sampler test_classes
#     cp bench/gpu_check_all.sh .devbundle/
# then one device run: `bash .devbundle/gpu_check_all.sh`, carry [".devbundle"], timeout ~540 s.
# Logs go to $OUT (or /tmp/out), one file per test; arguments go to `fmplay bench`.
set -u
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
bash "$here/gpu_check.sh" "$@"
# The shared script unpacked the libraries and the glvnd packages; the tests need the same loader setup.
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export LD_LIBRARY_PATH=/tmp/fm/lib
cd "$here"
echo "== the other GL agreement tests on this driver"
for t in test_gl_wide test_gl_transfers test_gl_sinkhorn test_divergence test_likelihood_engine \
         test_gpu_particles test_sde_sampler test_classes; do
    [ -x "./$t" ] || { echo "$t: not in the bundle"; continue; }
    timeout 90 "./$t" > "$OUT/$t.txt" 2>&1
    echo "$t rc=$? $(grep -E '^\[doctest\] (test cases|assertions)' "$OUT/$t.txt" | tr '\n' ' ')"
done
# The entropic plans' cost on this GPU: one plan's latency, and Sinkhorn / SB training beside independent.
echo "== couplings (W128 B256) and one 256 x 256 plan on the GPU"
timeout 60 ./fmplay bench --engines gl --skip train,infer,likelihood,instruments,reflow --seconds 0.5 \
  2>&1 | tee "$OUT/fmplay_couplings.txt"
