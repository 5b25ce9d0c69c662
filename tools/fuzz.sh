#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan; LibTorch, built
# by gcc, stays uninstrumented; no torch PCH) into BUILD_DIR and runs each
# for LABRUN_FUZZ_SECONDS (default 25) from its committed corpus
# tests/fuzz/corpus/<target>. New inputs go to BUILD_DIR/corpus/<target>;
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
seconds=${LABRUN_FUZZ_SECONDS:-25}

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
  echo "fuzz: $target for ${seconds}s"
  if ! "$build_dir/bin/fuzz_$target" -max_total_time="$seconds" -timeout=10 \
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
