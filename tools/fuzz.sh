#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan; LibTorch, built
# by gcc, stays uninstrumented; no torch PCH) into BUILD_DIR and runs each
# from its committed corpus tests/fuzz/corpus/<target> for a fixed number of
# inputs from a fixed seed (LABRUN_FUZZ_SEED, default 1), so that CI repeats
# the same search on any machine instead of failing at random on a new find;
# LABRUN_FUZZ_SECONDS (default 60) bounds each run. Set LABRUN_FUZZ_SEED=0
# (a random seed) and a larger LABRUN_FUZZ_SCALE to search further locally. New inputs go to BUILD_DIR/corpus/<target>;
# a crash, hang, leak or sanitizer report fails the script, leaving the
# input as BUILD_DIR/crash-<target>-*. See docs/RELIABILITY.md.
#   tools/fuzz.sh [BUILD_DIR [TARGET...]]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-fuzz}
shift || true
targets=("$@")
((${#targets[@]})) ||
  targets=(spec coco voc list npy checkpoint image)
seconds=${LABRUN_FUZZ_SECONDS:-60}
seed=${LABRUN_FUZZ_SEED:-1}
scale=${LABRUN_FUZZ_SCALE:-1}
# Inputs per target: about 20 s each on one idle core of the CI machine.
declare -A runs=([spec]=100000 [coco]=80000 [voc]=80000 [list]=100000
  [npy]=100000 [checkpoint]=10000 [image]=60000)

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DLABRUN_FUZZ=ON -DLABRUN_TORCH_PCH=OFF
cmake --build "$build_dir" --target fuzzers --parallel "$(nproc)"

# LibTorch is not instrumented: a container that it grows and instrumented
# code reads looks overflowed to ASan, so that check is off; and a leak in
# LibTorch itself is suppressed (tests/fuzz/lsan.supp says which and why).
# Everything else is on, leaks included. See docs/RELIABILITY.md.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_container_overflow=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# OpenCV decodes up to 2^30 pixels by default (3 GiB, over the fuzzers' RSS
# limit); the JPEG path refuses more than 2^28 itself, so OpenCV's formats
# get the same limit here.
export OPENCV_IO_MAX_IMAGE_PIXELS=$((1 << 28))
for target in "${targets[@]}"; do
  work="$build_dir/corpus/$target"
  mkdir -p "$work"
  log="$build_dir/fuzz-$target.log"
  echo "fuzz: $target, $((runs[$target] * scale)) inputs from seed $seed"
  if ! "$build_dir/bin/fuzz_$target" -seed="$seed" \
    -runs=$((runs[$target] * scale)) -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build_dir/crash-$target-" \
    "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $target failed; the input is in $build_dir/crash-$target-*" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "$log" |
    sed "s/^stat::number_of_executed_units:/fuzz: $target: executions:/"
done
