#!/usr/bin/env bash
# Builds a test subset with AddressSanitizer + UBSan (gcc, LABRUN_SANITIZE)
# into BUILD_DIR and runs it: the spec, store and loader suites and the fuzz
# corpora replays. See docs/RELIABILITY.md.
#   tools/sanitize.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-asan}
suites=(test_spec test_store test_loader)
corpora=(spec coco voc list npy checkpoint image)

# See tools/fuzz.sh for why these are needed (test discovery runs the
# suites at build time already).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_container_overflow=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLABRUN_SANITIZE=ON
cmake --build "$build_dir" --parallel "$(nproc)" --target "${suites[@]}" \
  "${corpora[@]/#/replay_}"

for suite in "${suites[@]}"; do
  echo "sanitize: $suite"
  "$build_dir/bin/$suite" --gtest_brief=1
done
for corpus in "${corpora[@]}"; do
  "$build_dir/bin/replay_$corpus" "tests/fuzz/corpus/$corpus" | tail -n 1 |
    sed "s/^/sanitize: replay_$corpus: /"
done
