#!/usr/bin/env bash
# Runs the PyTorch reference of `fmplay eval` (tuned like run_torch_baseline.sh). Usage: bench/run_torch_eval.sh [torch_eval_reference.py options]   e.g. --seeds 3 --out docs/eval/
# Installs what is missing through apt (python3-torch, python3-numpy, python3-scipy,
# libopenblas0-openmp), selects OpenBLAS with OpenMP, its AVX-512 kernels and large malloc
# thresholds (without them numpy's per-step 256 x 256 cost matrices are re-faulted from the OS,
# which made the couplings several times slower), and runs the script on THREADS (default 2)
# threads with the Debian interpreter. Writes OUT/torch_eval.csv and OUT/torch_eval.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
need=()
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
/usr/bin/python3 -c 'import scipy.optimize' 2>/dev/null || need+=(python3-scipy)
[ -d /usr/lib/x86_64-linux-gnu/openblas-openmp ] || need+=(libopenblas0-openmp)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else echo "run: sudo apt-get install -y ${need[*]}" >&2; exit 1; fi
fi
core=$(grep -q avx512f /proc/cpuinfo && echo Cooperlake || echo Haswell)
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OPENBLAS_CORETYPE=$core
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296
exec /usr/bin/python3 -u "$here/torch_eval_reference.py" --threads "${THREADS:-2}" "$@"
