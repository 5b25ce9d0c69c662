#!/usr/bin/env bash
# Installs what is missing, builds from scratch if needed, and runs the whole
# test suite.
#   tools/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
stage() { echo "test: $1 done after $SECONDS s"; }
tools/setup.sh "$build_dir"
stage build
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)"
stage tests
# Reliability stages (docs/RELIABILITY.md): the sanitizer build of a test
# subset, and every fuzz target replaying its committed corpus (no search:
# the same verdict on any machine). LABRUN_SKIP_RELIABILITY=1 skips them,
# for local runs only (CI always runs them).
if [ "${LABRUN_SKIP_RELIABILITY:-0}" != 1 ]; then
  tools/sanitize.sh "$build_dir-asan"
  stage sanitizers
  tools/fuzz.sh replay "$build_dir-fuzz"
  stage fuzzing
fi
