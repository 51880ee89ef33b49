#!/usr/bin/env bash
# The sanitized half of the test suite (run by scripts/run_tests.sh): the core, the loaders and
# the fuzz targets built with clang's AddressSanitizer + UndefinedBehaviorSanitizer in
# build-sanitize/; runs the core tests (the GL and window code stays out: docs/RELIABILITY.md) and
# every fuzz target for FMPLAY_FUZZ_RUNS inputs per loader (default 20000), each input limited to
# 2 s. Fails on a test failure, a crash, a sanitizer report, a hang or a non-input error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-sanitize"
runs="${FMPLAY_FUZZ_RUNS:-20000}"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFMPLAY_SANITIZE=ON >/dev/null
tests=(test_brush test_coupling test_dataset test_file_io test_marginal_velocity test_messages
       test_metrics test_mlp test_ode_solver test_optimizer test_point_import test_point_io
       test_probability_path test_training test_export_settings test_model_file
       test_posterior_lens test_loss_gap test_error_map test_likelihood test_solver_lab
       test_cnf_training test_reflow test_sinkhorn test_classes)
fuzzers=(fuzz_points_csv fuzz_model_file fuzz_scene fuzz_image fuzz_text fuzz_lesson fuzz_session)
cmake --build "$build" -j"$(nproc)" --target "${tests[@]}" "${fuzzers[@]}"

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
echo "== sanitized tests (ASan + UBSan)"
for t in "${tests[@]}"; do
    if ! out=$("$build/$t" 2>&1); then
        echo "$out" | tail -n 60
        echo "FAILED under the sanitizers: $t" >&2
        exit 1
    fi
    echo "$t: $(echo "$out" | grep -E '^\[doctest\] (test cases|assertions)' | tr '\n' ' ')"
done

# One fuzz run: target, then seed files or folders. New inputs go to a scratch folder, so the
# committed corpora never change.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fuzz() {
    local name=$1 target=$2
    shift 2
    local seeds="$work/seeds-$name" out="$work/out-$name"
    mkdir -p "$seeds" "$out"
    for s in "$@"; do
        if [ -d "$s" ]; then cp "$s"/* "$seeds"/ 2>/dev/null || true; else cp "$s" "$seeds"/; fi
    done
    local log="$work/$name.log"
    if ! (cd "$work" && "$build/$target" -runs="$runs" -timeout=2 -rss_limit_mb=2048 -seed=1 \
            -max_len=65536 -dict="$root/tests/fuzz/json.dict" -print_final_stats=1 \
            "$out" "$seeds" >"$log" 2>&1); then
        tail -n 60 "$log"
        echo "FUZZ FAILED: $name (the input that failed is in the log above; reproduce with" \
             "$build/$target <file>)" >&2
        exit 1
    fi
    echo "$name: $(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}') inputs, no crash, hang or non-input error"
}
echo "== fuzzing, $runs inputs per loader"
data="$root/tests/data"
fuzz points_csv fuzz_points_csv "$data"/*.csv "$data"/*.tsv "$data"/*.txt
fuzz model_file fuzz_model_file "$root/tests/fuzz/corpus/model_file"
fuzz scene fuzz_scene "$root/tests/fuzz/corpus/scene"
fuzz text fuzz_text "$root/tests/fuzz/corpus/text"
fuzz lesson fuzz_lesson "$root/assets/lessons"
fuzz session fuzz_session "$root/tests/fuzz/corpus/session"
fuzz image_png fuzz_image "$data"/import/*.png
fuzz image_jpeg fuzz_image "$data"/import/*.jpg
fuzz image_gif fuzz_image "$data"/import/*.gif
fuzz image_bmp fuzz_image "$data"/import/*.bmp
