#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan; LibTorch, built
# by gcc, stays uninstrumented; no torch PCH) into BUILD_DIR, then either
# replays or searches. See docs/RELIABILITY.md.
#   tools/fuzz.sh replay [BUILD_DIR [TARGET...]]
#     What CI runs: every input of the committed corpus
#     tests/fuzz/corpus/<target> once, nothing generated. Same code, same
#     verdict, on any machine.
#   tools/fuzz.sh search [BUILD_DIR [TARGET...]]
#     The open-ended search: from the committed corpus, LABRUN_FUZZ_SECONDS
#     (default 300) per target, seed LABRUN_FUZZ_SEED (default 0: random).
#     New inputs go to BUILD_DIR/corpus/<target>; a crash, hang, leak or
#     sanitizer report stops it, leaving the input as
#     BUILD_DIR/crash-<target>-*. Not for CI: what it finds depends on time,
#     speed and luck.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case $mode in
  replay | search) shift ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
build_dir=${1:-build-fuzz}
shift || true
targets=("$@")
((${#targets[@]})) ||
  targets=(spec coco voc list npy checkpoint image)

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
common=(-timeout=10 -rss_limit_mb=2560 -max_len=65536)
for target in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$target
  log="$build_dir/fuzz-$target.log"
  if [ "$mode" = replay ]; then
    # Files, not the folder: libFuzzer then runs each input once and stops.
    inputs=("$corpus"/*)
    echo "fuzz: $target, replaying ${#inputs[@]} committed inputs"
    status=0
    "$build_dir/bin/fuzz_$target" "${common[@]}" "${inputs[@]}" \
      >"$log" 2>&1 || status=$?
  else
    work="$build_dir/corpus/$target"
    mkdir -p "$work"
    echo "fuzz: $target, searching for ${LABRUN_FUZZ_SECONDS:-300} s"
    status=0
    "$build_dir/bin/fuzz_$target" "${common[@]}" \
      -seed="${LABRUN_FUZZ_SEED:-0}" \
      -max_total_time="${LABRUN_FUZZ_SECONDS:-300}" -print_final_stats=1 \
      -artifact_prefix="$build_dir/crash-$target-" \
      "$work" "$corpus" >"$log" 2>&1 || status=$?
  fi
  if ((status)); then
    tail -n 60 "$log"
    echo "fuzz: $target failed (log: $log)" >&2
    exit 1
  fi
done
echo "fuzz: ${#targets[@]} targets, no failure"
